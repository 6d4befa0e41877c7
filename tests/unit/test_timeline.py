"""The claim timeline: one readable row per meaningful event of a recorded history."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from temporalio.api.common.v1 import (
    ActivityType,
    Payload,
    Payloads,
    SearchAttributes,
    WorkflowType,
)
from temporalio.api.enums.v1 import EventType, RetryState, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import ApplicationFailureInfo, Failure
from temporalio.api.history.v1 import (
    ActivityTaskFailedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowExecutionTerminatedEventAttributes,
    WorkflowTaskFailedEventAttributes,
)
from temporalio.client import WorkflowHistory

from cli.timeline import earlier_runs_note, timeline_table
from history.decoding import decode_history
from history.runs import EarlierRun
from history.timeline import Kind, TimelineRow, format_offset, timeline_rows
from tests.histories import claim_recordings
from tests.keys import encrypted_test_converter
from workflows.tools import TOOLS

HISTORIES = Path(__file__).parent.parent / "histories"
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def decoded_events(path: Path) -> list[HistoryEvent]:
    """A corpus history as people read it: decrypted with the test keys."""
    stored = WorkflowHistory.from_json(path.stem, path.read_text())
    return list(asyncio.run(decode_history(stored, encrypted_test_converter())).events)


def rows_of(name: str) -> list[TimelineRow]:
    """The rows of every recorded run of the path, the first run's first: a review
    continues as new at each approval gate it reaches."""
    earlier = sorted(HISTORIES.glob(f"{name}_run_*.json"))
    return [
        row
        for path in (*earlier, HISTORIES / f"{name}.json")
        for row in timeline_rows(decoded_events(path))
    ]


def described(rows: list[TimelineRow], kind: Kind) -> list[str]:
    return [row.description for row in rows if row.kind is kind]


def test_manual_approval_reads_from_claim_to_payout() -> None:
    """The approve signal by maria, six tools, two model turns, the wait and the outcome."""
    rows = rows_of("manual_approve")

    assert (
        Kind.STARTED,
        "claim REPLAY-APPROVE: 1,250.00 USD property, submitted by agent-portal",
    ) == (
        rows[0].kind,
        rows[0].description,
    )
    assert ['approve signal by maria: "photos ok"'] == described(rows, Kind.SIGNAL)
    markers = described(rows, Kind.MARKER)
    # The first run rests at the approval gate; the run it continues as knows no patch
    # but the one marker a new review records.
    assert [
        "code version marker one-patch-marker",
        "code version marker rest-at-approval-gate",
        "code version marker one-patch-marker",
    ] == markers
    assert all(m.startswith("code version marker ") for m in markers), markers
    # Each tool call reads "name: summary -> result", the summary from the tool catalogue.
    assert sorted(f"{name}: {tool.summary}" for name, tool in TOOLS.items()) == sorted(
        d.split(" -> ")[0] for d in described(rows, Kind.TOOL)
    )
    assert all(" -> done in " in d for d in described(rows, Kind.TOOL))
    assert ["model turn 1", "model turn 2"] == [
        d.split(" -> ")[0] for d in described(rows, Kind.MODEL)
    ]
    assert "submit_assessment: approve" in described(rows, Kind.MODEL)[1]
    # The whole agent loop shows as `assessing` in the searchable step.
    assert [
        "assessing",
        "awaiting_manager_approval",
        "executing",
        "completed",
    ] == [d.removeprefix("step -> ").split(";")[0] for d in described(rows, Kind.STEP)]
    assert (Kind.COMPLETED, "outcome completed, decided by maria, payout 1,250.00 USD") == (
        rows[-1].kind,
        rows[-1].description.split(": ")[0],
    )


def test_waiting_for_approval_shows_whom_and_until_when() -> None:
    """The step row of the approval wait names the assignee queue and the deadline."""
    rows = rows_of("manual_approve")

    waiting = next(d for d in described(rows, Kind.STEP) if "awaiting_manager_approval" in d)

    assert waiting.startswith("step -> awaiting_manager_approval; waiting on approvers, deadline ")
    assert waiting.endswith(" UTC")


def test_a_continued_run_starts_where_the_run_before_left_off() -> None:
    """The run resting at the gate names, in its first row, the step and the wait it
    inherits: read alone (`--run`, or after the run before is gone) it still says why."""
    [first, *_] = timeline_rows(decoded_events(HISTORIES / "manual_approve.json"))

    assert Kind.STARTED is first.kind
    _, carried = first.description.split("; carries on at ")
    assert carried.startswith("awaiting_manager_approval, waiting on approvers, deadline ")
    assert carried.endswith(" UTC")
    [first_run_start, *_] = timeline_rows(decoded_events(HISTORIES / "manual_approve_run_1.json"))
    assert "carries on" not in first_run_start.description


def test_timeout_escalation_fires_the_deadline_after_three_days_and_escalates() -> None:
    """Reminders at day one and two, the deadline timer at day three, then senior approvers."""
    rows = rows_of("timeout_escalation")

    timers = [(format_offset(r.offset)[:3], r.description) for r in rows if r.kind is Kind.TIMER]
    fired = [(offset, d) for offset, d in timers if ": fired" in d]
    deadline_at = next(
        r for r in rows if r.description.startswith("approval deadline, level 0: fired")
    )
    after = rows[rows.index(deadline_at) :]

    assert [
        ("+1d", "approval reminder: fired after 1d 00:00"),
        ("+2d", "approval reminder: fired after 1d 00:00"),
        ("+3d", "approval deadline, level 0: fired after 1d 00:00"),
    ] == fired
    # Offsets count from the start of the run, which began a moment after the wait did.
    assert abs(deadline_at.offset - timedelta(days=3)) < timedelta(minutes=1)
    assert next(r for r in after if r.kind is Kind.WAITING).description.startswith(
        "waiting on senior-approvers, deadline "
    )
    assert any("Escalated: claim REPLAY-ESCALATE" in r.description for r in after)
    assert ["approve signal by maria"] == described(after, Kind.SIGNAL)


def test_refused_and_accepted_signals_each_name_who_sent_them() -> None:
    """Whoever the payload names; a payload naming nobody says so instead of guessing."""
    rows = rows_of("refused_then_approved")

    assert [
        "approve signal by sam",
        'approve signal naming nobody: "no approver"',
        "approve signal by maria",
    ] == described(rows, Kind.SIGNAL)


def test_updates_show_who_acted_and_the_version_they_produced() -> None:
    """An update row says who, what they asked, and the version the claim answered with."""
    rows = rows_of("edit_then_approve")

    updates = described(rows, Kind.UPDATE)

    assert 2 == len(updates)
    assert updates[0].startswith("edit update by maria: payout 1,000.00 -> accepted as version ")
    assert updates[1].startswith("approve update by maria -> accepted as version ")
    assert updates[1].endswith(", now awaiting_manager_approval")


def test_operator_actions_and_a_routine_task_failure() -> None:
    """Pause, reassign, interrupt, resume and cancel by lee; a retried task is not alarming."""
    rows = rows_of("pause_interrupt_cancel")

    assert ["pause", "reassign", "interrupt", "resume", "cancel"] == [
        d.split(" update by lee")[0] for d in described(rows, Kind.UPDATE)
    ]
    assert "waiting on maria" in described(rows, Kind.WAITING)
    assert "operator pause limit: set for 7d 00:00" in described(rows, Kind.TIMER)
    task_failures = [r for r in rows if r.kind is Kind.TASK_FAILURE]
    assert [False] * len(task_failures) == [r.problem for r in task_failures]
    assert rows[-1].description.startswith(
        'outcome cancelled, decided by lee, payout 0.00 USD: "duplicate"'
    )


@pytest.mark.parametrize("path", claim_recordings(), ids=lambda p: p.stem)
def test_every_recorded_history_starts_and_ends_without_bookkeeping(path: Path) -> None:
    """First the start, last the outcome or the continue-as-new; no workflow-task noise
    and nothing unexplained (an operator's cancellation through Temporal is no fault)."""
    events = decoded_events(path)
    rows = timeline_rows(events)

    assert Kind.STARTED == rows[0].kind
    assert rows[-1].kind in (Kind.COMPLETED, Kind.CONTINUED), rows[-1]
    assert [] == [r.description for r in rows if r.kind is Kind.EVENT]
    assert [] == [r.description for r in rows if r.problem]
    # History order; a signal that came in during a workflow task is written after the
    # task's own events, with the earlier time it arrived at.
    assert sorted(rows, key=lambda r: r.event_id) == rows
    assert len(rows) <= len(events) / 2


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(seconds=0.42), "+0.42s"),
        (timedelta(minutes=5, seconds=12), "+5m 12s"),
        (timedelta(hours=2, minutes=5, seconds=20), "+2h 05m"),
        (timedelta(seconds=86399.986), "+1d 00:00"),
        (timedelta(days=3, hours=2), "+3d 02:00"),
    ],
)
def test_offsets_read_at_the_scale_of_the_wait(span: timedelta, expected: str) -> None:
    """Seconds for the agent's work, days and hours for people's."""
    assert expected == format_offset(span)


