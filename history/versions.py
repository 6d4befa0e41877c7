"""Where a version of a claim was made: the run that holds it and the point in its history.

Every transition records the history length of the workflow task that made it, so a
version names a point in the history of the run that made it (a long review continues
as new, and `history.runs` finds the run). Replaying that run's history up to that point
rebuilds the state as it was (`history.replay`); resetting that run to it makes the agent
run again from there (`history.rollback`).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from history.runs import describe_run, fetch_run_history, run_holding
from runtime.errors import UserFacingError
from signals.client import claim_handle, pinned_state
from workflows.state import ClaimState, RunRecord, Transition

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
    return await pinned_state(client, handle.id, latest), latest
