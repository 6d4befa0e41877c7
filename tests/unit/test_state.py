"""State transitions: one method moves the step, bumps the version and records why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.helpers import sample_claim
from workflows.state import ClaimState, InvalidTransitionError, Step

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def new_state() -> ClaimState:
    return ClaimState.begin(sample_claim(), workflow_id="claim-CLM-1002", at=T0, history_length=3)


def test_a_new_review_stands_at_intake_at_version_1() -> None:
    """The contract's fields are filled from the claim at the start."""
    state = new_state()

    assert (Step.INTAKE, 1, "claim-CLM-1002") == (
        state.current_step,
        state.version,
        state.workflow_id,
    )
    assert (Decimal(1250), ["D-1", "D-2"]) == (
        state.context.claim_amount,
        [d.doc_id for d in state.context.supporting_docs],
    )
    assert [(1, None, Step.INTAKE, 3)] == [
        (t.version, t.from_step, t.to_step, t.history_length) for t in state.transitions
    ]


def test_transition_bumps_version_and_records_the_history_event() -> None:
    """Each version names one point in history, for rollback and what-if reruns."""
    state = new_state()

    record = state.transition(
        Step.ASSESSING, reason="model turn 1", at=T0 + timedelta(seconds=1), history_length=9
    )

    assert (2, Step.INTAKE, Step.ASSESSING, "model turn 1", 9) == (
        record.version,
        record.from_step,
        record.to_step,
        record.reason,
        record.history_length,
    )
    assert (Step.ASSESSING, 2, record) == (
        state.current_step,
        state.version,
        state.transitions[-1],
    )


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [
        ([], Step.EXECUTING),
        ([], Step.GATHERING_EVIDENCE),
        ([Step.ASSESSING, Step.GATHERING_EVIDENCE], Step.EXECUTING),
        ([Step.ASSESSING, Step.ROUTING], Step.COMPLETED),
        ([Step.ASSESSING, Step.ROUTING, Step.EXECUTING, Step.COMPLETED], Step.EXECUTING),
    ],
)
def test_moves_the_process_forbids_are_refused_and_change_nothing(
    path: list[Step], forbidden: Step
) -> None:
    """Tools before the model, routing mid-tools, skipping routing, paying twice: all bugs."""
    state = new_state()
    for step in path:
        state.transition(step, reason="test", at=T0, history_length=1)
    before = state.model_copy(deep=True)

    with pytest.raises(InvalidTransitionError):
        state.transition(forbidden, reason="test", at=T0, history_length=1)

    assert before == state


def test_the_agent_loop_alternates_model_turns_and_tools() -> None:
    """assessing -> gathering_evidence -> assessing, each a version, then routing."""
    state = new_state()
    for step in (Step.ASSESSING, Step.GATHERING_EVIDENCE, Step.ASSESSING, Step.ASSESSING):
        state.transition(step, reason="test", at=T0, history_length=1)

    state.transition(Step.ROUTING, reason="assessment received", at=T0, history_length=1)

    assert 6 == state.version


def test_escalation_is_a_transition_within_the_wait() -> None:
    """Staying in awaiting_manager_approval still takes a new version."""
    state = new_state()
    for step in (Step.ASSESSING, Step.GATHERING_EVIDENCE, Step.ASSESSING, Step.ROUTING):
        state.transition(step, reason="test", at=T0, history_length=1)
    state.transition(
        Step.AWAITING_MANAGER_APPROVAL, reason="needs a human", at=T0, history_length=1
    )

    state.transition(Step.AWAITING_MANAGER_APPROVAL, reason="escalated", at=T0, history_length=2)

    assert (Step.AWAITING_MANAGER_APPROVAL, 7) == (state.current_step, state.version)


def test_state_document_uses_the_contract_field_names() -> None:
    """Outside tools read these names; they must not drift."""
    document = new_state().model_dump(mode="json")

    assert {
        "workflow_id",
        "current_step",
        "version",
        "context",
        "pending_actions",
        "llm_state",
        "transitions",
        "audit_log",
    } <= document.keys()
    assert {"claim_amount", "supporting_docs", "previous_decisions"} <= document["context"].keys()
    assert {"reasoning_trace", "tool_call_history"} == document["llm_state"].keys()
    assert 1250.0 == document["context"]["claim_amount"]
