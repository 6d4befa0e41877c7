"""Look back and go back: the state at any version, rollback by reset, what-if forks.

Every transition records the history length of the workflow task that made it, so a
version names a point in history. Replaying the history up to that point rebuilds the
state as it was; resetting to it makes the agent run again from there.
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
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from runtime.errors import UserFacingError
from signals.client import claim_handle
from workflows.authority import ReviewPolicy
from workflows.claim_review import ClaimReviewWorkflow, ClaimWhatIfWorkflow
from workflows.options import ReviewOptions, WhatIfRequest
from workflows.state import ClaimOutcome, ClaimState, Transition

PAYOUT_ACTIVITY = "issue_payout"

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


def locate(state: ClaimState, events: list[HistoryEvent], version: int) -> PointInHistory:
    """Where version `version` sits in the history."""
    transition = next((t for t in state.transitions if t.version == version), None)
    if transition is None:
        raise RewindError(
            f"{state.workflow_id} has no version {version}; its versions are 1 to "
            f"{state.version} (see `claims show`)"
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


async def state_at_version(client: Client, claim_id: str, version: int) -> ClaimState:
    """The state as the workflow task that reached `version` left it, rebuilt by replay.

    Versions recorded in the same workflow task (routing and the wait it opens, say) come
    back together: the replay stops at task boundaries.
    """
    handle = claim_handle(client, claim_id)
    current = await handle.query(ClaimReviewWorkflow.state)
    history = await handle.fetch_history()
    point = locate(current, list(history.events), version)
    events = through_task(list(history.events), point)
    capture = _CaptureInstance()
    replayer = Replayer(
        workflows=[ClaimReviewWorkflow],
        data_converter=pydantic_data_converter,
        interceptors=[capture],
    )
    await replayer.replay_workflow(WorkflowHistory(history.workflow_id, events))
    [instance] = capture.instances
    past: ClaimState = instance.state()
    return ClaimState.model_validate(past.model_dump())


async def rollback(
    client: Client, claim_id: str, version: int, reason: str, reapply_signals: bool
) -> str:
    """Reset the claim to version `version`; returns the new run id.

    Refused when the payout has already run after that point: replaying the review from
    there could decide differently about money already paid.
    """
    handle = claim_handle(client, claim_id)
    current = await handle.query(ClaimReviewWorkflow.state)
    history = await handle.fetch_history()
    events = list(history.events)
    point = locate(current, events, version)
    reset_to = point.workflow_task_completed or point.workflow_task_started
    paid = [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == PAYOUT_ACTIVITY
        and e.event_id > reset_to
    ]
    if paid:
        raise RewindError(
            f"cannot roll {claim_id} back to version {version}: the payout was already "
            f"issued after it (event {paid[0].event_id}); start a new review instead"
        )
    description = await handle.describe()
    exclude = (
        []
        if reapply_signals
        else [
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
        ]
    )
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=description.run_id),
            reason=f"rollback to version {version}: {reason}",
            workflow_task_finish_event_id=reset_to,
            request_id=str(uuid.uuid4()),
            reset_reapply_exclude_types=exclude,
        )
    )
    return response.run_id


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
