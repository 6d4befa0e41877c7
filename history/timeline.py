"""A claim's event history as one timeline a reviewer or an on-call engineer can read.

`timeline_rows` is a pure function over history events: one row per happening that
matters (the claim arriving, each model turn and tool call, timers, people's signals and
updates, step changes, the outcome), none for the workflow-task bookkeeping around them.
Payloads are decoded as JSON, the project's data converter's encoding; whatever comes
from a payload is cleaned to one short printable line. A history does not say whether
the workflow refused a signal; given the claim's audit log, the rows of signals say
whether each was accepted or refused, and why. Rendering is the caller's
(`cli.timeline` draws a table whose every cell is literal text, so a claimant's or a
model's words are never read as markup).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import (
    EventType,
    RetryState,
    TimeoutType,
    WorkflowTaskFailedCause,
)
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent

from workflows import search_attributes as sa
from workflows.agent import summarize
from workflows.evidence import AGENT_TURN as MODEL_ACTIVITY
from workflows.people import person_key
from workflows.review_input import printable_name
from workflows.state import AuditEntry, AuditOutcome
from workflows.tools import TOOLS

# Who acts, in the order the workflow itself looks for it in a payload.
ACTOR_FIELDS = ("approver", "operator", "requested_by", "submitted_by")
TEXT_LIMIT = 160
REFUSAL_LIMIT = 100
# An audit entry's time is its workflow task's, kept to the microsecond; history's to the
# nanosecond.
_CLOCK_SLACK = timedelta(milliseconds=1)


class Kind(StrEnum):
    STARTED = "started"
    MODEL = "model"
    TOOL = "tool"
    ACTIVITY = "activity"
    TIMER = "timer"
    SIGNAL = "signal"
    UPDATE = "update"
    STEP = "step"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    TERMINATED = "terminated"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed out"
    CONTINUED = "continued"
    CANCEL_REQUEST = "cancel request"
    TASK_FAILURE = "task failure"
    MARKER = "marker"
    EVENT = "event"


@dataclass(frozen=True)
class TimelineRow:
    event_id: int
    at: datetime
    offset: timedelta
    kind: Kind
    description: str
    problem: bool = False


# Bookkeeping with no row of its own; activity and update outcomes are folded into the
# row of the event that began them.
_FOLDED = frozenset(
    {
        "workflow_task_scheduled_event_attributes",
        "workflow_task_started_event_attributes",
        "workflow_task_completed_event_attributes",
        "activity_task_started_event_attributes",
        "activity_task_completed_event_attributes",
        "activity_task_failed_event_attributes",
        "activity_task_timed_out_event_attributes",
        "activity_task_cancel_requested_event_attributes",
        "activity_task_canceled_event_attributes",
        "workflow_execution_update_completed_event_attributes",
    }
)
# Workflow task failures that are part of normal operation, not a fault.
_ROUTINE_TASK_FAILURES = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND: (
        "new events arrived while the worker finished the task; it ran again with them"
    ),
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_STICKY_TASK_QUEUE: (
        "the worker's cache was reset; the task ran again"
    ),
}


# -- formatting ------------------------------------------------------------------------


def format_span(span: timedelta) -> str:
    """0.42s, 12m 05s, 2h 05m, 3d 02:00 (days, then hours:minutes)."""
    seconds = max(span.total_seconds(), 0.0)
    if seconds < 60:
        return f"{seconds:.2f}s"
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s"


def format_offset(span: timedelta) -> str:
    return "+" + format_span(span)


def _clean(value: object, limit: int = TEXT_LIMIT) -> str:
    """One printable line of at most `limit` characters, whatever a payload held.

    Line breaks fold into spaces; control and format characters (terminal escapes,
    bidirectional overrides) are dropped, so no payload can redraw the screen.
    """
    text = "".join(ch for ch in " ".join(str(value).split()) if ch.isprintable())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _humanize(enum_name: str, prefix: str) -> str:
    return enum_name.removeprefix(prefix).replace("_", " ").lower()


def _money(amount: object, currency: object = "") -> str:
    if amount is None:
        return "amount unknown"
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return _clean(f"{amount} {currency}".strip())
    return _clean(f"{value:,.2f} {currency}".strip())


def _when(value: object) -> str:
    if not isinstance(value, str):
        return _clean(value)
    try:
        at = datetime.fromisoformat(value)
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError):  # not a time, or one UTC cannot hold (year 0 or 10000)
        return _clean(value)
    return f"{at:%Y-%m-%d %H:%M} UTC"


# -- payloads and failures ---------------------------------------------------------------


def decode_payload(payload: Payload) -> Any:
    """The payload's value if it is JSON (or null); None for anything else, such as
    an encrypted payload, which a timeline cannot and should not open."""
    encoding = payload.metadata.get("encoding", b"").decode(errors="replace")
    if not encoding.startswith("json/"):
        return None
    try:
        return json.loads(payload.data)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python can follow
        return None


def _first(payloads: Payloads) -> Any:
    return decode_payload(payloads.payloads[0]) if payloads.payloads else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def failure_text(failure: Failure) -> str:
    """The failure's message, with its type when the message does not already say it."""
    message = failure.message
    kind = (
        failure.application_failure_info.type
        if failure.HasField("application_failure_info")
        else ""
    )
    if failure.HasField("timeout_failure_info"):
        kind = (
            _humanize(TimeoutType.Name(failure.timeout_failure_info.timeout_type), "TIMEOUT_TYPE_")
            + " timeout"
        )
    if failure.HasField("cause") and failure.cause.message and failure.cause.message not in message:
        message = f"{message}: {failure.cause.message}" if message else failure.cause.message
    text = f"{kind}: {message}" if kind and kind not in message else message
    return _clean(text or "no message")


