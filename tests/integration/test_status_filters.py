"""`claims status` filters, `claims timeline` and `claims replay` against a real dev server.

The filters are list queries over search attributes; visibility is eventually
consistent, so the test first waits until a plain list query sees both claims where
they are, then runs the CLI as a user would, several commands at once.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from cli.status_query import claims_query, inbox_query, step_shown
from runtime.devserver import DevServer
from signals.client import claim_handle
from starter import start_claim
from tests.helpers import TEMPORAL_CLI, eventually, unique_claim
from tests.integration.conftest import WorkerProcess
from workflows import search_attributes as sa
from workflows.claim import workflow_id_for

pytestmark = pytest.mark.integration

# cli/main.py has no `__main__` block, so `python -m cli.main` would do nothing.
CLAIMS = Path(sys.executable).parent / "claims"


async def listed(client: Client, query: str) -> set[str]:
    return {execution.id async for execution in client.list_workflows(query)}


async def first(client: Client, query: str) -> WorkflowExecution | None:
    async for execution in client.list_workflows(query, limit=1):
        return execution
    return None


# temporalio/sdk-python#300: a short-lived process with a client sometimes aborts during
# interpreter shutdown, after its work and output are complete (about 1 run in 100 here,
# any `claims` command). Not what this test is about, so such a run is run again.
CONNECTION_LINE = re.compile(r"Temporal \S+, namespace \S+")
SHUTDOWN_ABORT = "Fatal Python error: PyGILState_Release"


async def run_once(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    # Every command first names its server on stderr; the rest is what is tested here.
    lines = output.decode().splitlines(keepends=True)
    if lines and CONNECTION_LINE.fullmatch(lines[0].strip()):
        lines = lines[1:]
    return process.returncode, "".join(lines)


async def run(*command: str | Path, env: dict[str, str]) -> tuple[int, str]:
    code, text = await run_once(list(map(str, command)), env)
    for _ in range(2):
        if not (code == -signal.SIGABRT and SHUTDOWN_ABORT in text):
            break
        code, text = await run_once(list(map(str, command)), env)
    return code, text


async def test_status_filters_timeline_and_replay_from_the_command_line(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """--step, --assignee, --running and --overdue pick the right claims; the timeline of
    the waiting claim shows its wait; a history exported by the Temporal CLI replays."""
    client = await dev_server.start()
    worker_process()
    waiting, done = unique_claim("CLM-1002"), unique_claim("CLM-1001")
    await start_claim(client, waiting, "claim-review-it")
    await start_claim(client, done, "claim-review-it")
    await claim_handle(client, done.claim_id).result()
    waiting_id, done_id = workflow_id_for(waiting.claim_id), workflow_id_for(done.claim_id)
    await eventually(
        lambda: listed(client, claims_query(step="awaiting_manager_approval")),
        lambda ids: waiting_id in ids,
        interval=0.2,
    )
    await eventually(
        lambda: listed(client, claims_query(step="completed")),
        lambda ids: done_id in ids,
        interval=0.2,
    )
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_server.address,
        "TEMPORAL_NAMESPACE": "default",
        "COLUMNS": "250",
    }
    exported = tmp_path / "done.json"
    exported.write_text(
        (
            await run(
                TEMPORAL_CLI,
                *("workflow", "show", "--workflow-id", done_id, "--output", "json"),
                *("--address", dev_server.address),
                env=env,
            )
        )[1]
    )

    (
        by_step,
        by_assignee,
        running,
        overdue,
        every,
        bad_step,
        timeline,
        replayed,
    ) = await asyncio.gather(
        run(CLAIMS, "status", "--step", "awaiting_manager_approval", env=env),
        run(CLAIMS, "status", "--assignee", "approvers", env=env),
        run(CLAIMS, "status", "--running", env=env),
        run(CLAIMS, "status", "--overdue", env=env),
        run(CLAIMS, "status", "--all", env=env),
        run(CLAIMS, "status", "--step", "waiting", env=env),
        run(CLAIMS, "timeline", waiting.claim_id, env=env),
        run(CLAIMS, "replay", exported, env=env),
    )
    in_four_days = claims_query(overdue=True, now=datetime.now(UTC) + timedelta(days=4))

    def shows(result: tuple[int, str]) -> tuple[int, bool, bool]:
        code, output = result
        return code, waiting.claim_id in output, done.claim_id in output

    assert (0, True, False) == shows(by_step), by_step[1]
    assert (0, True, False) == shows(by_assignee), by_assignee[1]
    assert (0, True, False) == shows(running), running[1]
    assert (0, "No claims overdue.") == (overdue[0], overdue[1].strip()), overdue[1]
    assert (0, True, True) == shows(every), every[1]
    assert (1, "error: unknown step 'waiting'") == (
        bad_step[0],
        bad_step[1].split(";")[0],
    ), bad_step[1]
    assert {waiting_id} == await listed(client, in_four_days)
    assert 0 == timeline[0], timeline[1]
    assert "step -> awaiting_manager_approval; waiting on approvers" in timeline[1]
    assert "approval reminder: set for 1d 00:00" in timeline[1]
    assert (0, f"OK    {exported}") == (replayed[0], replayed[1].split(" (")[0]), replayed[1]


async def test_a_claim_terminated_while_waiting_is_not_listed_as_waiting(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """Terminate (the Temporal UI's button) ends a claim with no workflow code, so its
    search attributes still say awaiting_manager_approval: the waiting, assignee, overdue
    and inbox queries leave it out, and the full list shows how it ended."""
    client = await dev_server.start()
    worker_process()
    stopped, waiting = unique_claim("CLM-1002"), unique_claim("CLM-1002")
    for claim in (stopped, waiting):
        await start_claim(client, claim, "claim-review-it")
    stopped_id, waiting_id = workflow_id_for(stopped.claim_id), workflow_id_for(waiting.claim_id)
    both = {stopped_id, waiting_id}
    await eventually(
        lambda: listed(client, claims_query(step="awaiting_manager_approval")),
        lambda ids: both <= ids,
        interval=0.2,
    )

    await claim_handle(client, stopped.claim_id).terminate("stopped by hand")
    closed = await eventually(
        lambda: first(
            client,
            f"WorkflowId = '{stopped_id}' AND ExecutionStatus = 'Terminated' "
            f"AND {sa.CLAIM_STEP.name} = 'awaiting_manager_approval'",
        ),
        lambda execution: execution is not None,
        interval=0.2,
    )
    in_four_days = datetime.now(UTC) + timedelta(days=4)

    assert closed is not None
    assert {waiting_id} == both & await listed(
        client, claims_query(step="awaiting_manager_approval")
    )
    assert {waiting_id} == both & await listed(client, claims_query(assignee="approvers"))
    assert {waiting_id} == both & await listed(client, claims_query(overdue=True, now=in_four_days))
    assert {waiting_id} == both & await listed(client, inbox_query(["maria", "approvers"]))
    assert both == both & await listed(client, claims_query())
    assert (WorkflowExecutionStatus.TERMINATED, "awaiting_manager_approval (terminated)") == (
        closed.status,
        step_shown(closed.typed_search_attributes.get(sa.CLAIM_STEP) or "", closed.status),
    )
