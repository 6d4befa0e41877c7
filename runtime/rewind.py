"""Look back and go back: the state at any version, rollback by reset, what-if forks.

Every transition records the history length of the workflow task that made it, so a
version names a point in the history of the run that made it (a long review continues
as new, and `runtime.runs` finds the run). Replaying that run's history up to that point
rebuilds the state as it was; resetting that run to it makes the agent run again from
there.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from temporalio import workflow
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyExcludeType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHistory
from temporalio.common import WorkflowIDReusePolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from runtime.errors import UserFacingError
from runtime.runs import describe_run, fetch_run_history, run_holding
from signals.client import claim_handle
from workflows.authority import ReviewPolicy
from workflows.claim_review import ClaimReviewWorkflow, ClaimWhatIfWorkflow
from workflows.options import ReviewOptions, WhatIfRequest
from workflows.state import ClaimOutcome, ClaimState, RunRecord, Transition

PAYOUT_ACTIVITY = "issue_payout"
# A reset's reason is shown in the Temporal UI beside the run: a line, not an essay.
REASON_LIMIT = 500

# Events a workflow task writes right after it completes. An update the task accepted is
# among them (the update arrives with the task, not as an event before it), so a replay
# that is to see the whole task needs them.
_COMMAND_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
        EventType.EVENT_TYPE_TIMER_STARTED,
        EventType.EVENT_TYPE_TIMER_CANCELED,
        EventType.EVENT_TYPE_MARKER_RECORDED,
        EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
        EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
    }
)


class RewindError(UserFacingError):
    """A version that does not exist, or a rollback that would repeat a payout."""


@dataclass(frozen=True)
class PointInHistory:
    transition: Transition
    workflow_task_started: int
    workflow_task_completed: int | None


class _CaptureInstance(Interceptor):
    """Keeps a reference to the replayed workflow object, to read its state afterwards."""

    def __init__(self) -> None:
        self.instances: list[Any] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        instances = self.instances

        class Capture(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                instances.append(workflow.instance())
                return await super().execute_workflow(input)

        return Capture


def transition_of(state: ClaimState, version: int) -> Transition:
    """The transition that made `version`, or a refusal naming the versions there are."""
    transition = next((t for t in state.transitions if t.version == version), None)
    if transition is None:
        raise RewindError(
            f"{state.workflow_id} has no version {version}; its versions are 1 to "
            f"{state.version} (see `claims show`)"
        )
    return transition


def locate(
    state: ClaimState, events: list[HistoryEvent], version: int, run: RunRecord | None = None
) -> PointInHistory:
    """Where version `version` sits in `events`, the history of `run`, which holds it.

    The transition names the workflow task that made it; if that event is not a
    workflow task's start, the history is not the one that made the version, and
    nothing is replayed or reset on a guess.
    """
    transition = transition_of(state, version)
    started = next((e for e in events if e.event_id == transition.history_length), None)
    if started is None or started.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
        found = (
            f"is {EventType.Name(started.event_type).removeprefix('EVENT_TYPE_')}"
            if started is not None
            else f"does not exist ({len(events)} events)"
        )
        raise RewindError(
            f"version {version} of {state.workflow_id} was made by the workflow task started "
            f"at event {transition.history_length} of {describe_run(state, run)}, but that "
            f"event {found}: the claim's run records do not match its histories, so it "
            "cannot be replayed or reset there"
        )
    completed = next(
        (
            e.event_id
            for e in events
            if e.event_id > transition.history_length
            and e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        ),
        None,
    )
    return PointInHistory(transition, transition.history_length, completed)


@dataclass(frozen=True)
class VersionInRun:
    """A version, the run that holds it and that run's history.

    `run` is None for a state that names no runs: the run is then its latest.
    """

    version: int
    run_id: str
    run: RunRecord | None
    history: WorkflowHistory
    point: PointInHistory


async def find_version(
    client: Client, state: ClaimState, version: int, latest_run_id: str
) -> VersionInRun:
    """The run holding `version`, its history, and where in it the version was made.

    `state` is the state of run `latest_run_id`, the claim's latest: the run carrying the
    state is the one its last run record stands for, whatever run id that record holds.
    """
    transition_of(state, version)
    run = run_holding(state, version)
    if run is None or run is state.runs[-1]:
        run_id = latest_run_id
        run = None if run is None else run.model_copy(update={"run_id": latest_run_id})
    else:
        run_id = run.run_id
    history = await fetch_run_history(
        client,
        state.workflow_id,
        run_id,
        f"{describe_run(state, run)}, which holds version {version}",
    )
    events = list(history.events)
    return VersionInRun(version, run_id, run, history, locate(state, events, version, run))


def through_task(events: list[HistoryEvent], point: PointInHistory) -> list[HistoryEvent]:
    """The history up to the end of the workflow task at `point`, with what it recorded.

    Cutting at the task's start would leave out the updates it handled: their events
    follow the task's completion, and a replay without them never sees the update.
    """
    if point.workflow_task_completed is None:
        return [e for e in events if e.event_id <= point.workflow_task_started]
    end = point.workflow_task_completed
    for event in events:
        if event.event_id > end:
            if event.event_type not in _COMMAND_EVENTS:
                break
            end = event.event_id
    return [e for e in events if e.event_id <= end]


async def latest_state(client: Client, claim_id: str) -> tuple[ClaimState, str]:
    """The claim's state and the id of the run it came from, its latest."""
    handle = claim_handle(client, claim_id)
    latest = (await handle.describe()).run_id
    pinned = client.get_workflow_handle(handle.id, run_id=latest)
    return await pinned.query(ClaimReviewWorkflow.state), latest


