"""Attacks on a hardened review, on a real dev server: cancellations mid-activity, forged
runs, growth.

Each test does what an outsider who can reach Temporal, or a careless operator, could do,
and checks that money moves only as it must, the claim is never wedged, and nothing grows
without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.worker import Worker

from activities.payments import Ledger
from history.decoding import decode_history
from runtime.devserver import DevServer
from runtime.settings import EXAMPLES_DIR, Settings
from tests.helpers import (
    Handle,
    answered,
    eventually,
    settings_in,
    start,
    state_of,
    unique_claim,
    until_step,
)
from worker import build_activities, create_worker
from workflows import search_attributes as sa
from workflows.authority import Approver, ReviewPolicy, Role
from workflows.claim import Claim
from workflows.claim_review import TEMPORAL_CANCELLATION, ClaimReviewWorkflow
from workflows.continuation import CarriedReview
from workflows.state import (
    AuditOutcome,
    ClaimState,
    OutcomeStatus,
    PendingAction,
    PendingActionType,
    ProposedActions,
    Step,
)

pytestmark = pytest.mark.integration


class Gate:
    """One activity held at its first call until the test opens the gate; later calls pass."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.calls = 0

    async def __call__(self, *args: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.entered.set()
            await self.opened.wait()
        return await self.real(*args)


def gated(real: Callable[..., Any], gate: Gate, name: str) -> Callable[..., Any]:
    """`real` under its activity name, held by `gate`."""

    # Same signature as the real one, so payloads still arrive as their models.
    @functools.wraps(real, updated=())
    async def held(*args: Any) -> Any:
        return await gate(*args)

    return activity.defn(name=name)(held)


@pytest.fixture
async def dev_client(dev_server: DevServer) -> Client:
    """A client of a real dev server (the embedded one, with its payload limits), for what
    the time-skipping server does not model: activity cancellation, history sizes."""
    return await dev_server.start()


@asynccontextmanager
async def worker_with_gate(
    client: Client, tmp_path: Path, activity_name: str, **env: str
) -> AsyncIterator[tuple[Worker, Settings, Gate]]:
    """The real worker with one activity held at its first call."""
    settings = settings_in(tmp_path, **env)
    activities = build_activities(settings)
    [real] = [a for a in activities if a.__name__ == activity_name]
    gate = Gate(real)
    activities = [gated(real, gate, activity_name) if a is real else a for a in activities]
    worker = create_worker(client, settings, activities=activities)
    try:
        async with worker:
            yield worker, settings, gate
    finally:
        gate.opened.set()


async def cancel_while_held(handle: Handle, gate: Gate) -> None:
    """Request cancellation; let the held activity go once the workflow has cancelled it."""
    await handle.cancel()

    async def cancel_requested() -> bool:
        history = await handle.fetch_history()
        return any(
            e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED
            for e in history.events
        )

    await eventually(cancel_requested, bool, what="the held activity's cancellation")
    gate.opened.set()


async def cancelled_in_activity(handle: Handle, gate: Gate) -> ClaimState:
    """Cancel the review once it is in the gated activity; its state when it has ended."""
    await gate.entered.wait()
    await cancel_while_held(handle, gate)
    with contextlib.suppress(WorkflowFailureError):
        await handle.result()
    return await state_of(handle)


def cancels(state: ClaimState) -> list[tuple[str, AuditOutcome]]:
    return [(e.actor, e.outcome) for e in state.audit_log if e.action == "cancel"]


# -- Temporal cancellation while an activity of the review itself is in flight -------------


async def test_a_temporal_cancellation_while_the_policy_loads_stops_the_review(
    dev_client: Client, tmp_path: Path
) -> None:
    """Cancelled while the review policy is being read: nothing is paid, the cancel is audited.

    The cancelled activity comes back as an ActivityError, which the policy wait takes
    for a bad approvers file ("Cancelled"); the claim reads the policy again and pays.
    """
    claim = unique_claim("CLM-1001")
    async with worker_with_gate(dev_client, tmp_path, "load_review_policy") as (_, settings, gate):
        handle = await start(dev_client, claim, settings.task_queue)
        await gate.entered.wait()
        await cancel_while_held(handle, gate)
        final = await eventually(lambda: state_of(handle), lambda s: s.current_step.is_final)
        payouts = Ledger(settings.ledger_db).payouts_for(claim.claim_id)

    assert [] == payouts
    assert Step.CANCELLED is final.current_step
    assert [(TEMPORAL_CANCELLATION, AuditOutcome.ACCEPTED)] == cancels(final)


def policy_file(tmp_path: Path, **changes: str) -> Path:
    """The example approvers file with some top-level settings replaced."""
    lines = (EXAMPLES_DIR / "approvers.toml").read_text().splitlines()
    for key, value in changes.items():
        lines = [line for line in lines if not line.startswith(f"{key} =")]
        lines.insert(0, f"{key} = {value}")
    path = tmp_path / "approvers.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_a_temporal_cancellation_while_the_claim_registers_is_an_audited_cancel(
    dev_client: Client, tmp_path: Path
) -> None:
    """Cancelled while the claim is put in the claim history: step cancelled, audited.

    The cancelled activity raises ActivityError, not asyncio.CancelledError, so the
    review's cancellation handler never runs and the claim ends as Temporal left it.
    """
    claim = unique_claim("CLM-1002")
    async with worker_with_gate(dev_client, tmp_path, "register_reviewed_claim") as (
        _,
        settings,
        gate,
    ):
        handle = await start(dev_client, claim, settings.task_queue)
        final = await cancelled_in_activity(handle, gate)

    assert Step.CANCELLED is final.current_step
    assert [(TEMPORAL_CANCELLATION, AuditOutcome.ACCEPTED)] == cancels(final)


