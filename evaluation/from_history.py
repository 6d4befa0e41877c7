"""A finished review's history as an evaluation case: the claim, what people decided, what
the agent said then, and the tools' answers then.

Only a review that finished with a decision is a case: a run still going, one that
continued as new (its last run holds the decision), failed, was cancelled, or a what-if
dry run gives the reason it is not. A review that continued as new is read from its last
run, whose second input carries the review so far (evidence, assessment, notes); the
events of that run add to it. Reading never raises on what the history holds.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from history.decoding import decode_history
from history.replay import HistoryFileError, load_history, recorded_workflow_id
from history.timeline import decode_payload
from runtime.errors import UserFacingError
from runtime.settings import WORKFLOW_TYPE
from runtime.text import printable
from workflows.claim import Claim
from workflows.continuation import CarriedReview
from workflows.evaluation import (
    AGENT_DECIDER,
    MAX_SKIPPED_CHARS,
    EvalCase,
    FinalDecision,
    OriginalReview,
    Route,
)
from workflows.evidence import AGENT_TURN, AgentTurnRequest, AgentTurnResult, ClaimAssessment
from workflows.state import ClaimOutcome, OutcomeStatus, Step
from workflows.tools import SUBMIT_ASSESSMENT, TOOLS

# The search attribute each step change sets: how a history shows a claim waited for a person.
STEP_ATTRIBUTE = "ClaimStep"
# A folder holding more files than one evaluation can use is read no further than this.
MAX_FOLDER_ENTRIES = 100_000
# What one page of a folder reads and lists at most (see `cases_from_folder`).
MAX_FILES_PER_PAGE = 200
MAX_SKIPPED_PER_PAGE = 50
MAX_PAGE_BYTES = 1024 * 1024

_CLOSED_WITHOUT_DECISION = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: (
        "it continued as new; its last run holds the decision"
    ),
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "the review failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "the review was cancelled in Temporal",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "the review was terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "the review timed out",
}


@dataclass
class _Reading:
    """What the history shows so far, filled in event by event."""

    assessment: ClaimAssessment | None = None
    notes: Sequence[str] = ()
    awaited_person: bool = False


def case_from_history(history: WorkflowHistory) -> EvalCase | str:
    """The case a decoded, finished review's history stands for, or why it is none."""
    try:
        return _case(history)
    except (ValidationError, ValueError, TypeError, KeyError, IndexError) as error:
        return printable(f"not a readable review: {str(error)[:300]}")


def _case(history: WorkflowHistory) -> EvalCase | str:
    events = history.events
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        return "the history does not begin with the workflow's start"
    started = events[0].workflow_execution_started_event_attributes
    kind = started.workflow_type.name
    if kind != WORKFLOW_TYPE:
        return printable(f"it is a {kind[:100]}, not a review ({WORKFLOW_TYPE})")
    last = events[-1]
    if last.event_type in _CLOSED_WITHOUT_DECISION:
        return _CLOSED_WITHOUT_DECISION[last.event_type]
    if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        return "the review is still running"
    inputs = [decode_payload(p) for p in started.input.payloads]
    if not inputs or not isinstance(inputs[0], dict):
        return "its input is not a claim (is the history still encrypted?)"
    results = last.workflow_execution_completed_event_attributes.result.payloads
    result = decode_payload(results[0]) if results else None
    if not isinstance(result, dict):
        return "its result is not a decision (is the history still encrypted?)"
    outcome = ClaimOutcome.model_validate(result)
    if outcome.status in (OutcomeStatus.CANCELLED, OutcomeStatus.NEEDS_HUMAN):
        return f"it ended {outcome.status}, with no decision on the claim"
    reading = _Reading()
    evidence: dict[str, dict[str, Any]] = {}
    if len(inputs) > 1:
        _read_carried(CarriedReview.model_validate(inputs[1]), reading, evidence)
    _read_events(events, reading, evidence)
    claim = Claim.model_validate(inputs[0])
    decided_by_agent = outcome.decided_by == AGENT_DECIDER
    final = FinalDecision(
        status=outcome.status,
        payout_amount=outcome.payout_amount,
        decided_by=outcome.decided_by,
        route=Route.AUTO if decided_by_agent else Route.HUMAN,
    )
    assessment = reading.assessment
    route = (
        Route.AUTO
        if decided_by_agent and outcome.status is OutcomeStatus.COMPLETED
        else Route.HUMAN
        if reading.awaited_person
        else None
    )
    original = OriginalReview(
        recommendation=assessment.recommendation if assessment else None,
        payout_amount=assessment.payout_amount if assessment else None,
        route=route,
    )
    return EvalCase(
        case_id=claim.claim_id,
        claim=claim,
        final=final,
        original=original,
        notes=list(reading.notes)[-20:],
        recorded_evidence=evidence,
        tags=["from_history", outcome.status.value],
        workflow_id=history.workflow_id or None,
    )


def _read_carried(
    carried: CarriedReview, reading: _Reading, evidence: dict[str, dict[str, Any]]
) -> None:
    """What the runs before this one found, as the continued run carries it."""
    context = carried.state.context
    reading.assessment = context.assessment
    reading.notes = list(context.notes)
    reading.awaited_person = any(
        t.to_step is Step.AWAITING_MANAGER_APPROVAL for t in carried.state.transitions
    )
    if context.evidence is not None:
        for name, tool in TOOLS.items():
            found = getattr(context.evidence, tool.evidence_field)
            if found is not None:
                evidence[name] = found.model_dump(mode="json")