async def state_at_version(client: Client, claim_id: str, version: int) -> ClaimState:
    """The state as the workflow task that reached `version` left it, rebuilt by replay.

    Versions recorded in the same workflow task (routing and the wait it opens, say) come
    back together: the replay stops at task boundaries. The replay runs over the history
    of the run that made the version, whichever run of the claim that is.
    """
    current, latest = await latest_state(client, claim_id)
    found = await find_version(client, current, version, latest)
    events = through_task(list(found.history.events), found.point)
    capture = _CaptureInstance()
    replayer = Replayer(
        workflows=[ClaimReviewWorkflow],
        data_converter=pydantic_data_converter,
        interceptors=[capture],
    )
    await replayer.replay_workflow(WorkflowHistory(found.history.workflow_id, events))
    [instance] = capture.instances
    past: ClaimState = instance.state()
    return ClaimState.model_validate(past.model_dump())


def _payouts(events: list[HistoryEvent], after: int = 0) -> list[HistoryEvent]:
    return [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == PAYOUT_ACTIVITY
        and e.event_id > after
    ]


@dataclass(frozen=True)
class RollbackResult:
    new_run_id: str
    reset_run_id: str
    # The run that was reset, in words: `run … (versions 41 to 80)` or `its only run`.
    reset_run: str
    # True when the reset run is one the claim continued from, not its latest.
    earlier_run: bool


def check_reason(reason: str) -> str:
    """The reason kept with the reset: one printable line a person can read in the UI."""
    text = " ".join(reason.split())
    if not text:
        raise RewindError("--reason needs a few words on why, such as 'wrong rejection'")
    if len(text) > REASON_LIMIT:
        raise RewindError(
            f"--reason is {len(text):,} characters; keep it to {REASON_LIMIT} (it is kept "
            "with the reset in Temporal, not as a note on the claim)"
        )
    if not text.isprintable():
        raise RewindError("--reason contains control characters; give plain text")
    return text


