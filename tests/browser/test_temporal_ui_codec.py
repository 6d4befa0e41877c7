"""Temporal's own web UI shows a claim only through the console's codec server.

A real dev server with its web UI, pointed at the console's codec endpoint (or at a
wrong one, or at none), the console served on a free port, and Debian's Chromium reading
the workflow page: the claimant's name appears with the right token, nowhere otherwise,
and never in the server's database.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Response
from temporalio.client import Client

from console.codec_server import load_or_create_codec_token, ui_codec_endpoint
from console.server import build_console
from console.settings import ConsoleSettings
from runtime.devserver import DevServer
from runtime.ports import free_port
from runtime.settings import EXAMPLES_DIR
from tests.helpers import TEMPORAL_CLI, eventually, start, unique_claim
from tests.keys import encrypted_test_converter
from workflows.claim import Claim
from workflows.search_attributes import CLI_TYPES

pytestmark = pytest.mark.integration

CLAIMANT = "Philippa Quarterfield-Oyelaran"
# No worker polls it: the input is in the history as soon as the claim starts.
TASK_QUEUE = "nobody-polls-this-queue"


@dataclass
class TemporalUI:
    client: Client
    server: DevServer
    url: str
    console: ConsoleSettings


Launch = Callable[[str], Awaitable[TemporalUI]]


@pytest.fixture
async def temporal_ui(tmp_path: Path) -> AsyncIterator[Launch]:
    """Starts the dev server's UI with the console's codec endpoint ("token"), a wrong
    token in it ("wrong token"), or none ("none"); the console serves beside it.
    """
    stack = contextlib.AsyncExitStack()

    async def launch(codec: str) -> TemporalUI:
        console_port, ui_port = free_port(), free_port()
        env = {
            "CLAIMS_CONSOLE_PORT": str(console_port),
            "CLAIMS_UI_PORT": str(ui_port),
            # No accounts to make: the UI's requests carry the token, never a person.
            "CLAIMS_CONSOLE_AUTH": "header:X-Remote-User",
        }
        settings = ConsoleSettings.from_env(env, tmp_path)
        assert settings.codec_token_file is not None
        token = load_or_create_codec_token(settings.codec_token_file)
        endpoints = {
            "token": ui_codec_endpoint(settings, token),
            "wrong token": ui_codec_endpoint(settings, "not-the-token"),
            "none": None,
        }
        server = DevServer(
            db_file=tmp_path / "temporal.db",
            port=free_port(),
            ui_port=ui_port,
            ui_codec_endpoint=endpoints[codec],
            search_attributes=CLI_TYPES,
        )
        client = await server.start(data_converter=encrypted_test_converter())
        stack.callback(server.stop)
        served = build_console(
            client,
            env=env,
            data_dir=tmp_path,
            approvers_file=EXAMPLES_DIR / "approvers.toml",
            with_demo_accounts=False,
        )
        serving = asyncio.create_task(served.server.serve())

        async def stop_console() -> None:
            served.server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await serving

        stack.push_async_callback(stop_console)
        await eventually(lambda: _started(served.server), bool, what="the console serving")
        assert server.ui_url is not None
        return TemporalUI(client, server, server.ui_url, settings)

    async with stack:
        yield launch


async def _started(server: object) -> bool:
    return bool(getattr(server, "started", False))


async def started_claim(ui: TemporalUI) -> Claim:
    claim = unique_claim(
        "CLM-1002", claimant={"id": "CUS-1042", "name": CLAIMANT, "email": "pq@example.com"}
    )
    await start(ui.client, claim, TASK_QUEUE)
    return claim


async def ciphertext_shown_for(ui: TemporalUI, claim: Claim) -> str:
    """The start of the claim's input as the server stores it, as the UI prints raw bytes."""
    handle = ui.client.get_workflow_handle(claim.workflow_id)
    history = await handle.fetch_history()
    [payload] = history.events[0].workflow_execution_started_event_attributes.input.payloads
    assert b"binary/encrypted" == payload.metadata["encoding"]
    return base64.b64encode(payload.data[:12]).decode()


