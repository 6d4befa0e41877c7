"""The sweeps' schedules on a real dev server, through `claims schedules`."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.worker import Worker
from typer.testing import CliRunner, Result

from activities.payments import Ledger
from activities.records import SystemOfRecord
from activities.sweep_activities import SweepActivities
from cli.schedules_command import schedules_app
from cli.status_query import inbox_query, rescreen_query
from runtime.devserver import DevServer
from runtime.schedules import SCHEDULES
from runtime.settings import EXAMPLES_DIR
from signals.client import claim_handle
from starter import start_claim
from tests.helpers import eventually, unique_claim, until_step
from tests.integration.conftest import WorkerProcess
from tests.keys import encrypted_test_converter
from workflows.state import Step
from workflows.sweeps import SWEEP_WORKFLOWS, RescreenResult, WaitingWorkRequest


async def claims_schedules(*args: str) -> Result:
    """`claims schedules ...` in a thread of its own (the command runs its own event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, schedules_app, list(args))


async def paused(client: Client, schedule_id: str) -> bool:
    return (await client.get_schedule_handle(schedule_id).describe()).schedule.state.paused


async def test_schedules_apply_list_pause_unpause_and_trigger(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applying twice leaves the same three schedules; a pause outlives a re-apply; list
    shows each; unpause and trigger work, and a triggered re-screen run completes.
    """
    queue = f"sweeps-{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "approvers.toml"
    directory.write_text((EXAMPLES_DIR / "approvers.toml").read_text())
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server.address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    monkeypatch.setenv("CLAIMS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CLAIMS_TASK_QUEUE", queue)
    client = await dev_server.start(data_converter=encrypted_test_converter())
    ids = sorted(s.schedule_id for s in SCHEDULES)

    applied = await claims_schedules("apply")
    paused_now = await claims_schedules("pause", "watchlist-rescreen", "--note", "testing")
    reapplied = await claims_schedules("apply")
    still_paused = await paused(client, "claims-watchlist-rescreen")
    listed = await claims_schedules("list")
    on_server = await eventually(
        lambda: _schedule_ids(client), lambda found: found == ids, what="three schedules listed"
    )
    unpaused = await claims_schedules("unpause", "claims-watchlist-rescreen")
    sweeps = SweepActivities(
        client,
        approvers_file=directory,
        records=SystemOfRecord.open(tmp_path / "records.db", seed=EXAMPLES_DIR / "records.json"),
        ledger=Ledger(tmp_path / "ledger.db"),
        inbox_query=inbox_query,
        waiting_query=rescreen_query(),
    )
    async with Worker(
        client,
        task_queue=queue,
        workflows=SWEEP_WORKFLOWS,
        activities=[sweeps.find_new_watchlist_matches],
    ):
        triggered = await claims_schedules("trigger", "watchlist-rescreen")
        result = await _first_run_result(client, "claims-watchlist-rescreen")

    assert [0, 0, 0, 0, 0] == [
        r.exit_code for r in (applied, paused_now, reapplied, listed, unpaused)
    ]
    assert [f"created {i}" for i in ids] == sorted(applied.stdout.split("\n")[:-1])
    assert [f"updated {i}" for i in ids] == sorted(reapplied.stdout.split("\n")[:-1])
    assert still_paused
    assert all(i in listed.stdout for i in ids)
    assert ids == on_server
    assert not await paused(client, "claims-watchlist-rescreen")
    assert 0 == triggered.exit_code
    assert RescreenResult(screened=0) == result


async def test_a_schedule_name_that_is_not_one_is_refused_with_the_names(
    dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong name, and one that does not exist yet on the server, each say what to do."""
    await dev_server.start()
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_server.address)
    wrong = await claims_schedules("pause", "nightly\x1b[2J")
    missing = await claims_schedules("trigger", "sla-digest")

    assert 1 == wrong.exit_code
    assert "use one of: sla-digest, watchlist-rescreen, payout-reconciliation" in wrong.output
    assert 1 == missing.exit_code
    assert "claims schedules apply" in missing.output


async def _schedule_ids(client: Client) -> list[str]:
    return sorted([s.id async for s in await client.list_schedules()])


async def _first_run_result(client: Client, schedule_id: str) -> RescreenResult:
    handle = client.get_schedule_handle(schedule_id)
    description = await eventually(
        handle.describe, lambda d: bool(d.info.recent_actions), what="a triggered run"
    )
    action = description.info.recent_actions[0].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    run = client.get_workflow_handle(action.workflow_id, result_type=RescreenResult)
    result: RescreenResult = await run.result()
    return result


async def test_the_digest_reads_each_persons_inbox_and_pages_no_sweep(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """The digest's real list query: a claim waiting on the approvers' queue is in each
    approver's digest; the re-screen's own directory entry gets no digest."""
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, "claim-review-it")
    await until_step(claim_handle(client, claim.claim_id), Step.AWAITING_MANAGER_APPROVAL)
    sweeps = SweepActivities(
        client,
        approvers_file=EXAMPLES_DIR / "approvers.toml",
        records=SystemOfRecord.open(tmp_path / "records.db", seed=EXAMPLES_DIR / "records.json"),
        ledger=Ledger(tmp_path / "ledger.db"),
        inbox_query=inbox_query,
        waiting_query=rescreen_query(),
    )

    async def digests() -> dict[str, list[str]]:
        work = await sweeps.list_waiting_work(WaitingWorkRequest(now=datetime.now(UTC)))
        return {d.approver: [line.claim_id for line in d.waiting] for d in work.digests}

    found = await eventually(
        digests, lambda d: all(d[name] == [claim.claim_id] for name in ("maria", "sam"))
    )

    assert {"maria", "sam", "lee", "dana"} == set(found)