async def rollback(
    client: Client, claim_id: str, version: int, reason: str, reapply_signals: bool
) -> RollbackResult:
    """Reset the run holding `version` to it; the claim goes on in the new run.

    Refused when the payout has already run after that point, in that run or any later
    one: replaying the review from there could decide differently about money already
    paid. Resetting an earlier run ends the current one (Temporal terminates it). Refused
    too when the claim moved to another run while this was checked (another rollback, or
    a continue-as-new): the checks would be about a run that is no longer the claim's.
    """
    reason = check_reason(reason)
    handle = claim_handle(client, claim_id)
    current, latest = await latest_state(client, claim_id)
    found = await find_version(client, current, version, latest)
    where = describe_run(current, found.run)
    reset_to = found.point.workflow_task_completed or found.point.workflow_task_started
    paid = _payouts(list(found.history.events), after=reset_to)
    if paid:
        raise RewindError(
            f"cannot roll {claim_id} back to version {version}: the payout was already "
            f"issued after it (event {paid[0].event_id} of {where}); start a new review instead"
        )
    later = [r for r in current.runs if found.run and r.first_version > found.run.first_version]
    for run in later:
        what = describe_run(current, run)
        history = await fetch_run_history(client, handle.id, run.run_id, what)
        paid = _payouts(list(history.events))
        if paid:
            raise RewindError(
                f"cannot roll {claim_id} back to version {version} (in {where}): the payout "
                f"was already issued in a later run, at event {paid[0].event_id} of {what}; "
                "start a new review instead"
            )
    if (await handle.describe()).run_id != latest:
        raise RewindError(
            f"{handle.id} moved to a new run while the rollback was being checked (another "
            "rollback, or the review continued as new); run the command again"
        )
    run_id = found.run_id
    exclude = (
        []
        if reapply_signals
        else [
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
        ]
    )
    try:
        response = await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=run_id),
                reason=f"rollback to version {version}: {reason}",
                workflow_task_finish_event_id=reset_to,
                request_id=str(uuid.uuid4()),
                reset_reapply_exclude_types=exclude,
            )
        )
    except RPCError as error:
        raise RewindError(
            f"cannot roll {claim_id} back to version {version}: it is in {where}, and "
            f"Temporal refused to reset that run at event {reset_to}: {error.message}"
        ) from None
    return RollbackResult(response.run_id, run_id, where, earlier_run=bool(later))


@dataclass(frozen=True)
class ForkResult:
    workflow_id: str
    original: ClaimState
    what_if: ClaimState
    outcome: ClaimOutcome


def parse_overrides(settings: list[str]) -> dict[str, Any]:
    """`key=value` pairs for the review policy; values are JSON where they parse as JSON."""
    overrides: dict[str, Any] = {}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        if not sep or not key:
            raise RewindError(f"--set {setting!r} is not key=value, e.g. auto_approval_limit=2000")
        if key not in ReviewPolicy.model_fields:
            known = ", ".join(sorted(ReviewPolicy.model_fields))
            raise RewindError(f"--set {key}: not a review policy setting; use one of: {known}")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def check_overrides(policy: ReviewPolicy, overrides: dict[str, Any]) -> None:
    """Refuse overrides that would not validate, before anything starts."""
    try:
        ReviewPolicy.model_validate(policy.model_dump() | overrides)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors(include_url=False)
        )
        raise RewindError(f"--set values are not valid: {problems}") from None


async def fork(
    client: Client,
    claim_id: str,
    version: int,
    *,
    task_queue: str,
    llm: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> ForkResult:
    """Rerun the claim as it stood at `version` under other conditions, as a dry run."""
    past = await state_at_version(client, claim_id, version)
    original = await claim_handle(client, claim_id).query(ClaimReviewWorkflow.state)
    claim = past.context.claim.model_copy(update={"documents": list(past.context.supporting_docs)})
    request = WhatIfRequest(
        claim=claim,
        options=ReviewOptions(
            dry_run=True,
            llm=llm,
            policy_overrides=overrides or {},
            notes=list(past.context.notes),
            forked_from=f"{original.workflow_id}@v{version}",
        ),
    )
    for k in range(1, 1000):
        workflow_id = f"{original.workflow_id}-whatif-{k}"
        try:
            handle = await client.start_workflow(
                ClaimWhatIfWorkflow.run,
                request,
                id=workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"What-if rerun of {original.workflow_id} at version {version}",
            )
            break
        except WorkflowAlreadyStartedError:
            continue
    else:
        raise RewindError(f"{original.workflow_id} has too many what-if runs; delete some")
    outcome = await handle.result()
    what_if = await handle.query(ClaimWhatIfWorkflow.state)
    return ForkResult(workflow_id, original, what_if, outcome)
