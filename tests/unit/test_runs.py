"""A claim over several runs: which run holds a version, whose history is read, and what
an operator is told when a run is missing, mismatched or named wrongly.

The state is fabricated: two runs, versions 1 to 5 in the first and 6 to 9 in the second,
as a review that continued as new after version 5 would record them. The server is a
small in-memory stand-in that answers history requests by run id and notes each one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from cli.rewind import rolled_back
from history.rollback import REASON_LIMIT, RollbackResult, check_reason
from history.runs import (
    EarlierRun,
    RunError,
    describe_run,
    earlier_runs,
    fetch_every_run,
    fetch_latest_runs,
    parse_run_id,
    run_holding,
)
from history.versions import RewindError, find_version
from tests.helpers import sample_claim
from tests.keys import encrypted_test_converter
from workflows.state import ClaimState, RunRecord, Step, Transition

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
WORKFLOW_ID = "claim-CLM-1002"
FIRST = "0199e6f1-0000-7000-8000-000000000001"
SECOND = "0199e6f1-0000-7000-8000-000000000002"
LATEST = "0199e6f1-0000-7000-8000-000000000003"
# Each version made by the workflow task started at this event of its run.
TASK_STARTED_AT = {1: 3, 2: 9, 3: 15, 4: 21, 5: 27, 6: 3, 7: 9, 8: 15, 9: 21}


def two_run_state(*, runs: bool = True) -> ClaimState:
    """Versions 1 to 9: 1 to 5 made in the first run, 6 to 9 in the second."""
    state = ClaimState.begin(
        sample_claim("CLM-1002"), workflow_id=WORKFLOW_ID, at=T0, history_length=3
    )
    for version in range(2, 10):
        state.transitions.append(
            Transition(
                version=version,
                from_step=Step.INTAKE,
                to_step=Step.ASSESSING,
                at=T0 + timedelta(minutes=version),
                reason="fabricated",
                history_length=TASK_STARTED_AT[version],
            )
        )
    state.version = 9
    if runs:
        state.runs = [
            RunRecord(run_id=FIRST, first_version=1, started_at=T0),
            RunRecord(run_id=SECOND, first_version=6, started_at=T0 + timedelta(hours=1)),
        ]
    return state


def event(event_id: int, kind: EventType.ValueType, at: datetime = T0) -> HistoryEvent:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return HistoryEvent(event_id=event_id, event_type=kind, event_time=stamp)


def started(at: datetime, continued_from: str = "") -> HistoryEvent:
    first = event(1, EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, at)
    first.workflow_execution_started_event_attributes.CopyFrom(
        WorkflowExecutionStartedEventAttributes(continued_execution_run_id=continued_from)
    )
    return first


def run_history(tasks: int, at: datetime = T0, continued_from: str = "") -> list[HistoryEvent]:
    """A run of `tasks` workflow tasks, each six events: scheduled, started, completed, and
    three events its commands wrote; task k starts at event 6k - 3."""
    events = [started(at, continued_from), event(2, EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED)]
    kinds = [
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    ]
    for _ in range(tasks):
        for kind in kinds:
            events.append(event(len(events) + 1, kind))
    return events


@dataclass
class FakeHandle:
    server: FakeServer
    run_id: str | None

    def _events(self) -> list[HistoryEvent]:
        self.server.fetched.append(self.run_id)
        run_id = self.run_id or self.server.latest
        if run_id not in self.server.runs:
            raise RPCError("workflow execution not found", RPCStatusCode.NOT_FOUND, b"")
        return self.server.runs[run_id]

    async def fetch_history(self) -> WorkflowHistory:
        return WorkflowHistory(WORKFLOW_ID, self._events())

    def fetch_history_events(self, *, page_size: int | None = None) -> AsyncIterator[HistoryEvent]:
        async def events() -> AsyncIterator[HistoryEvent]:
            for one in self._events()[:page_size]:
                yield one

        return events()


@dataclass
class FakeServer:
    """Histories by run id; `fetched` lists the run ids asked for, None for the latest."""

    runs: dict[str, list[HistoryEvent]]
    latest: str = LATEST
    fetched: list[str | None] = field(default_factory=list)
    # Histories are decoded as they are read, with the client's converter.
    data_converter: DataConverter = field(default_factory=encrypted_test_converter)

    def get_workflow_handle(self, workflow_id: str, *, run_id: str | None = None) -> FakeHandle:
        assert WORKFLOW_ID == workflow_id
        return FakeHandle(self, run_id)

    @property
    def client(self) -> Client:
        return cast(Client, self)


def chain(*runs: str) -> dict[str, list[HistoryEvent]]:
    """Runs that continued one from the next, oldest first, five tasks each."""
    return {
        run_id: run_history(5, T0 + timedelta(hours=k), runs[k - 1] if k else "")
        for k, run_id in enumerate(runs)
    }


@pytest.mark.parametrize(
    ("version", "run_id", "described"),
    [
        (1, FIRST, f"run {FIRST} (versions 1 to 5)"),
        (5, FIRST, f"run {FIRST} (versions 1 to 5)"),
        (6, SECOND, f"run {SECOND} (versions 6 to 9)"),
        (9, SECOND, f"run {SECOND} (versions 6 to 9)"),
    ],
)
def test_each_version_is_held_by_the_run_that_made_it(
    version: int, run_id: str, described: str
) -> None:
    """The run with the greatest first version at or below it; its versions in words."""
    state = two_run_state()

    run = run_holding(state, version)

    assert run is not None
    assert (run_id, described) == (run.run_id, describe_run(state, run))


def test_a_state_recorded_before_runs_were_kept_has_one_run() -> None:
    """No run records: every version is in the claim's current run."""
    state = two_run_state(runs=False)

    assert (None, "its current run") == (run_holding(state, 3), describe_run(state, None))