async def test_a_temporal_cancellation_while_a_reminder_is_sent_is_an_audited_cancel(
    dev_client: Client, tmp_path: Path
) -> None:
    """Cancelled while the approvers are being reminded: the claim does not stay "waiting".

    Its search attributes would keep saying awaiting_manager_approval, with no audit line.
    """
    policy = policy_file(tmp_path, reminder_hours="[0.0005]")
    claim = unique_claim("CLM-1002")
    async with worker_with_gate(
        dev_client, tmp_path, "send_notice", CLAIMS_APPROVERS_FILE=str(policy)
    ) as (_, settings, gate):
        handle = await start(dev_client, claim, settings.task_queue)
        final = await cancelled_in_activity(handle, gate)
        description = await handle.describe()

    step = description.typed_search_attributes.get(sa.CLAIM_STEP)
    assert (Step.CANCELLED, str(Step.CANCELLED)) == (final.current_step, step)
    assert [(TEMPORAL_CANCELLATION, AuditOutcome.ACCEPTED)] == cancels(final)


# -- a forged "continued" run ---------------------------------------------------------------


async def run_started(run: WorkflowHandle[Any, Any]) -> bool:
    """The run has ended, or has run its first workflow task (its state shows a step)."""
    if (await run.describe()).status is not WorkflowExecutionStatus.RUNNING:
        return True
    raw: dict[str, Any] | None = await answered(lambda: run.query("state", result_type=dict))
    return raw is not None and raw["version"] > 1


async def run_settled(run: WorkflowHandle[Any, Any]) -> bool:
    """The run has ended, or has recorded what it did with an approval."""
    if (await run.describe()).status is not WorkflowExecutionStatus.RUNNING:
        return True
    raw: dict[str, Any] | None = await answered(lambda: run.query("state", result_type=dict))
    return raw is not None and any(e["action"] == "approve" for e in raw["audit_log"])


def forged_review(claim: Claim, at: datetime) -> CarriedReview:
    """A carried review nobody reviewed: a big payout to another payee, a made-up approver."""
    state = ClaimState.begin(claim, workflow_id=claim.workflow_id, at=at, history_length=1)
    state.current_step = Step.AWAITING_MANAGER_APPROVAL
    state.pending_actions = [
        PendingAction(
            type=PendingActionType.WAIT_FOR_APPROVAL,
            timeout=at + timedelta(days=30),
            created_at=at,
            trigger="signal or update: approve",
            assignee="approvers",
        )
    ]
    state.context.proposal = ProposedActions(
        payout_amount=Decimal("99999.00"),
        currency=claim.currency,
        payee_id="MALLORY-ACCOUNT",
        customer_message="approved",
    )
    policy = ReviewPolicy(
        approvers=[Approver(name="mallory", role=Role.DIRECTOR, approval_limit=Decimal(10**6))],
        four_eyes_above=Decimal(10**6),
    )
    return CarriedReview(state=state, policy=policy, escalation_level=0)


