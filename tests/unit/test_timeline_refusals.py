"""The timeline names refused signals, from the claim's audit log: the history cannot.

Each audit entry carries the workflow's clock, the start of the workflow task that handled
the signal; these histories are built here so that every case of the matching is shown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    HistoryEvent,
    WorkflowExecutionSignaledEventAttributes,
    WorkflowExecutionStartedEventAttributes,
    WorkflowTaskCompletedEventAttributes,
    WorkflowTaskFailedEventAttributes,
    WorkflowTaskStartedEventAttributes,
)

from history.timeline import Kind, TimelineRow, timeline_rows
from workflows.claim_review import TEMPORAL_CANCELLATION
from workflows.state import AuditEntry, AuditOutcome

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _event(event_id: int, seconds: float, **attrs: Any) -> HistoryEvent:
    at = Timestamp()
    at.FromDatetime(_at(seconds))
    return HistoryEvent(event_id=event_id, event_time=at, **attrs)


def _signal(event_id: int, seconds: float, name: str, payload: object) -> HistoryEvent:
    data = json.dumps(payload).encode()
    return _event(
        event_id,
        seconds,
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        workflow_execution_signaled_event_attributes=WorkflowExecutionSignaledEventAttributes(
            signal_name=name,
            input=Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=data)]),
        ),
    )


def _task(started_id: int, seconds: float, *, completed: bool = True) -> list[HistoryEvent]:
    """A workflow task's started event and its end (completed, or failed and retried)."""
    started = _event(
        started_id,
        seconds,
        event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        workflow_task_started_event_attributes=WorkflowTaskStartedEventAttributes(),
    )
    if completed:
        end = _event(
            started_id + 1,
            seconds + 0.01,
            event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
            workflow_task_completed_event_attributes=WorkflowTaskCompletedEventAttributes(
                started_event_id=started_id
            ),
        )
    else:
        end = _event(
            started_id + 1,
            seconds + 0.01,
            event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
                started_event_id=started_id
            ),
        )
    return [started, end]


def _entry(
    seconds: float, actor: str, action: str, outcome: AuditOutcome, detail: str
) -> AuditEntry:
    return AuditEntry(
        at=_at(seconds), version=5, actor=actor, action=action, outcome=outcome, detail=detail
    )


def history() -> list[HistoryEvent]:
    """Two approvals in one task, a cancel whose first task failed, and a late approval."""
    started = _event(
        1,
        0,
        event_type=EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(),
    )
    return [
        started,
        *_task(2, 1),
        _signal(4, 10, "approve", {"approver": "sam"}),
        _signal(5, 10.5, "approve", {"approver": " Maria ", "comment": "ok"}),
        *_task(6, 11),
        _signal(8, 20, "cancel", {"operator": "lee", "reason": "duplicate"}),
        *_task(9, 21, completed=False),
        *_task(11, 25),
        _signal(13, 30, "approve", {"approver": "sam"}),
    ]


def audit_log() -> list[AuditEntry]:
    return [
        # Before the signals: an earlier run's refusal, carried into this run's log.
        _entry(5, "sam", "approve", AuditOutcome.REFUSED, "from an earlier run"),
        _entry(11, "sam", "approve", AuditOutcome.REFUSED, "sam may approve up to 5,000.00"),
        _entry(11, "maria", "approve", AuditOutcome.ACCEPTED, "ok"),
        # The failed task's time: an operator's cancel through Temporal, not lee's signal.
        _entry(21, TEMPORAL_CANCELLATION, "cancel", AuditOutcome.ACCEPTED, "requested"),
        _entry(25, "lee", "cancel", AuditOutcome.REFUSED, "the claim is\n\x1b[2J already done"),
    ]


def signal_rows(rows: list[TimelineRow]) -> list[tuple[int, str, bool]]:
    return [(r.event_id, r.description, r.problem) for r in rows if r.kind is Kind.SIGNAL]


def test_signals_are_marked_accepted_or_refused_with_the_reason() -> None:
    """Each signal gets the entry of the task that handled it, by action and actor; the
    reason is one clean line; a signal the log does not hold keeps its plain row."""
    rows = timeline_rows(history(), audit_log())

    assert [
        (4, "approve signal by sam -> refused: sam may approve up to 5,000.00", True),
        (5, 'approve signal by Maria: "ok" -> accepted', False),
        (8, 'cancel signal by lee: "duplicate" -> refused: the claim is [2J already done', True),
        (13, "approve signal by sam", False),
    ] == signal_rows(rows)


def test_without_the_audit_log_signal_rows_are_as_before() -> None:
    """A history read from a file has no audit log: no signal is called refused or not."""
    plain = timeline_rows(history())

    assert timeline_rows(history(), []) == plain
    assert [False] * 4 == [problem for _, _, problem in signal_rows(plain)]
    assert all("->" not in text for _, text, _ in signal_rows(plain))


def test_an_entry_of_another_actor_or_action_is_never_taken() -> None:
    """A refusal of lee's approve does not mark sam's, nor a reject's the approve."""
    log = [
        _entry(11, "lee", "approve", AuditOutcome.REFUSED, "lee's"),
        _entry(11, "sam", "reject", AuditOutcome.REFUSED, "a reject"),
    ]

    assert ["approve signal by sam"] == [
        text for event_id, text, _ in signal_rows(timeline_rows(history(), log)) if event_id == 4
    ]


def test_an_unknown_signal_is_matched_under_its_printable_name() -> None:
    """The workflow audits `aprove` under the name as sent, control characters replaced."""
    events = [*history()[:3], _signal(4, 10, "aprove\x1b", {"approver": "sam"}), *_task(6, 11)]
    log = [_entry(11, "sam", "aprove\ufffd", AuditOutcome.REFUSED, "unknown signal")]

    [(_, text, problem)] = signal_rows(timeline_rows(events, log))

    assert (True, True) == (problem, text.endswith("-> refused: unknown signal"))