def stored_bytes(db_file: Path) -> bytes:
    """Everything the server has written: its database and the write-ahead log beside it."""
    files = [db_file, db_file.with_name(db_file.name + "-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


async def test_the_ui_shows_the_claim_decoded_through_the_console(
    temporal_ui: Launch, browser: Browser
) -> None:
    """With the console's endpoint the Input section shows the claimant; the database holds
    only ciphertext.
    """
    ui = await temporal_ui("token")
    claim = await started_claim(ui)

    answers: list[int] = []
    page = await (await browser.new_context()).new_page()
    page.on("response", lambda r: answers.append(r.status) if "/codec/" in r.url else None)
    await page.goto(f"{ui.url}/namespaces/default/workflows/{claim.workflow_id}")

    async def shown() -> tuple[bool, list[int]]:
        text = await page.locator("body").inner_text()
        return CLAIMANT in text, list(answers)

    # Waits for the page, not a clock; if it is stopped, the codec's answers are reported.
    await eventually(shown, lambda seen: seen[0], what="the claimant on the UI's page")

    stored = stored_bytes(ui.server.db_file)
    assert claim.workflow_id.encode() in stored  # the right files, readable
    assert b"binary/encrypted" in stored
    assert CLAIMANT.encode() not in stored
    assert claim.description.encode() not in stored


@pytest.mark.parametrize("codec", ["wrong token", "none"])
async def test_without_the_token_the_ui_shows_only_ciphertext(
    temporal_ui: Launch, browser: Browser, codec: str
) -> None:
    """A wrong token is refused by the console, and without an endpoint nothing is decoded:
    the Input section shows the stored bytes, never the claimant.
    """
    ui = await temporal_ui(codec)
    claim = await started_claim(ui)
    ciphertext = await ciphertext_shown_for(ui, claim)
    answers: list[int] = []

    def record(response: Response) -> None:
        if "/codec/" in response.url and response.request.method == "POST":
            answers.append(response.status)

    page = await (await browser.new_context()).new_page()
    page.on("response", record)
    await page.goto(f"{ui.url}/namespaces/default/workflows/{claim.workflow_id}")
    inputs = page.get_by_test_id("input-and-result")
    await inputs.get_by_text(ciphertext).wait_for(timeout=0)

    assert CLAIMANT not in await page.locator("body").inner_text()
    expected = [401] if codec == "wrong token" else []
    assert expected == sorted(set(answers))


async def test_the_temporal_cli_decodes_with_the_bearer_token(temporal_ui: Launch) -> None:
    """`temporal workflow show --codec-endpoint ... --codec-auth "Bearer <token>"` prints the
    claimant; without the codec it prints ciphertext only.
    """
    ui = await temporal_ui("token")
    claim = await started_claim(ui)
    assert ui.console.codec_token_file is not None
    token = load_or_create_codec_token(ui.console.codec_token_file)

    async def show(*codec: str) -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            str(TEMPORAL_CLI),
            "workflow",
            "show",
            "--address",
            ui.server.address,
            "--workflow-id",
            claim.workflow_id,
            "--output",
            "json",
            *codec,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await process.communicate()
        return process.returncode or 0, out.decode(errors="replace")

    endpoint = f"http://127.0.0.1:{ui.console.port}/codec"
    code, shown = await show("--codec-endpoint", endpoint, "--codec-auth", f"Bearer {token}")
    assert (0, True) == (code, CLAIMANT in first_input(shown))
    code, shown = await show()
    assert (0, False) == (code, CLAIMANT in first_input(shown))
    assert base64.b64encode(b"binary/encrypted").decode() in shown


def first_input(shown: str) -> str:
    """The claim as `temporal workflow show --output json` prints it: base64 in its data."""
    with contextlib.suppress(ValueError, KeyError, IndexError):
        event = json.loads(shown)["events"][0]
        [payload] = event["workflowExecutionStartedEventAttributes"]["input"]["payloads"]
        return base64.b64decode(payload["data"]).decode(errors="replace")
    return ""
