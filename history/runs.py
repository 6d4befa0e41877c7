"""The runs of one claim: which run holds a version, a run's history, the runs before it.

A review whose history grows long continues as new: a new run with the same workflow
id, carrying the whole state. Versions keep counting across runs, and each transition's
`history_length` counts events of the run that made it, so a version is found in the
history of the run that holds it (`ClaimState.runs`). A state recorded before reviews
continued as new names no runs: its one run is the workflow's latest.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from history.decoding import fetch_decoded_history
from runtime.errors import UserFacingError
from workflows.state import ClaimState, RunRecord

# Walking back through earlier runs costs one request each; past this many, say so.
EARLIER_RUNS_LISTED = 20


class RunError(UserFacingError):
    """A run that does not exist, is not this claim's, or whose history is gone."""


def versions_of(state: ClaimState, run: RunRecord) -> tuple[int, int]:
    """The first and last version `run` made; last below first if it has made none yet."""
    later = [r.first_version for r in state.runs if r.first_version > run.first_version]
    return run.first_version, (min(later) - 1 if later else state.version)


def describe_run(state: ClaimState, run: RunRecord | None) -> str:
    """`run 0199… (versions 1 to 40)`, or `its current run` for a state without runs."""
    if run is None:
        return "its current run"
    first, last = versions_of(state, run)
    if last < first:
        return f"run {run.run_id} (no versions yet)"
    span = f"version {first}" if first == last else f"versions {first} to {last}"
    return f"run {run.run_id} ({span})"


def run_holding(state: ClaimState, version: int) -> RunRecord | None:
    """The run whose history holds `version`; None when the state names no runs.

    The caller has checked that the version exists; a state whose runs begin after it
    is inconsistent, and said so rather than guessed at.
    """
    if not state.runs:
        return None
    run = state.run_holding(version)
    if run is None:
        raise RunError(
            f"{state.workflow_id} has version {version}, but its first recorded run begins "
            f"at version {state.runs[0].first_version}; the state's run records are "
            "incomplete, so the history holding that version cannot be found"
        )
    return run


def parse_run_id(value: str) -> str:
    """A run id as Temporal writes it (a UUID), or a refusal that says what one looks like."""
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise RunError(
            f"{value!r} is not a run id; run ids look like "
            "0199e6f1-3c5a-7d2e-9b41-5f0c2a8e7d10 (see the runs `claims timeline` lists)"
        ) from None


async def fetch_run_history(
    client: Client, workflow_id: str, run_id: str | None, what: str, *, decoded: bool = True
) -> WorkflowHistory:
    """The history of one run (the latest when `run_id` is None), decoded for reading
    (or, with `decoded=False`, as stored: encrypted).

    `what` names the run in the refusal when the server has no such run: never started,
    not this workflow's, or removed after the namespace's retention period.
    """
    try:
        if not decoded:
            return await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        return await fetch_decoded_history(client, workflow_id, run_id)
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        if run_id is None:
            raise RunError(f"there is no workflow {workflow_id} on this server") from None
        raise RunError(
            f"{workflow_id} has no {what} on this server: either it is not a run of this "
            "claim, or its history was removed after the namespace's retention period"
        ) from None


async def fetch_latest_runs(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """The latest run's history, after the run's it continued from, if any (oldest first).

    A review continues as new when it reaches the approval gate: the run a person sees
    waiting holds only the wait, and the assessment they decide on is in the run before.
    """
    return await fetch_every_run(client, workflow_id, most=2)


async def fetch_every_run(
    client: Client, workflow_id: str, *, most: int | None = None, decoded: bool = True
) -> list[WorkflowHistory]:
    """Every run of the workflow still on the server (the latest `most` of them), the
    first run's first; decoded unless `decoded=False`. The walk back stops at a run whose
    history is gone (past the namespace's retention).
    """
    histories = [await fetch_run_history(client, workflow_id, None, "latest run", decoded=decoded)]
    while most is None or len(histories) < most:
        previous = continued_from(histories[0])
        if not previous:
            break
        try:
            earlier = await fetch_run_history(
                client, workflow_id, previous, f"run {previous}", decoded=decoded
            )
        except RunError:
            break
        histories.insert(0, earlier)
    return histories


def continued_from(history: WorkflowHistory) -> str:
    """The id of the run this one continued from; empty for a first run."""
    if not history.events:
        return ""
    return history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id


@dataclass(frozen=True)
class EarlierRun:
    run_id: str
    # None when the server no longer has the run's history.
    started_at: datetime | None


async def earlier_runs(
    client: Client, workflow_id: str, first_event: HistoryEvent, limit: int = EARLIER_RUNS_LISTED
) -> tuple[list[EarlierRun], bool]:
    """The runs this one continued from, newest first, and whether older ones remain.

    Each run's first event names the run it continued from; one event of each is read.
    A run whose history is gone ends the walk (it is still listed).
    """
    runs: list[EarlierRun] = []
    previous = first_event.workflow_execution_started_event_attributes.continued_execution_run_id
    while previous and len(runs) < limit:
        handle = client.get_workflow_handle(workflow_id, run_id=previous)
        try:
            started = await anext(aiter(handle.fetch_history_events(page_size=1)), None)
        except RPCError as error:
            if error.status is not RPCStatusCode.NOT_FOUND:
                raise
            started = None
        if started is None:
            runs.append(EarlierRun(previous, None))
            return runs, False
        runs.append(EarlierRun(previous, started.event_time.ToDatetime(tzinfo=UTC)))
        attributes = started.workflow_execution_started_event_attributes
        previous = attributes.continued_execution_run_id
    return runs, bool(previous)