def _summary(event: HistoryEvent) -> str:
    if event.HasField("user_metadata") and event.user_metadata.HasField("summary"):
        value = decode_payload(event.user_metadata.summary)
        if isinstance(value, str):
            return _clean(value)
    return ""


def _actor(payload: Any) -> str:
    for name in ACTOR_FIELDS:
        value = _dict(payload).get(name)
        if isinstance(value, str) and value.strip():
            return _clean(value, 64)
    return ""


def _action_detail(payload: Any) -> str:
    """What a person's action said, in a few words: comment, reason, what was asked."""
    data = _dict(payload)
    parts: list[str] = []
    if data.get("assignee"):
        parts.append(f"to {_clean(data['assignee'], 64)}")
    if data.get("payout_amount") is not None:
        parts.append(f"payout {_money(data['payout_amount'])}")
    document = _dict(data.get("document"))
    if document:
        parts.append(_clean(f"{document.get('kind', 'document')} {document.get('doc_id', '')}"))
    for key in ("what", "information", "comment", "reason", "note"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            parts.append(f'"{_clean(value, 60)}"')
    return "; ".join(parts)


def _by(name: str, payload: Any, noun: str) -> str:
    actor = _actor(payload)
    who = f"{name} {noun} by {actor}" if actor else f"{name} {noun} naming nobody"
    detail = _action_detail(payload)
    return f"{who}: {detail}" if detail else who


# -- the index: what each beginning became --------------------------------------------


@dataclass
class _Activity:
    scheduled: HistoryEvent
    started: HistoryEvent | None = None
    closed: HistoryEvent | None = None
    cancel_requested: bool = False


@dataclass
class _Index:
    activities: dict[int, _Activity] = field(default_factory=dict)
    timers: dict[int, HistoryEvent] = field(default_factory=dict)
    updates: dict[int, HistoryEvent] = field(default_factory=dict)

    @classmethod
    def of(cls, events: Sequence[HistoryEvent]) -> _Index:
        index = cls()
        for event in events:
            which = event.WhichOneof("attributes")
            if which == "activity_task_scheduled_event_attributes":
                index.activities[event.event_id] = _Activity(event)
            elif which == "timer_started_event_attributes":
                index.timers[event.event_id] = event
            elif which == "workflow_execution_update_completed_event_attributes":
                accepted = event.workflow_execution_update_completed_event_attributes
                index.updates[accepted.accepted_event_id] = event
            elif which is not None and which.startswith("activity_task_"):
                activity = index.activities.get(getattr(event, which).scheduled_event_id)
                if activity is None:
                    continue
                if which == "activity_task_started_event_attributes":
                    activity.started = event
                elif which == "activity_task_cancel_requested_event_attributes":
                    activity.cancel_requested = True
                else:
                    activity.closed = event
        return index


# -- rows ------------------------------------------------------------------------------

Described = tuple[Kind, str, bool]


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def runs_timeline_rows(
    runs: Sequence[Sequence[HistoryEvent]], audit_log: Sequence[AuditEntry] | None = None
) -> list[TimelineRow]:
    """The rows of consecutive runs of one review, oldest run first, every offset counted
    from the first run's start: a review that rested at the approval gate reads as one
    story, the assessment in one run and the wait in the next.
    """
    runs = [events for events in runs if events]
    if not runs:
        return []
    start = _time(runs[0][0])
    return [row for events in runs for row in timeline_rows(events, audit_log, start=start)]


def timeline_rows(
    events: Sequence[HistoryEvent],
    audit_log: Sequence[AuditEntry] | None = None,
    *,
    start: datetime | None = None,
) -> list[TimelineRow]:
    """One row per meaningful event of a history, in history order.

    `audit_log` (the claim's, from its `state` query) marks each signal the workflow
    recorded as accepted or refused: in the history alone a refused signal looks exactly
    like an accepted one. Signals it does not find there (a history read from a file, a
    refusal past the audit log's limit) keep their plain row. Offsets count from `start`
    (by default, the history's first event).
    """
    if not events:
        return []
    index = _Index.of(events)
    outcomes = _signal_outcomes(events, audit_log) if audit_log else {}
    start = start or _time(events[0])
    model_turns = 0
    rows: list[TimelineRow] = []
    for event in events:
        which = event.WhichOneof("attributes")
        if which is None or which in _FOLDED:
            continue
        described: Described | None
        if which == "activity_task_scheduled_event_attributes":
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if name == MODEL_ACTIVITY:
                model_turns += 1
            described = _activity(index.activities[event.event_id], model_turns)
        else:
            described = _describe(event, which, index)
        if described is None:
            continue
        kind, text, problem = described
        entry = outcomes.get(event.event_id)
        if entry is not None and kind is Kind.SIGNAL:
            if entry.outcome is AuditOutcome.REFUSED:
                text, problem = f"{text} -> refused: {_clean(entry.detail, REFUSAL_LIMIT)}", True
            else:
                text = f"{text} -> accepted"
        at = _time(event)
        rows.append(TimelineRow(event.event_id, at, at - start, kind, text, problem))
    return rows


# -- what the workflow made of each signal, from the audit log --------------------------


@dataclass(frozen=True)
class _Message:
    """A signal or an accepted update, and when the workflow can have recorded it."""

    event_id: int
    action: str
    actor: str
    earliest: datetime
    latest: datetime | None


def _signal_outcomes(
    events: Sequence[HistoryEvent], audit_log: Sequence[AuditEntry]
) -> dict[int, AuditEntry]:
    """The audit entry of each signal (and accepted update), by the event that carried it.

    The workflow records every signal it takes, accepted or refused, with its own clock:
    the start of the workflow task that handled it, the first completed one after the
    signal (an update's, the last one before its acceptance). Entries are matched in
    order by action, actor and that time, so a refusal from an earlier run (the audit log
    is carried across runs) or an operator's cancel through Temporal never lands on a
    signal. Updates take part so that their entries are not given to a signal of the
    same name handled in the same task.
    """
    task_starts = _completed_task_starts(events)
    messages: list[_Message] = []
    for event in events:
        which = event.WhichOneof("attributes")
        if which == "workflow_execution_signaled_event_attributes":
            signal = event.workflow_execution_signaled_event_attributes
            handled = next((t for i, t in task_starts if i > event.event_id), None)
            messages.append(
                _Message(
                    event.event_id,
                    printable_name(signal.signal_name),
                    _actor_key(_first(signal.input)),
                    _time(event) - _CLOCK_SLACK,
                    handled + _CLOCK_SLACK if handled else None,
                )
            )
        elif which == "workflow_execution_update_accepted_event_attributes":
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            before = [t for i, t in task_starts if i < event.event_id]
            earliest = before[-1] if before else _time(events[0])
            messages.append(
                _Message(
                    event.event_id,
                    printable_name(request.input.name),
                    _actor_key(_first(request.input.args)),
                    earliest - _CLOCK_SLACK,
                    _time(event) + _CLOCK_SLACK,
                )
            )
    candidates = [
        e for e in audit_log if e.outcome in (AuditOutcome.ACCEPTED, AuditOutcome.REFUSED)
    ]
    taken: set[int] = set()
    found: dict[int, AuditEntry] = {}
    for message in messages:
        for number, entry in enumerate(candidates):
            if (
                number not in taken
                and entry.action == message.action
                and _actor_key(entry.actor) == message.actor
                and message.earliest <= _utc(entry.at)
                and (message.latest is None or _utc(entry.at) <= message.latest)
            ):
                taken.add(number)
                found[message.event_id] = entry
                break
    return found


def _completed_task_starts(events: Sequence[HistoryEvent]) -> list[tuple[int, datetime]]:
    """(started event id, start time) of each workflow task that completed, in order:
    the times the workflow's clock can read."""
    times = {
        e.event_id: _time(e) for e in events if e.HasField("workflow_task_started_event_attributes")
    }
    starts = []
    for event in events:
        if event.HasField("workflow_task_completed_event_attributes"):
            started = event.workflow_task_completed_event_attributes.started_event_id
            if started in times:
                starts.append((started, times[started]))
    return starts


def _actor_key(value: Any) -> str:
    """Who a payload (or an audit entry) names, as the workflow compares people."""
    if isinstance(value, str):
        name = value
    else:
        data = _dict(value)
        name = next(
            (v for v in (data.get(f) for f in ACTOR_FIELDS) if isinstance(v, str) and v.strip()),
            "unknown",
        )
    return person_key(printable_name(name))


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _describe(event: HistoryEvent, which: str, index: _Index) -> Described | None:
    match which:
        case "workflow_execution_started_event_attributes":
            return _started(event)
        case "timer_started_event_attributes":
            timer = event.timer_started_event_attributes
            label = _summary(event) or f"timer {timer.timer_id}"
            fires_in = format_span(timer.start_to_fire_timeout.ToTimedelta())
            return Kind.TIMER, f"{label}: set for {fires_in}", False
        case "timer_fired_event_attributes" | "timer_canceled_event_attributes":
            return _timer_end(event, which, index)
        case "workflow_execution_signaled_event_attributes":
            signal = event.workflow_execution_signaled_event_attributes
            payload = _first(signal.input)
            return Kind.SIGNAL, _by(_clean(signal.signal_name, 64), payload, "signal"), False
        case "workflow_execution_update_accepted_event_attributes":
            return _update(event, index)
        case "workflow_execution_update_rejected_event_attributes":
            rejected = event.workflow_execution_update_rejected_event_attributes
            request = rejected.rejected_request.input
            who = _by(_clean(request.name, 64), _first(request.args), "update")
            return Kind.UPDATE, f"{who} -> rejected: {failure_text(rejected.failure)}", True
        case "workflow_execution_update_admitted_event_attributes":
            request = event.workflow_execution_update_admitted_event_attributes.request.input
            who = _by(_clean(request.name, 64), _first(request.args), "update")
            return Kind.UPDATE, f"{who} -> admitted, waiting for a worker", False
        case "upsert_workflow_search_attributes_event_attributes":
            return _search_attributes(event)
        case "workflow_execution_completed_event_attributes":
            return _completed(event)
        case "workflow_execution_failed_event_attributes":
            failure = event.workflow_execution_failed_event_attributes.failure
            return Kind.FAILED, f"review failed: {failure_text(failure)}", True
        case "workflow_execution_terminated_event_attributes":
            terminated = event.workflow_execution_terminated_event_attributes
            who = _clean(terminated.identity, 64) or "someone"
            reason = _clean(terminated.reason) or "no reason given"
            return Kind.TERMINATED, f"terminated by {who}: {reason}", True
        case "workflow_execution_canceled_event_attributes":
            return Kind.CANCELLED, "review cancelled through Temporal", True
        case "workflow_execution_timed_out_event_attributes":
            return Kind.TIMED_OUT, "review timed out (workflow execution timeout)", True
        case "workflow_execution_continued_as_new_event_attributes":
            new_run = event.workflow_execution_continued_as_new_event_attributes
            return Kind.CONTINUED, f"continued as new run {new_run.new_execution_run_id}", False
        case "workflow_execution_cancel_requested_event_attributes":
            cancel = event.workflow_execution_cancel_requested_event_attributes
            who = _clean(cancel.identity, 64) or "someone"
            cause = f": {_clean(cancel.cause)}" if cancel.cause else ""
            # An operator's cancel through Temporal: the review handles it like its own.
            return Kind.CANCEL_REQUEST, f"cancellation requested by {who}{cause}", False
        case "workflow_task_failed_event_attributes":
            return _task_failed(event)
        case "workflow_task_timed_out_event_attributes":
            timed_out = event.workflow_task_timed_out_event_attributes
            how = _humanize(TimeoutType.Name(timed_out.timeout_type), "TIMEOUT_TYPE_")
            text = f"workflow task timed out ({how}): no worker finished it in time"
            return Kind.TASK_FAILURE, text, True
        case "marker_recorded_event_attributes":
            return _marker(event)
    name = _humanize(EventType.Name(event.event_type), "EVENT_TYPE_")
    return Kind.EVENT, name, False


def _started(event: HistoryEvent) -> Described:
    started = event.workflow_execution_started_event_attributes
    claim = _dict(_first(started.input))
    if claim.get("claim_id"):
        text = (
            f"claim {_clean(claim['claim_id'], 64)}: "
            f"{_money(claim.get('amount'), claim.get('currency', ''))}"
        )
        if claim.get("category"):
            text += f" {_clean(claim['category'], 32)}"
        if claim.get("submitted_by"):
            text += f", submitted by {_clean(claim['submitted_by'], 64)}"
    else:
        text = _summary(event) or f"{started.workflow_type.name} started"
    if started.attempt > 1:
        text += f" (attempt {started.attempt})"
    if started.continued_execution_run_id:
        text += f" (continued from run {started.continued_execution_run_id})"
        carried = _carried(_indexed_values(started.search_attributes.indexed_fields))
        if carried:
            text += f"; {carried}"
    return Kind.STARTED, text, False


def _activity(activity: _Activity, model_turns: int) -> Described:
    scheduled = activity.scheduled
    name = scheduled.activity_task_scheduled_event_attributes.activity_type.name
    summary = _summary(scheduled)
    if name == MODEL_ACTIVITY:
        kind = Kind.MODEL
        turn = re.fullmatch(r"model turn (\d+)", summary, flags=re.IGNORECASE)
        title = f"model turn {turn.group(1) if turn else model_turns}"
    elif name in TOOLS:
        kind = Kind.TOOL
        title = name if summary in ("", name) else f"{name}: {summary}"
    else:
        kind = Kind.ACTIVITY
        title = name if summary in ("", name) else f"{name}: {summary}"
    outcome, problem = _activity_outcome(activity, name)
    return kind, f"{title} -> {outcome}", problem


def _activity_outcome(activity: _Activity, name: str) -> tuple[str, bool]:
    started = activity.started.activity_task_started_event_attributes if activity.started else None
    attempts = started.attempt if started else 1
    retried = ""
    if started is not None and attempts > 1:
        last = failure_text(started.last_failure) if started.HasField("last_failure") else ""
        retried = f" on attempt {attempts}" + (f" (before: {last})" if last else "")
    closed = activity.closed
    if closed is None:
        if activity.cancel_requested:
            return "cancel requested, not finished yet", False
        return "not finished yet" + retried, False
    took = format_span(_time(closed) - _time(activity.scheduled))
    which = closed.WhichOneof("attributes")
    if which == "activity_task_completed_event_attributes":
        result = _activity_result(
            name, _first(closed.activity_task_completed_event_attributes.result)
        )
        return f"done in {took}{retried}" + (f": {result}" if result else ""), False
    if which == "activity_task_failed_event_attributes":
        failed = closed.activity_task_failed_event_attributes
        how = _humanize(RetryState.Name(failed.retry_state), "RETRY_STATE_")
        text = f"failed after {took}, attempt {attempts} ({how}): {failure_text(failed.failure)}"
        return text, True
    if which == "activity_task_timed_out_event_attributes":
        timed_out = closed.activity_task_timed_out_event_attributes
        return (
            f"timed out after {took}, attempt {attempts}: {failure_text(timed_out.failure)}",
            True,
        )
    return f"cancelled after {took}", False


def _activity_result(name: str, result: Any) -> str:
    """A few words on what an activity found; empty when there is nothing to say."""
    data = _dict(result)
    if name == MODEL_ACTIVITY:
        call = _dict(data.get("call"))
        return _clean(call.get("response_summary", "")) if call else ""
    spec = TOOLS.get(name)
    if spec is not None and data:
        try:
            return _clean(summarize(spec.result.model_validate(data)))
        except (ValidationError, ValueError, TypeError):
            return ""
    if data.get("payout_id"):
        again = " (already paid earlier: not paid twice)" if data.get("already_paid") else ""
        return f"payout {_clean(data['payout_id'], 40)}{again}"
    if data.get("notice_id"):
        again = " (already sent earlier: not sent twice)" if data.get("already_sent") else ""
        return f"notice {_clean(data['notice_id'], 40)}{again}"
    return ""


def _timer_end(event: HistoryEvent, which: str, index: _Index) -> Described:
    ended = getattr(event, which)
    started = index.timers.get(ended.started_event_id)
    label = (_summary(started) if started else "") or _summary(event) or f"timer {ended.timer_id}"
    waited = format_span(_time(event) - _time(started)) if started else ""
    if which == "timer_fired_event_attributes":
        return Kind.TIMER, f"{label}: fired" + (f" after {waited}" if waited else ""), False
    return Kind.TIMER, f"{label}: cancelled" + (f" after {waited}" if waited else ""), False


def _update(event: HistoryEvent, index: _Index) -> Described:
    accepted = event.workflow_execution_update_accepted_event_attributes
    request = accepted.accepted_request.input
    who = _by(_clean(request.name, 64), _first(request.args), "update")
    completed = index.updates.get(event.event_id)
    if completed is None:
        return Kind.UPDATE, f"{who} -> accepted, not finished yet", False
    outcome = completed.workflow_execution_update_completed_event_attributes.outcome
    if outcome.HasField("failure"):
        return Kind.UPDATE, f"{who} -> refused: {failure_text(outcome.failure)}", True
    result = _dict(_first(outcome.success))
    if "version" in result:
        now = f", now {_clean(result['current_step'], 40)}" if result.get("current_step") else ""
        return Kind.UPDATE, f"{who} -> accepted as version {_clean(result['version'])}{now}", False
    return Kind.UPDATE, f"{who} -> accepted", False


def _search_attributes(event: HistoryEvent) -> Described | None:
    """Where the claim moved, as its search attributes say; the step if it changed."""
    fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
    values = _indexed_values(fields.indexed_fields)
    step = values.get(sa.CLAIM_STEP.name)
    waiting = _waiting(values)
    if step:
        text = f"step -> {_clean(step, 64)}"
        return Kind.STEP, "; ".join([text, waiting]) if waiting else text, False
    if waiting:
        return Kind.WAITING, waiting, False
    if values.get(sa.AWAITING_HUMAN.name) is False:
        return Kind.WAITING, "no longer waiting on a person", False
    return None


def _indexed_values(fields: Mapping[str, Payload]) -> dict[str, Any]:
    return {name: decode_payload(payload) for name, payload in fields.items()}


def _waiting(values: Mapping[str, Any]) -> str:
    """`waiting on approvers, deadline 2026-12-05 03:43`, or empty when no one is awaited."""
    waiting = []
    if values.get(sa.ASSIGNEE.name):
        waiting.append(f"waiting on {_clean(values[sa.ASSIGNEE.name], 64)}")
    if values.get(sa.CLAIM_DEADLINE.name):
        waiting.append(f"deadline {_when(values[sa.CLAIM_DEADLINE.name])}")
    return ", ".join(waiting)


def _carried(values: Mapping[str, Any]) -> str:
    """The step and the wait a continued run inherits in its search attributes: where it
    picks up, even when the run it continued from is gone or ends short. Empty when it
    inherits neither."""
    step = values.get(sa.CLAIM_STEP.name)
    waiting = _waiting(values)
    if not step:
        return f"carries on: {waiting}" if waiting else ""
    at = f"carries on at {_clean(step, 64)}"
    return f"{at}, {waiting}" if waiting else at


def _completed(event: HistoryEvent) -> Described:
    result = _dict(_first(event.workflow_execution_completed_event_attributes.result))
    if not result.get("status"):
        return Kind.COMPLETED, "review completed", False
    text = f"outcome {_clean(result['status'], 32)}"
    if result.get("decided_by"):
        text += f", decided by {_clean(result['decided_by'], 64)}"
    if result.get("payout_amount") is not None:
        text += f", payout {_money(result['payout_amount'], result.get('currency', ''))}"
    if result.get("reason"):
        text += f': "{_clean(result["reason"], 60)}"'
    return Kind.COMPLETED, text, False


def _task_failed(event: HistoryEvent) -> Described:
    failed = event.workflow_task_failed_event_attributes
    cause = _humanize(WorkflowTaskFailedCause.Name(failed.cause), "WORKFLOW_TASK_FAILED_CAUSE_")
    routine = _ROUTINE_TASK_FAILURES.get(failed.cause)
    if routine is not None:
        return Kind.TASK_FAILURE, f"workflow task failed ({cause}): {routine}", False
    message = failure_text(failed.failure) if failed.HasField("failure") else ""
    text = f"workflow task failed ({cause})" + (f": {message}" if message else "")
    return Kind.TASK_FAILURE, text + "; the worker retries it until it succeeds", True


def _marker(event: HistoryEvent) -> Described:
    marker = event.marker_recorded_event_attributes
    if marker.marker_name == "core_local_activity" and "data" in marker.details:
        data = _dict(_first(marker.details["data"]))
        name = _clean(data.get("activity_type", "local activity"), 64)
        if marker.HasField("failure"):
            return Kind.ACTIVITY, f"{name} (local) -> failed: {failure_text(marker.failure)}", True
        return Kind.ACTIVITY, f"{name} (local) -> done", False
    if marker.marker_name == "core_patch" and "patch-data" in marker.details:
        data = _dict(_first(marker.details["patch-data"]))
        return Kind.MARKER, f"code version marker {_clean(data.get('id', '?'), 64)}", False
    return Kind.MARKER, f"marker {_clean(marker.marker_name, 64)}", False