def test_a_run_that_has_made_no_version_yet_says_so() -> None:
    """Just continued: the new run holds no version until it makes one."""
    state = two_run_state()
    state.runs.append(RunRecord(run_id=LATEST, first_version=10, started_at=T0))

    assert f"run {LATEST} (no versions yet)" == describe_run(state, state.runs[-1])
    assert f"run {SECOND} (versions 6 to 9)" == describe_run(state, state.runs[1])


def test_a_run_of_one_version_says_version() -> None:
    """Singular for one."""
    state = two_run_state()
    state.runs.append(RunRecord(run_id=LATEST, first_version=9, started_at=T0))

    assert f"run {LATEST} (version 9)" == describe_run(state, state.runs[-1])


def test_run_records_that_begin_after_a_version_are_refused_not_guessed() -> None:
    """Version 3 exists but the first record starts at 6: say the records are incomplete."""
    state = two_run_state()
    state.runs = state.runs[1:]

    with pytest.raises(RunError) as refused:
        run_holding(state, 3)

    assert (
        f"{WORKFLOW_ID} has version 3, but its first recorded run begins at version 6; the "
        "state's run records are incomplete, so the history holding that version cannot be "
        "found"
    ) == str(refused.value)


async def test_a_version_of_an_earlier_run_is_found_in_that_runs_history() -> None:
    """Version 3 (event 15 of the first run) is read from the first run's history only."""
    server = FakeServer(chain(FIRST, LATEST))

    found = await find_version(server.client, two_run_state(), 3, LATEST)

    assert [FIRST] == server.fetched
    assert (FIRST, 15, 16) == (
        found.run_id,
        found.point.workflow_task_started,
        found.point.workflow_task_completed,
    )


async def test_a_version_of_the_latest_run_is_read_from_the_run_the_state_came_from() -> None:
    """The last record stands for the run carrying the state, whatever id it holds (a reset
    run replays its predecessor's records): version 8 is read from the latest run."""
    server = FakeServer(chain(FIRST, LATEST))

    found = await find_version(server.client, two_run_state(), 8, LATEST)

    assert [LATEST] == server.fetched
    assert (LATEST, 15) == (found.run_id, found.point.workflow_task_started)
    assert found.run is not None
    assert f"run {LATEST} (versions 6 to 9)" == describe_run(two_run_state(), found.run)


async def test_a_state_without_runs_reads_the_latest_run() -> None:
    """Histories recorded before runs were kept: one run, the latest."""
    server = FakeServer({LATEST: run_history(5)})

    found = await find_version(server.client, two_run_state(runs=False), 3, LATEST)

    assert ([LATEST], None, 15) == (server.fetched, found.run, found.point.workflow_task_started)


