"""The reviewer console in a real browser: headless Chromium from the system's packages,
driven by Playwright against a real dev server, worker and console on free ports.

Chromium comes from Debian (`apt-get install chromium`); Playwright is pointed at it and
never downloads a browser. Without it these tests fail with the command to install it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page
from temporalio.client import Client

from console.server import build_console
from runtime.devserver import DevServer
from runtime.ports import free_port
from runtime.settings import EXAMPLES_DIR, PROJECT_ROOT, Settings
from tests.helpers import eventually, settings_in, start, unique_claim, until_step
from worker import create_worker
from workflows.claim import Claim
from workflows.search_attributes import CLI_TYPES
from workflows.state import Step

pytestmark = pytest.mark.integration

# With CLAIMS_UPDATE_SCREENSHOTS=1 the README's screenshots are taken again, into docs/.
SCREENSHOTS = PROJECT_ROOT / "docs" / "console"


@dataclass
class Product:
    client: Client
    settings: Settings
    url: str


@pytest.fixture
async def product(tmp_path: Path) -> AsyncIterator[Product]:
    """Server, worker and console, as `make run` runs them, on free ports."""
    server = DevServer.headless(tmp_path / "temporal.db", CLI_TYPES)
    client = await server.start()
    settings = settings_in(tmp_path)
    port = free_port()
    served = build_console(
        client,
        env={"CLAIMS_CONSOLE_PORT": str(port)},
        data_dir=tmp_path,
        approvers_file=EXAMPLES_DIR / "approvers.toml",
        with_demo_accounts=True,
    )
    serving = asyncio.create_task(served.server.serve())
    try:
        async with create_worker(client, settings):
            await eventually(lambda: _started(served.server), bool, what="the console serving")
            yield Product(client, settings, f"http://127.0.0.1:{port}")
    finally:
        served.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        server.kill()


async def _started(server: Any) -> bool:
    return bool(server.started)


async def waiting(product: Product, sample: str, **changes: object) -> Claim:
    claim = unique_claim(sample, **changes)
    handle = await start(product.client, claim, product.settings.task_queue)
    await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    return claim


async def signed_in(browser: Browser, product: Product, name: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{product.url}/signin")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Password").fill(f"{name}-demo")
    await page.get_by_role("button", name="Sign in").click()
    return page


async def shot(page: Page, name: str, tmp: Path) -> None:
    folder = SCREENSHOTS if os.environ.get("CLAIMS_UPDATE_SCREENSHOTS") == "1" else tmp
    folder.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


async def test_maria_finds_a_claim_in_her_inbox_and_approves_it(
    product: Product, browser: Browser, tmp_path: Path
) -> None:
    """Sign in, the inbox lists the claim, its page approves it, and it is completed."""
    claim = await waiting(product, "CLM-1002")
    page = await signed_in(browser, product, "maria")

    await page.goto(f"{product.url}/inbox")
    await shot(page, "inbox", tmp_path)
    await page.get_by_role("link", name=claim.claim_id).click()
    await shot(page, "claim", tmp_path)
    approve = page.locator("#form-approve")
    await approve.get_by_label("Comment").fill("photos and estimate check out")
    await approve.get_by_role("button", name="Approve").click()
    await page.wait_for_url(f"**/claims/{claim.claim_id}?done=approve*")

    handle = product.client.get_workflow_handle(claim.workflow_id)
    state = await until_step(handle, Step.COMPLETED)
    await page.reload()
    assert "Step completed" in await page.locator("main").inner_text()
    [approval] = [e for e in state.audit_log if e.action == "approve"]
    assert ("maria", True) == (approval.actor, approval.verified_by is not None)


async def test_sam_is_refused_over_his_limit_with_the_claims_reason(
    product: Product, browser: Browser
) -> None:
    """7,800 EUR is over sam's 5,000 limit: the page shows the claim's own refusal."""
    claim = await waiting(product, "CLM-1003")
    page = await signed_in(browser, product, "sam")

    await page.goto(f"{product.url}/claims/{claim.claim_id}")
    await page.locator("#form-approve").get_by_role("button", name="Approve").click()

    assert "exceeds sam's approval limit" in await page.locator("main").inner_text()


async def test_two_people_approve_at_once_and_exactly_one_wins(
    product: Product, browser: Browser
) -> None:
    """maria and lee open the same claim and both approve: one decides, the other is told
    the claim moved on, and it is paid once.
    """
    claim = await waiting(product, "CLM-1002")
    pages = [await signed_in(browser, product, name) for name in ("maria", "lee")]
    for page in pages:
        await page.goto(f"{product.url}/claims/{claim.claim_id}")

    await asyncio.gather(
        *(p.locator("#form-approve").get_by_role("button", name="Approve").click() for p in pages)
    )

    texts = [await p.locator("main").inner_text() for p in pages]
    handle = product.client.get_workflow_handle(claim.workflow_id)
    state = await until_step(handle, Step.COMPLETED)
    approvals = [
        e for e in state.audit_log if e.action == "approve" and e.actor in ("maria", "lee")
    ]
    assert 1 == len([e for e in approvals if e.outcome == "accepted"])
    assert 1 == sum("Done: approve" in t for t in texts)
    assert 1 == sum("moved on since you looked" in t or "already been taken" in t for t in texts)