# -- failure paths, on a history built here: the recorded corpus has none -------------


def _payloads(*values: Any) -> Payloads:
    return Payloads(
        payloads=[
            Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(v).encode())
            for v in values
        ]
    )


def _event(
    event_id: int, seconds: float, event_type: EventType.ValueType, **attrs: Any
) -> HistoryEvent:
    at = Timestamp()
    at.FromDatetime(T0 + timedelta(seconds=seconds))
    return HistoryEvent(event_id=event_id, event_time=at, event_type=event_type, **attrs)


def troubled_history() -> list[HistoryEvent]:
    claim = {
        "claim_id": "CLM-9",
        "amount": 1250.0,
        "currency": "USD",
        "category": "property",
        "submitted_by": "portal",
    }
    locked = Failure(
        message="database is locked",
        application_failure_info=ApplicationFailureInfo(type="OperationalError"),
    )
    return [
        _event(
            1,
            0,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
            workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
                input=_payloads(claim)
            ),
        ),
        _event(
            5,
            1,
            EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
                activity_type=ActivityType(name="lookup_policy")
            ),
        ),
        _event(
            6,
            4,
            EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(
                scheduled_event_id=5, attempt=3, last_failure=locked
            ),
        ),
        _event(
            7,
            5,
            EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
            activity_task_failed_event_attributes=ActivityTaskFailedEventAttributes(
                scheduled_event_id=5,
                started_event_id=6,
                failure=locked,
                retry_state=RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED,
            ),
        ),
        _event(
            8,
            60,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
            workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
                signal_name="approve",
                input=_payloads(
                    {
                        "approver": "[bold red]eve[/]",
                        "comment": "[link=https://x.example]click[/link]\n\x1b[2Jwiped",
                    }
                ),
            ),
        ),
        _event(
            9,
            61,
            EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
                cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
                failure=Failure(message="[TMPRL1100] Nondeterminism error: no command"),
            ),
        ),
        _event(
            10,
            3 * 86400 + 7200,
            EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
            workflow_execution_terminated_event_attributes=WorkflowExecutionTerminatedEventAttributes(
                reason="stuck on a bad deploy", identity="oncall@host"
            ),
        ),
    ]