@pytest.mark.parametrize("version", [0, -1, 10, 99])
async def test_a_version_that_does_not_exist_is_refused_before_any_history_is_read(
    version: int,
) -> None:
    """The refusal names the versions there are; the server is not asked."""
    server = FakeServer(chain(FIRST, LATEST))

    with pytest.raises(RewindError) as refused:
        await find_version(server.client, two_run_state(), version, LATEST)

    assert (
        f"{WORKFLOW_ID} has no version {version}; its versions are 1 to 9 (see `claims show`)"
    ) == str(refused.value)
    assert [] == server.fetched


async def test_an_earlier_run_the_server_no_longer_has_is_named_with_its_versions() -> None:
    """Past retention, or not this claim's run: say which run holds the version."""
    server = FakeServer({LATEST: run_history(5)})

    with pytest.raises(RunError) as refused:
        await find_version(server.client, two_run_state(), 4, LATEST)

    assert (
        f"{WORKFLOW_ID} has no run {FIRST} (versions 1 to 5), which holds version 4 on this "
        "server: either it is not a run of this claim, or its history was removed after the "
        "namespace's retention period"
    ) == str(refused.value)


async def test_a_history_that_did_not_make_the_version_is_refused() -> None:
    """Event 27 of a two-task run does not exist: no replay or reset on a guess."""
    server = FakeServer({FIRST: run_history(2), LATEST: run_history(5)})

    with pytest.raises(RewindError) as refused:
        await find_version(server.client, two_run_state(), 5, LATEST)

    assert (
        f"version 5 of {WORKFLOW_ID} was made by the workflow task started at event 27 of "
        f"run {FIRST} (versions 1 to 5), but that event does not exist (14 events): the "
        "claim's run records do not match its histories, so it cannot be replayed or reset "
        "there"
    ) == str(refused.value)


async def test_an_event_that_is_not_a_task_start_is_refused() -> None:
    """A version whose event is an activity's is not where any workflow task began."""
    state = two_run_state()
    state.transitions[2].history_length = 16
    server = FakeServer(chain(FIRST, LATEST))

    with pytest.raises(RewindError, match="but that event is WORKFLOW_TASK_COMPLETED: "):
        await find_version(server.client, state, 3, LATEST)


async def test_earlier_runs_are_walked_back_newest_first() -> None:
    """Each run's first event names the one before; one event is read per run."""
    server = FakeServer(chain(FIRST, SECOND, LATEST))

    runs, more = await earlier_runs(server.client, WORKFLOW_ID, server.runs[LATEST][0])

    assert (
        [EarlierRun(SECOND, T0 + timedelta(hours=1)), EarlierRun(FIRST, T0)],
        False,
        [SECOND, FIRST],
    ) == (runs, more, server.fetched)


async def test_a_long_chain_is_cut_at_the_limit_and_says_more_remain() -> None:
    """Hundreds of runs are not fetched to print a note."""
    server = FakeServer(chain(FIRST, SECOND, LATEST))

    runs, more = await earlier_runs(server.client, WORKFLOW_ID, server.runs[LATEST][0], limit=1)

    assert ([SECOND], True) == ([r.run_id for r in runs], more)


async def test_a_run_whose_history_is_gone_ends_the_walk() -> None:
    """Listed without a start time; nothing before it can be known."""
    server = FakeServer({LATEST: run_history(1, continued_from=SECOND)})

    runs, more = await earlier_runs(server.client, WORKFLOW_ID, server.runs[LATEST][0])

    assert ([EarlierRun(SECOND, None)], False) == (runs, more)


async def test_a_first_run_has_no_earlier_runs() -> None:
    """Nothing is fetched for a run that continued from none."""
    server = FakeServer({LATEST: run_history(1)})

    assert ([], False) == await earlier_runs(server.client, WORKFLOW_ID, server.runs[LATEST][0])
    assert [] == server.fetched