def _read_events(
    events: Sequence[HistoryEvent], reading: _Reading, evidence: dict[str, dict[str, Any]]
) -> None:
    """Tool answers, assessments, notes and waits for a person, in the order they happened."""
    scheduled: dict[int, tuple[str, Any]] = {}
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            attributes = event.activity_task_scheduled_event_attributes
            payloads = attributes.input.payloads
            scheduled[event.event_id] = (
                attributes.activity_type.name,
                decode_payload(payloads[0]) if payloads else None,
            )
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            name, request = scheduled.get(completed.scheduled_event_id, ("", None))
            payloads = completed.result.payloads
            answer = decode_payload(payloads[0]) if payloads else None
            if name in TOOLS and isinstance(answer, dict):
                evidence[name] = TOOLS[name].result.model_validate(answer).model_dump(mode="json")
            elif name == AGENT_TURN and isinstance(answer, dict):
                _read_turn(request, answer, reading)
        elif event.HasField("upsert_workflow_search_attributes_event_attributes"):
            fields = event.upsert_workflow_search_attributes_event_attributes
            step = fields.search_attributes.indexed_fields.get(STEP_ATTRIBUTE)
            value = decode_payload(step) if step is not None else None
            values = value if isinstance(value, list) else [value]
            if Step.AWAITING_MANAGER_APPROVAL.value in values:
                reading.awaited_person = True


def _read_turn(request: Any, answer: dict[str, Any], reading: _Reading) -> None:
    """The assessment a model turn submitted, with the staff notes that turn was given."""
    turn = AgentTurnResult.model_validate(answer)
    for call in turn.calls:
        if call.name != SUBMIT_ASSESSMENT:
            continue
        try:
            reading.assessment = ClaimAssessment.model_validate(call.arguments)
        except ValidationError:
            continue  # refused by the workflow too; the model was asked again
        if isinstance(request, dict):
            reading.notes = AgentTurnRequest.model_validate(request).notes


# -- a folder of exported histories ------------------------------------------------------


class HistoriesFolderError(UserFacingError):
    """The folder of histories itself cannot be read; the message names it."""


def history_files(folder: Path) -> list[str]:
    """The names of the .json files directly in `folder`, sorted: the order cases are read.

    Only the folder itself is listed (no walk into subfolders, so no link can loop it);
    each file is opened, and judged, when its page is read.
    """
    name = printable(str(folder))
    try:
        with os.scandir(folder) as entries:
            names = []
            for entry in entries:
                if entry.name.endswith(".json"):
                    names.append(entry.name)
                if len(names) >= MAX_FOLDER_ENTRIES:
                    break
    except FileNotFoundError:
        raise HistoriesFolderError(
            f"histories folder {name} does not exist; export histories into it with "
            "`claims history export CLAIM_ID FILE`"
        ) from None
    except NotADirectoryError:
        raise HistoriesFolderError(
            f"{name} is not a folder; give the folder that holds the exported histories"
        ) from None
    except OSError as error:
        raise HistoriesFolderError(
            f"histories folder {name} cannot be read ({error.strerror or error})"
        ) from None
    return sorted(names)


async def case_from_file(path: Path, converter: DataConverter) -> EvalCase | str:
    """The case an exported history file (encrypted or decrypted) stands for, or why not."""
    try:
        stored = await asyncio.to_thread(_load, path)
        history = await decode_history(stored, converter)
    except HistoryFileError as error:
        return printable(str(error))
    except UserFacingError as error:
        return printable(str(error))  # a payload whose key the ring does not hold
    except OSError as error:
        return printable(f"cannot read it: {error.strerror or error}")
    except (ValueError, TypeError) as error:
        return printable(f"not a readable history: {str(error)[:300]}")
    started = history.events[0].workflow_execution_started_event_attributes
    return case_from_history(
        WorkflowHistory(recorded_workflow_id(started, path.stem), history.events)
    )


def _load(path: Path) -> WorkflowHistory:
    """The stored history of a regular file (a link that loops or a folder is not one)."""
    if not path.is_file():
        raise HistoryFileError("not a regular file")
    return load_history(path, readable=(WORKFLOW_TYPE,))


async def cases_from_folder(
    folder: Path,
    converter: DataConverter,
    *,
    start: int = 0,
    count: int = 25,
) -> tuple[list[EvalCase], list[str], int | None]:
    """Up to `count` cases from the files of `folder` from the `start`-th on: the cases,
    each file skipped with why, and where the next page starts (None: the folder is done)."""
    names = history_files(folder)
    cases: list[EvalCase] = []
    skipped: list[str] = []
    not_listed = 0
    page_bytes = 0
    index = start
    # A page is one activity result and one activity's work: it also ends after
    # MAX_FILES_PER_PAGE files or once its cases pass MAX_PAGE_BYTES of JSON.
    while (
        index < len(names)
        and len(cases) < count
        and index - start < MAX_FILES_PER_PAGE
        and page_bytes < MAX_PAGE_BYTES
    ):
        name = names[index]
        index += 1
        found = await case_from_file(folder / name, converter)
        if isinstance(found, EvalCase):
            cases.append(found)
            page_bytes += len(found.model_dump_json().encode("utf-8"))
        elif len(skipped) < MAX_SKIPPED_PER_PAGE:
            skipped.append(f"{printable(name)}: {found}"[:MAX_SKIPPED_CHARS])
        else:
            not_listed += 1
    if not_listed:
        skipped.append(f"{not_listed:,} more files skipped, not listed")
    return cases, skipped, (index if index < len(names) else None)