def test_failures_retries_and_termination_are_rows_marked_as_problems() -> None:
    """A failed tool after retries, a non-deterministic task, a termination: each one row."""
    rows = timeline_rows(troubled_history())

    assert [
        ("+0.00s", Kind.STARTED, "claim CLM-9: 1,250.00 USD property, submitted by portal", False),
        (
            "+1.00s",
            Kind.TOOL,
            "lookup_policy -> failed after 4.00s, attempt 3 (maximum attempts reached): "
            "OperationalError: database is locked",
            True,
        ),
        (
            "+1m 00s",
            Kind.SIGNAL,
            'approve signal by [bold red]eve[/]: "[link=https://x.example]click[/link] [2Jwiped"',
            False,
        ),
        (
            "+1m 01s",
            Kind.TASK_FAILURE,
            "workflow task failed (non deterministic error): [TMPRL1100] Nondeterminism error: "
            "no command; the worker retries it until it succeeds",
            True,
        ),
        ("+3d 02:00", Kind.TERMINATED, "terminated by oncall@host: stuck on a bad deploy", True),
    ] == [(format_offset(r.offset), r.kind, r.description, r.problem) for r in rows]


def test_payload_text_is_shown_literally_never_as_markup() -> None:
    """Brackets from a payload reach the screen as typed; escape codes never reach it."""
    console = Console(record=True, width=300, color_system=None)

    console.print(timeline_table(timeline_rows(troubled_history()), title="t"))
    text = console.export_text()

    assert "approve signal by [bold red]eve[/]" in text
    assert "[link=https://x.example]click[/link]" in text
    assert "\x1b" not in text


