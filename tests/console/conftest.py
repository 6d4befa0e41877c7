"""Fixtures of the console tests: settings in a temp dir, the demo directory and accounts,
and an HTTP client that drives the application in this event loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.review_policy import load_review_policy_file
from console.app import create_app
from console.settings import ConsoleSettings
from console.users import ensure_demo_accounts
from runtime.settings import EXAMPLES_DIR
from tests.timeskipping.conftest import (  # noqa: F401 - the time-skipping fixtures, shared
    claims_worker,
    reviewing,
    time_env,
    time_server,
    waiting_claim,
)
from workflows.authority import ReviewPolicy

ConsoleClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


class Clock:
    """The console's clock, moved by the test."""

    def __init__(self) -> None:
        self.at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def policy() -> ReviewPolicy:
    """The demo's approver directory."""
    return load_review_policy_file(EXAMPLES_DIR / "approvers.toml")


@pytest.fixture
def console_settings(tmp_path: Path, policy: ReviewPolicy) -> ConsoleSettings:
    """Console settings in tmp_path, with the demo accounts created (loopback)."""
    settings = ConsoleSettings.from_env({}, tmp_path)
    ensure_demo_accounts(
        settings.users_file, [a.name for a in policy.approvers], loopback=settings.loopback
    )
    return settings


@pytest.fixture
def console_client(
    console_settings: ConsoleSettings, policy: ReviewPolicy
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """An HTTP client on a console app over `client` (any object where Temporal is not used)."""

    @asynccontextmanager
    async def open_client(
        client: Any = None,
        *,
        settings: ConsoleSettings | None = None,
        clock: Clock | None = None,
        directory: ReviewPolicy | None = None,
        base_url: str = "http://testserver",
        **headers: str,
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            settings or console_settings,
            directory or policy,
            client,
            clock or Clock(),
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url=base_url, headers=headers
        ) as http:
            yield http

    return open_client


def form_token(page: str) -> str:
    """The CSRF token a page's form carries."""
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


async def sign_in(http: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    """Sign in through the form, as a browser does: fetch it, post it with its token."""
    page = await http.get("/signin")
    return await http.post(
        "/signin",
        data={"name": name, "password": password, "csrf_token": form_token(page.text)},
    )