async def first_run_failure(client: Client, claim: Claim, args: list[Any], queue: str) -> str:
    """Start a scheduled review with `args`; the reason its first run failed."""
    handle = await client.start_workflow(
        "ClaimReviewWorkflow",
        args=args,
        id=claim.workflow_id,
        task_queue=queue,
        cron_schedule="@every 2s",
    )
    run = client.get_workflow_handle(handle.id, run_id=handle.result_run_id)

    async def failure() -> str | None:
        # A failed cron run closes by continuing as new, with its failure on that event.
        history = await decode_history(await run.fetch_history(), client.data_converter)
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                return event.workflow_execution_continued_as_new_event_attributes.failure.message
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
                return event.workflow_execution_failed_event_attributes.failure.message
        return None

    try:
        message = await eventually(failure, bool, what="the first run's failure")
        return message or ""
    finally:
        await client.get_workflow_handle(handle.id).terminate("test over")


async def test_a_scheduled_review_with_a_forged_second_input_never_runs(
    dev_client: Client, tmp_path: Path
) -> None:
    """Cron runs repeat the start's input and carry a `continued_run_id`: no run takes it.

    A forged carried review cannot name the run it continues (run ids are made when a run
    starts), and a review with a cron schedule fails at once, whatever its input, so no
    later run of the schedule can be talked into the forged state either.
    """
    claim = unique_claim("CLM-1001")
    forged = forged_review(claim, datetime.now(UTC))
    async with worker_with_gate(dev_client, tmp_path, "load_review_policy") as (_, settings, gate):
        gate.opened.set()
        two_inputs = await first_run_failure(
            dev_client, claim, [claim, forged], settings.task_queue
        )
        scheduled = await first_run_failure(dev_client, claim, [claim], settings.task_queue)
        payouts = Ledger(settings.ledger_db).payouts_for(claim.claim_id)

    assert "only taken from the review's own continue-as-new" in two_inputs
    assert "started with a cron schedule; a review runs once" in scheduled
    assert [] == payouts


# -- growth through accepted actions ----------------------------------------------------------


async def payloads_too_large(handle: WorkflowHandle[Any, Any]) -> bool:
    """A workflow task of the claim's current run failed: its output was over the limit."""
    history = await handle.fetch_history()
    return any(
        e.workflow_task_failed_event_attributes.cause
        == WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
    )


async def test_reassigning_a_claim_hundreds_of_times_never_fails_its_workflow_tasks(
    dev_client: Client, tmp_path: Path
) -> None:
    """600 reassignments with a 1,000-character reason: bounded, carried, still decidable.

    Operator actions are counted (50 at most) and stored reasons are short, so the state a
    continued run carries stays far below the server's payload limit: no workflow task
    fails with PayloadsTooLarge, and the claim is approved and paid once.
    """
    policy = policy_file(tmp_path, history_budget_events="400")
    claim = unique_claim("CLM-1002")
    async with worker_with_gate(
        dev_client, tmp_path, "load_review_policy", CLAIMS_APPROVERS_FILE=str(policy)
    ) as (_, settings, gate):
        gate.opened.set()
        handle = await start(dev_client, claim, settings.task_queue)
        await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
        latest = dev_client.get_workflow_handle_for(ClaimReviewWorkflow.run, claim.workflow_id)
        reason = "handed over " + "r" * 988
        for _ in range(600):
            await latest.signal(
                "reassign", {"operator": "maria", "assignee": "lee", "reason": reason}
            )

        def handled(state: ClaimState) -> int:
            listed = sum(1 for e in state.audit_log if e.action == "reassign")
            return listed + state.refusals_not_listed

        flooded = await eventually(
            lambda: latest.query(ClaimReviewWorkflow.state),
            lambda s: handled(s) >= 600 and len(s.runs) > 1,
            what="600 reassignments handled, in a continued run",
        )
        too_large = await payloads_too_large(latest)
        await latest.signal(ClaimReviewWorkflow.approve, {"approver": "lee"})
        outcome = await latest.result()
        payouts = Ledger(settings.ledger_db).payouts_for(claim.claim_id)

    accepted = [
        e
        for e in flooded.audit_log
        if e.action == "reassign" and e.outcome is AuditOutcome.ACCEPTED
    ]
    assert 50 == len(accepted)
    assert not too_large
    assert len(flooded.model_dump_json()) < 256 * 1024
    assert (OutcomeStatus.COMPLETED, 1) == (outcome.status, len(payouts))