def test_the_title_is_shown_literally_never_as_markup() -> None:
    """A file or claim named with brackets keeps them."""
    console = Console(record=True, width=300, color_system=None)

    console.print(timeline_table([], title="Timeline of [red]x[/red].json"))

    assert "Timeline of [red]x[/red].json" in console.export_text()


def test_earlier_runs_are_listed_newest_first_with_how_to_show_one() -> None:
    """A claim that continued as new twice: both runs, when they started, the command."""
    runs = [
        EarlierRun("0199e6f1-0000-7000-8000-000000000002", T0 + timedelta(hours=5)),
        EarlierRun("0199e6f1-0000-7000-8000-000000000001", T0),
    ]

    assert (
        "The oldest run shown continued from 2 earlier runs (newest first):\n"
        "  0199e6f1-0000-7000-8000-000000000002  started 2026-11-27 14:00:00 UTC\n"
        "  0199e6f1-0000-7000-8000-000000000001  started 2026-11-27 09:00:00 UTC\n"
        "Show one with `claims timeline CLM-1002 --run RUN_ID`."
    ) == earlier_runs_note("CLM-1002", runs, more=False)


def test_a_cut_list_of_runs_and_a_run_whose_history_is_gone_say_so() -> None:
    """One run listed of more; its history removed; the claim id printed with its escape."""
    runs = [EarlierRun("0199e6f1-0000-7000-8000-000000000002", None)]

    assert (
        "The oldest run shown continued from 1 or more earlier runs (newest first):\n"
        "  0199e6f1-0000-7000-8000-000000000002  its history is no longer on the server\n"
        "  ... and older runs; show the oldest listed to see more\n"
        "Show one with `claims timeline CLM-\\x1b[2J --run RUN_ID`."
    ) == earlier_runs_note("CLM-\x1b[2J", runs, more=True)


def _continued_start(**fields: bytes) -> HistoryEvent:
    """The first event of a run that continued as new, inheriting these raw search
    attributes (each a JSON payload's bytes, as anyone who can upsert them can write)."""
    return _event(
        1,
        0,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            workflow_type=WorkflowType(name="ClaimReviewWorkflow"),
            continued_execution_run_id="01a234d9-fcb1-7a57-bfe7-fd8cae927e2e",
            search_attributes=SearchAttributes(
                indexed_fields={
                    name: Payload(metadata={"encoding": b"json/plain"}, data=raw)
                    for name, raw in fields.items()
                }
            ),
        ),
    )


@pytest.mark.parametrize(
    ("fields", "carried"),
    [
        (
            {"ClaimStep": b'"awaiting_info"', "Assignee": b'"dana"'},
            "; carries on at awaiting_info, waiting on dana",
        ),
        ({"ClaimStep": b'"paused"'}, "; carries on at paused"),
        ({"Assignee": b'"approvers"'}, "; carries on: waiting on approvers"),
        ({"ClaimStep": b"7"}, "; carries on at 7"),
        # Times UTC cannot hold are shown as written, never raised on.
        (
            {"ClaimDeadline": b'"0001-01-01T00:00:00+01:00"'},
            "; carries on: deadline 0001-01-01T00:00:00+01:00",
        ),
        (
            {"ClaimDeadline": b'"9999-12-31T23:59:59-01:00"'},
            "; carries on: deadline 9999-12-31T23:59:59-01:00",
        ),
        # Not JSON, or nested deeper than Python follows: as if absent.
        ({"ClaimStep": b"\xff\xfe"}, ""),
        ({"ClaimStep": b"[" * 5000}, ""),
        ({}, ""),
    ],
)
def test_what_a_continued_run_inherits_is_shown_whatever_it_holds(
    fields: dict[str, bytes], carried: str
) -> None:
    """Odd inherited search attributes make an odd row, never an error: the claim page
    and `claims timeline --file` read them from any history."""
    [row] = timeline_rows([_continued_start(**fields)])

    assert row.description.endswith(
        "(continued from run 01a234d9-fcb1-7a57-bfe7-fd8cae927e2e)" + carried
    )


def test_control_characters_in_an_inherited_assignee_are_never_printed() -> None:
    """An assignee is a name someone typed: shown printable, escapes and all."""
    [row] = timeline_rows([_continued_start(Assignee=b'"mal\\u001b[31mlory"')])

    assert "\x1b" not in row.description
    assert "waiting on mal" in row.description
