"""What an evaluation keeps: one dry run id per case and candidate, never shared, and
answers, labels and skipped entries within the size of one payload."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from cli.eval_command import new_eval_id
from workflows.evaluation import (
    ANSWER_BYTES_MAX,
    EVAL_ID_PATTERN,
    MAX_SKIPPED_LISTED,
    PROGRESS_BYTES_BUDGET,
    CandidateAnswer,
    CaseLabel,
    EvalProgress,
    FinalDecision,
    Route,
    child_workflow_id,
)
from workflows.evidence import Recommendation
from workflows.state import OutcomeStatus


def test_a_plain_case_id_is_kept_as_it_is() -> None:
    """A case id already fit for a workflow id reads as itself in the run's id."""
    assert "eval-e1/current/CLM-1001" == child_workflow_id("e1", "current", "CLM-1001")


@pytest.mark.parametrize(
    "cases",
    [
        ("a b", "a_b"),
        ("a b", "a/b"),
        ("a b", "a\tb"),
        ("ä", "ö"),
        ("x y", "x_y"),
    ],
)
def test_case_ids_that_differ_get_different_runs(cases: tuple[str, str]) -> None:
    """Two cases whose ids differ only in characters a workflow id does not take are two
    dry runs: one id for both would fail the second start, and with it the evaluation."""
    first, second = (child_workflow_id("e1", "current", case) for case in cases)
    assert first != second


def test_a_rewritten_case_id_cannot_take_a_plain_one_s_id() -> None:
    """The id of a case whose id was rewritten cannot be any plain case's id."""
    rewritten = child_workflow_id("e1", "current", "a b")
    plain_part = rewritten.removeprefix("eval-e1/current/")
    assert not re.fullmatch(r"[A-Za-z0-9._-]+", plain_part)


def _worst_answer() -> CandidateAnswer:
    return CandidateAnswer(
        case_id="\x01" * 64,
        candidate="c" * 32,
        workflow_id=child_workflow_id("e" * 64, "c" * 32, "\x01" * 64),
        route=Route.AUTO,
        status=OutcomeStatus.COMPLETED,
        recommendation=Recommendation.APPROVE,
        proposed_payout=Decimal("999999999999.99"),
        payout_amount=Decimal("999999999999.99"),
        confidence=0.123456789012345,
        model="\x01" * 5000,
        model_turns=10**9,
        tool_calls=10**9,
        input_tokens=10**12,
        output_tokens=10**12,
        model_ms=1e15,
        error="\x01" * 100_000,
    )


def test_an_answer_kept_by_the_evaluation_has_a_bounded_size() -> None:
    """The evaluation keeps up to 2,000 answers in one payload; each kept answer, whatever
    its error or model name, takes at most ANSWER_BYTES_MAX bytes of JSON."""
    kept = _worst_answer().bounded()
    assert len(kept.model_dump_json().encode("utf-8")) <= ANSWER_BYTES_MAX
    assert kept.error.startswith("\x01")


def test_the_evaluation_lists_a_bounded_number_of_skipped_entries() -> None:
    """A source of 100,000 unusable entries lists the first ones and counts the rest."""
    progress = EvalProgress()
    for index in range(100_000):
        progress.skip(f"file{index}.json: not a readable history")
    assert MAX_SKIPPED_LISTED + 1 == len(progress.skipped)
    assert progress.skipped[-1].startswith(f"{100_000 - MAX_SKIPPED_LISTED:,} more")


def test_the_worst_full_evaluation_fits_a_payload() -> None:
    """Cases with the longest fields: the evaluation takes cases while its carried state,
    with a worst-case answer for every rerun still to come, fits the budget; the budget
    stays below Temporal's 2 MB payload limit."""
    label = CaseLabel(
        case_id="\x01" * 64,
        currency="USD",
        claim_amount=Decimal("999999999999.99"),
        final=FinalDecision(status=OutcomeStatus.REJECTED, decided_by="é" * 200, route=Route.HUMAN),
        tags=["t" * 64] * 20,
        workflow_id="w" * 200,
    )
    progress = EvalProgress()
    taken = 0
    while progress.room_for(label, candidates=4, budget=PROGRESS_BYTES_BUDGET):
        progress.labels.append(label)
        progress.answers.extend(_worst_answer().bounded() for _ in range(4))
        taken += 1
    assert 0 < taken < 500
    assert len(progress.model_dump_json().encode("utf-8")) <= PROGRESS_BYTES_BUDGET
    assert PROGRESS_BYTES_BUDGET <= 1_600_000


def test_evaluations_started_without_an_id_in_the_same_second_get_two_ids() -> None:
    """Two `claims eval` runs without --id in one second are two evaluations: one id
    would reopen the first, and report (and gate) its settings for the second's."""
    ids = {new_eval_id() for _ in range(20)}
    assert 20 == len(ids)
    assert all(re.fullmatch(EVAL_ID_PATTERN, eval_id) for eval_id in ids)
