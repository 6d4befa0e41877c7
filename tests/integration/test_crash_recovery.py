"""Crash and restart against a real dev server: nothing is lost, nothing is paid twice."""

from __future__ import annotations

import signal
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus

from activities.payments import Ledger
from runtime.devserver import DevServer
from signals.client import claim_handle, signal_and_watch
from signals.messages import HumanAction
from starter import StartStatus, start_claim
from tests.helpers import eventually, state_of, unique_claim, until_step
from tests.integration.conftest import WorkerProcess
from workflows.state import AuditOutcome, OutcomeStatus, Step

pytestmark = pytest.mark.integration

AGENT_LOOP = (Step.INTAKE, Step.ASSESSING, Step.GATHERING_EVIDENCE)


async def test_claim_survives_worker_kill_and_server_restart_then_pays_once(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """SIGKILL the worker while it waits, restart the server from SQLite, approve: one payout.

    The approval is watched until the claim records it, however long the restarted
    worker takes to start: the receipt is about the claim, not about the machine's speed.
    """
    claim = unique_claim("CLM-1002")
    client = await dev_server.start()
    worker = worker_process()
    result = await start_claim(client, claim, "claim-review-it")
    handle = claim_handle(client, claim.claim_id)

    before = await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    dev_server.stop()

    client = await dev_server.start()
    handle = claim_handle(client, claim.claim_id)
    again = await start_claim(client, claim, "claim-review-it")
    worker_process()
    receipt = await signal_and_watch(
        client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"}, acknowledge_timeout=None
    )
    outcome = await handle.result()
    after = await state_of(handle)

    assert (StartStatus.STARTED, StartStatus.ALREADY_UNDER_REVIEW) == (result.status, again.status)
    assert receipt.entry is not None
    assert AuditOutcome.ACCEPTED == receipt.entry.outcome
    assert (OutcomeStatus.COMPLETED, "maria", Decimal("1250.00")) == (
        outcome.status,
        outcome.decided_by,
        outcome.payout_amount,
    )
    assert before.transitions == after.transitions[: len(before.transitions)]
    payouts = Ledger(tmp_path / "ledger.db").payouts_for(claim.claim_id)
    assert [(outcome.payout_id, "1250.00")] == payouts


async def test_paused_claim_keeps_its_deadline_across_a_restart(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """A claim waiting when the server stops is waiting after it starts, with the same deadline."""
    claim = unique_claim("CLM-1003")
    client = await dev_server.start()
    worker = worker_process()
    await start_claim(client, claim, "claim-review-it")
    handle = claim_handle(client, claim.claim_id)
    before = await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    worker.send_signal(signal.SIGTERM)
    worker.wait()
    dev_server.stop()

    client = await dev_server.start()
    worker_process()
    after = await state_of(claim_handle(client, claim.claim_id))

    assert (Step.AWAITING_MANAGER_APPROVAL, before.version, before.pending_actions) == (
        after.current_step,
        after.version,
        after.pending_actions,
    )


async def test_worker_killed_mid_loop_resumes_without_repeating_finished_calls(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """Kill the worker while the model's second turn runs: tools and turn one never rerun."""
    claim = unique_claim("CLM-1002")
    client = await dev_server.start()
    slow_model = {"CLAIMS_OFFLINE_LATENCY_MS": "3000"}
    worker = worker_process(**slow_model)
    await start_claim(client, claim, "claim-review-it")
    handle = claim_handle(client, claim.claim_id)

    mid_loop = await eventually(
        lambda: state_of(handle),
        lambda s: (
            len(s.llm_state.tool_call_history) == 6 and s.transitions[-1].reason == "model turn 2"
        ),
        hopeless=lambda s: s.current_step not in AGENT_LOOP,
    )
    # Kill only once the worker has really picked up the second model turn.
    await eventually(handle.describe, _model_turn_running, hopeless=_closed)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    worker_process(**slow_model)

    # Queries that find no live worker (the killed one held the sticky queue) are retried.
    done = await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)

    completed: Counter[str] = Counter()
    scheduled: dict[int, str] = {}
    turn_two_attempts = 0
    # The assessment is the first run's: the review continued as new at the gate.
    assessed = client.get_workflow_handle(handle.id, run_id=done.runs[0].run_id)
    async for event in assessed.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = (
                event.activity_task_scheduled_event_attributes.activity_type.name
            )
        elif event.HasField("activity_task_completed_event_attributes"):
            done_event = event.activity_task_completed_event_attributes
            completed[scheduled[done_event.scheduled_event_id]] += 1
        elif event.HasField("activity_task_started_event_attributes"):
            started = event.activity_task_started_event_attributes
            if scheduled[started.scheduled_event_id] == "agent_turn":
                turn_two_attempts = max(turn_two_attempts, started.attempt)

    assert (6, 1) == (
        len(mid_loop.llm_state.tool_call_history),
        len(mid_loop.llm_state.reasoning_trace),
    )
    assert (6, 2) == (len(done.llm_state.tool_call_history), len(done.llm_state.reasoning_trace))
    assert 2 == done.llm_state.reasoning_trace[-1].call.attempt
    tools = ["lookup_policy", "check_coverage", "search_claim_history"]
    tools += ["screen_watchlist", "inventory_documents", "check_currency_limit"]
    assert [2, 1, 1, 1, 1, 1, 1] == [completed[name] for name in ["agent_turn", *tools]]
    assert 2 == turn_two_attempts


def _closed(description: WorkflowExecutionDescription) -> bool:
    return description.status is not WorkflowExecutionStatus.RUNNING


def _model_turn_running(description: WorkflowExecutionDescription) -> bool:
    return any(
        activity.activity_type.name == "agent_turn"
        and activity.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        for activity in description.raw_description.pending_activities
    )