async def test_every_run_is_read_first_run_first_and_the_latest_after_the_one_before() -> None:
    """The audit reads every run; the timeline and claim page the latest two."""
    server = FakeServer(chain(FIRST, SECOND, LATEST))

    every = await fetch_every_run(server.client, WORKFLOW_ID)
    latest_two = await fetch_latest_runs(server.client, WORKFLOW_ID)

    assert [server.runs[r] for r in (FIRST, SECOND, LATEST)] == [list(h.events) for h in every]
    assert [server.runs[r] for r in (SECOND, LATEST)] == [list(h.events) for h in latest_two]


async def test_runs_the_server_no_longer_has_are_left_out() -> None:
    """Past the namespace's retention an earlier run is gone: what is left is still read."""
    server = FakeServer({LATEST: run_history(1, continued_from=SECOND)})

    every = await fetch_every_run(server.client, WORKFLOW_ID)
    latest_two = await fetch_latest_runs(server.client, WORKFLOW_ID)

    assert [server.runs[LATEST]] * 2 == [list(every[0].events), list(latest_two[0].events)]
    assert (1, 1) == (len(every), len(latest_two))
    assert [None, SECOND, None, SECOND] == server.fetched


def test_a_run_id_is_a_uuid() -> None:
    """Spaces around it are forgiven; the canonical form is used."""
    assert FIRST == parse_run_id(f"  {FIRST.upper()} ")


@pytest.mark.parametrize("value", ["", "latest", "run-1", f"{FIRST}\x1b[2J", "' OR 1=1"])
def test_anything_else_is_refused_with_what_a_run_id_looks_like(value: str) -> None:
    """Escape sequences come back escaped, never printed raw."""
    with pytest.raises(RunError) as refused:
        parse_run_id(value)

    message = str(refused.value)
    assert message.startswith(f"{value!r} is not a run id; run ids look like ")
    assert "\x1b" not in message


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("  wrong\n rejection ", "wrong rejection"), ("x" * REASON_LIMIT, "x" * REASON_LIMIT)],
)
def test_a_rollback_reason_becomes_one_line(reason: str, expected: str) -> None:
    """Line breaks and runs of spaces fold; the limit itself is allowed."""
    assert expected == check_reason(reason)


@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("   ", "needs a few words on why"),
        (
            "x" * (REASON_LIMIT + 1),
            f"is {REASON_LIMIT + 1:,} characters; keep it to {REASON_LIMIT}",
        ),
        ("undo\x1b[31m", "contains control characters"),
        ("bidi\u202etext", "contains control characters"),
    ],
)
def test_a_rollback_reason_that_cannot_be_kept_is_refused(reason: str, says: str) -> None:
    """Blank, too long, or with terminal escapes: refused before anything is read."""
    with pytest.raises(RewindError, match=says):
        check_reason(reason)


def _ids(events: Sequence[HistoryEvent]) -> list[int]:
    return [e.event_id for e in events]


def test_the_fabricated_histories_start_tasks_where_the_versions_say() -> None:
    """The stand-in matches the state: every version's event is a workflow task start."""
    events = run_history(5)
    starts = [
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]

    assert [3, 9, 15, 21, 27] == starts
    assert list(range(1, 33)) == _ids(events)


@pytest.mark.parametrize(
    ("result", "reapplied", "expected"),
    [
        (
            RollbackResult(LATEST, SECOND, f"run {SECOND} (versions 6 to 9)", earlier_run=False),
            False,
            f"claim-CLM-1002 rolled back to version 7; new run {LATEST}; recorded in the "
            "claim's audit log as rolled_back, with the reason",
        ),
        (
            RollbackResult(LATEST, FIRST, f"run {FIRST} (versions 1 to 5)", earlier_run=True),
            True,
            f"claim-CLM-1002 rolled back to version 7; new run {LATEST} (version 7 was in the "
            f"earlier run {FIRST} (versions 1 to 5), which was reset; the run that was current "
            "has ended) (later signals re-applied); recorded in the claim's audit log as "
            "rolled_back, with the reason",
        ),
    ],
)
def test_a_rollback_says_which_run_it_reset_when_it_was_an_earlier_one(
    result: RollbackResult, reapplied: bool, expected: str
) -> None:
    """Resetting an earlier run ends the current one: the operator is told."""
    assert expected == rolled_back("CLM-1002", 7, result, reapplied)
