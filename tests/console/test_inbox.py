"""The inbox and the dashboard on a real dev server (list queries need its visibility
store) and worker.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.dashboard import dashboard
from runtime.devserver import DevServer
from signals.client import act
from signals.messages import HumanAction
from tests.console.accessibility import problems
from tests.console.conftest import Clock, ConsoleClient, sign_in
from tests.helpers import eventually, settings_in, start, unique_claim, until_step
from worker import create_worker
from workflows.search_attributes import CLI_TYPES
from workflows.state import Step


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    """A headless dev server persisting to tmp_path; always stopped (killed: its data goes
    with the test), even on failure."""
    server = DevServer.headless(tmp_path / "temporal.db", CLI_TYPES)
    try:
        yield server
    finally:
        server.kill()


async def test_the_inbox_lists_a_claim_waiting_on_my_queue(
    console_client: ConsoleClient, dev_server: DevServer, tmp_path: Path
) -> None:
    """A claim waiting on `approvers` is in sam's inbox with its amount, step, why it needs a
    person and how long it waited; past its deadline it is marked overdue in words.
    """
    client = await dev_server.start()
    settings = settings_in(tmp_path)
    claim = unique_claim("CLM-1002")
    async with create_worker(client, settings):
        handle = await start(client, claim, settings.task_queue)
        state = await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
        wait = state.pending_actions[0]
        clock = Clock()
        clock.at = wait.created_at + timedelta(hours=2, minutes=5)
        async with console_client(client, clock=clock) as http:
            await sign_in(http, "sam", "sam-demo")
            page = (await http.get("/inbox")).text
            clock.at = wait.timeout + timedelta(minutes=1)
            await sign_in(http, "sam", "sam-demo")  # the session ended hours ago
            overdue = (await http.get("/inbox")).text
    row = page[page.index("<tbody>") :]
    assert f'href="/claims/{claim.claim_id}"' in row
    assert "1,250.00" in row
    assert "awaiting_manager_approval" in row
    assert "2 h 5 min" in row
    assert state.context.routing is not None
    assert html.escape(state.context.routing.reasons[0]) in row
    assert 'class="overdue"' not in row
    assert 'class="overdue"' in overdue
    assert "Overdue" in overdue
    assert [] == problems(page)


async def test_the_dashboard_counts_steps_waits_and_who_decided(
    console_client: ConsoleClient, dev_server: DevServer, tmp_path: Path
) -> None:
    """One claim auto-approved, one approved by maria, one waiting: the dashboard counts each
    and draws both charts as SVG with a table for screen readers.
    """
    client = await dev_server.start()
    settings = settings_in(tmp_path)
    auto, decided, waiting = (unique_claim(s) for s in ("CLM-1001", "CLM-1002", "CLM-1002"))
    async with create_worker(client, settings):
        handles = [await start(client, c, settings.task_queue) for c in (auto, decided, waiting)]
        await handles[0].result()
        await until_step(handles[1], Step.AWAITING_MANAGER_APPROVAL)
        await act(client, decided.claim_id, HumanAction.APPROVE, {"approver": "maria"})
        await handles[1].result()
        await until_step(handles[2], Step.AWAITING_MANAGER_APPROVAL)
        board = await eventually(
            lambda: dashboard(client, datetime.now(UTC)),
            lambda b: b.auto_approved + b.human_decided == 2 and b.waiting_on["approvers"] == 1,
        )
        clock = Clock()
        clock.at = datetime.now(UTC)
        async with console_client(client, clock=clock) as http:
            await sign_in(http, "dana", "dana-demo")
            page = (await http.get("/dashboard")).text
    assert (1, 1, 2) == (board.auto_approved, board.human_decided, board.decided_today)
    assert 1 == board.per_step["awaiting_manager_approval"]
    assert board.throughput is not None
    assert 2 == sum(bar.value for bar in board.throughput.bars)
    assert [] == problems(page)
    assert 2 == page.count("<svg")
    assert "Claims decided per day" in page
