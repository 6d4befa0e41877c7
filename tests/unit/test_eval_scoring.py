"""The evaluation report's numbers, each checked against a value computed by hand.

The set: eight decided claims, two candidates, and the original review as the baseline.

| case | claim      | final                          | original            |
| ---- | ---------- | ------------------------------ | ------------------- |
| C1   | 1000 EUR   | completed 1000, by the agent   | auto, approve 1000  |
| C2   | 2000 EUR   | completed 1500, maria (edited) | human, approve 2000 |
| C3   | 3000 EUR   | rejected, maria                | human, deny         |
| C4   | 500 EUR    | completed 500, sam (unchanged) | human, approve 500  |
| C5   | 8000 EUR   | rejected, maria                | human, refer        |
| C6   | 700 USD    | completed 700, by the agent    | auto, approve 700   |
| C7   | 1200 EUR   | cancelled, sam                 | (not known)         |
| C8   | 400 USD    | completed 300, sam (edited)    | human, approve 400  |

`careful` (openai:gpt-4o-mini at 0.15 / 0.60 dollars per million tokens):

| case | route, status, recommendation, payout | tokens in/out | ms  |
| ---- | ------------------------------------- | ------------- | --- |
| C1   | auto, completed, approve, pays 1000   | 1000 / 100    | 400 |
| C2   | human, approve, proposes 1800         | 1200 / 150    | 600 |
| C3   | human, deny                           | 900 / 90      | 500 |
| C4   | human, approve, proposes 500          | 800 / 80      | 300 |
| C5   | auto, completed, approve, pays 8000   | 1500 / 200    | 700 |
| C6   | error                                 | 1100 / 30     | 0   |
| C7   | human, refer                          | 500 / 50      | 200 |
| C8   | (no answer)                           |               |     |

`approve-all` (offline): every case auto, completed, approve, pays the claim amount,
500 / 50 tokens, C1..C8 taking 100, 200, ... 800 ms.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from evaluation.gates import failed_gates, parse_gates
from evaluation.pricing import MAX_PRICING_FILE_BYTES, Pricing, load_pricing
from evaluation.scoring import (
    DangerKind,
    DisagreementKind,
    EvalReport,
    percentile,
    score,
)
from runtime.errors import UserFacingError
from workflows.evaluation import (
    AGENT_DECIDER,
    Candidate,
    CandidateAnswer,
    CaseLabel,
    EvalResult,
    FinalDecision,
    OriginalReview,
    Route,
)
from workflows.evidence import Recommendation
from workflows.state import OutcomeStatus

AUTO, HUMAN = Route.AUTO, Route.HUMAN
DONE, REJECTED, CANCELLED = OutcomeStatus.COMPLETED, OutcomeStatus.REJECTED, OutcomeStatus.CANCELLED
APPROVE, DENY, REFER = Recommendation.APPROVE, Recommendation.DENY, Recommendation.REFER
WAITS = OutcomeStatus.NEEDS_HUMAN

# case, currency, claim amount, final (status, payout, route, decider), original, workflow id
_CASES: list[tuple[Any, ...]] = [
    ("C1", "EUR", 1000, (DONE, 1000, AUTO, AGENT_DECIDER), (APPROVE, 1000, AUTO), "claim-CLM-1"),
    ("C2", "EUR", 2000, (DONE, 1500, HUMAN, "maria"), (APPROVE, 2000, HUMAN), "claim-CLM-2"),
    ("C3", "EUR", 3000, (REJECTED, 0, HUMAN, "maria"), (DENY, None, HUMAN), "claim-CLM-3"),
    ("C4", "EUR", 500, (DONE, 500, HUMAN, "sam"), (APPROVE, 500, HUMAN), "claim-CLM-4"),
    ("C5", "EUR", 8000, (REJECTED, 0, HUMAN, "maria"), (REFER, None, HUMAN), "claim-CLM-5"),
    ("C6", "USD", 700, (DONE, 700, AUTO, AGENT_DECIDER), (APPROVE, 700, AUTO), "claim-CLM-6"),
    ("C7", "EUR", 1200, (CANCELLED, 0, HUMAN, "sam"), (None, None, None), None),
    ("C8", "USD", 400, (DONE, 300, HUMAN, "sam"), (APPROVE, 400, HUMAN), None),
]
# case -> route, status, recommendation, proposed, paid, tokens in, out, ms, error
_CAREFUL: dict[str, tuple[Any, ...]] = {
    "C1": (AUTO, DONE, APPROVE, 1000, 1000, 1000, 100, 400, ""),
    "C2": (HUMAN, WAITS, APPROVE, 1800, 0, 1200, 150, 600, ""),
    "C3": (HUMAN, WAITS, DENY, None, 0, 900, 90, 500, ""),
    "C4": (HUMAN, WAITS, APPROVE, 500, 0, 800, 80, 300, ""),
    "C5": (AUTO, DONE, APPROVE, 8000, 8000, 1500, 200, 700, ""),
    "C6": (None, None, None, None, 0, 1100, 30, 0, "the model never answered"),
    "C7": (HUMAN, WAITS, REFER, None, 0, 500, 50, 200, ""),
}


def _money(value: int | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def labels(case_ids: dict[str, str] | None = None) -> list[CaseLabel]:
    """The eight labels; `case_ids` renames some (to try hostile ids in reports)."""
    names = case_ids or {}
    return [
        CaseLabel(
            case_id=names.get(case, case),
            currency=currency,
            claim_amount=Decimal(amount),
            final=FinalDecision(
                status=status, payout_amount=Decimal(paid), route=route, decided_by=decider
            ),
            original=OriginalReview(
                recommendation=recommendation, payout_amount=_money(proposed), route=then
            ),
            workflow_id=workflow_id,
        )
        for case, currency, amount, (status, paid, route, decider), (
            recommendation,
            proposed,
            then,
        ), workflow_id in _CASES
    ]


def hand_computed_result(case_ids: dict[str, str] | None = None) -> EvalResult:
    """The set in this module's docstring, as the evaluation workflow would return it."""
    names = case_ids or {}
    answers = [
        CandidateAnswer(
            case_id=names.get(case, case),
            candidate="careful",
            workflow_id=f"eval-demo/careful/{case}",
            route=route,
            status=status,
            recommendation=recommendation,
            proposed_payout=_money(proposed),
            payout_amount=Decimal(paid),
            model="openai:gpt-4o-mini",
            input_tokens=tokens_in,
            output_tokens=tokens_out,
            model_ms=float(ms),
            error=error,
        )
        for case, (
            route,
            status,
            recommendation,
            proposed,
            paid,
            tokens_in,
            tokens_out,
            ms,
            error,
        ) in _CAREFUL.items()
    ]
    answers += [
        CandidateAnswer(
            case_id=names.get(case, case),
            candidate="approve-all",
            workflow_id=f"eval-demo/approve-all/{case}",
            route=AUTO,
            status=DONE,
            recommendation=APPROVE,
            proposed_payout=Decimal(amount),
            payout_amount=Decimal(amount),
            model="offline",
            input_tokens=500,
            output_tokens=50,
            model_ms=100.0 * index,
        )
        for index, (case, _, amount, *_rest) in enumerate(_CASES, start=1)
    ]
    return EvalResult(
        eval_id="demo",
        candidates=[
            Candidate(name="careful", llm="openai:gpt-4o-mini"),
            Candidate(
                name="approve-all", llm="offline", policy_overrides={"auto_approval_limit": 1e9}
            ),
        ],
        recorded_evidence=True,
        labels=labels(case_ids),
        answers=answers,
        skipped=["bad.json: not a decided claim"],
    )


@pytest.fixture
def report() -> EvalReport:
    return score(hand_computed_result(), Pricing())


def test_counts_of_cases_answers_and_errors(report: EvalReport) -> None:
    """careful: 7 answers of 8 cases, C6 failed, C8 unanswered; approve-all answered all 8."""
    careful, approve_all = report.candidates
    assert (8, 6, 1, 1) == (careful.cases, careful.answered, careful.errors, careful.unanswered)
    assert (8, 8, 0, 0) == (
        approve_all.cases,
        approve_all.answered,
        approve_all.errors,
        approve_all.unanswered,
    )
    assert (8, ["bad.json: not a decided claim"]) == (report.cases, report.skipped)


def test_route_and_recommendation_agreement(report: EvalReport) -> None:
    """careful: routes compared C1-C5, C7 (6), all agree but C5's auto: 5/6; recommendations
    C1 C2 C4 approve~completed, C3 deny~rejected, C7 refer~a person decided agree, C5's
    approve of a rejected claim does not: 5/6. approve-all: only C1 and C6 were auto: 2/8;
    approve agrees with the five completed claims C1 C2 C4 C6 C8: 5/8."""
    careful, approve_all = report.candidates
    assert (5, 6) == (careful.route.agree, careful.route.compared)
    assert (5, 6) == (careful.recommendation.agree, careful.recommendation.compared)
    assert careful.route.rate == pytest.approx(5 / 6)
    assert (2, 8) == (approve_all.route.agree, approve_all.route.compared)
    assert (5, 8) == (approve_all.recommendation.agree, approve_all.recommendation.compared)
    assert approve_all.recommendation.rate == pytest.approx(0.625)


def test_route_confusion_and_recommendation_table(report: EvalReport) -> None:
    """careful: auto/auto C1, auto/human C5, human/human C2 C3 C4 C7. approve: completed C1 C2
    C4, rejected C5; deny: rejected C3; refer: cancelled C7. approve-all: auto/auto C1 C6,
    auto/human the other six; approve: completed 5, rejected C3 C5, cancelled C7."""
    careful, approve_all = report.candidates
    assert {"auto": {"auto": 1, "human": 1}, "human": {"auto": 0, "human": 4}} == (
        careful.route_confusion
    )
    zero = {"completed": 0, "rejected": 0, "cancelled": 0}
    assert {
        "approve": {"completed": 3, "rejected": 1, "cancelled": 0},
        "deny": {"completed": 0, "rejected": 1, "cancelled": 0},
        "refer": {"completed": 0, "rejected": 0, "cancelled": 1},
        "none": zero,
    } == careful.recommendation_table
    assert {"auto": {"auto": 2, "human": 6}, "human": {"auto": 0, "human": 0}} == (
        approve_all.route_confusion
    )
    assert {
        "approve": {"completed": 5, "rejected": 2, "cancelled": 1},
        "deny": zero,
        "refer": zero,
        "none": zero,
    } == approve_all.recommendation_table


def test_dangerous_cells_with_what_would_be_overpaid(report: EvalReport) -> None:
    """careful auto-pays C5 (8000), which maria rejected. approve-all auto-pays C5 8000 and
    C3 3000 (rejected), C7 1200 (cancelled), C2 2000 where 1500 was paid (500 over) and C8
    400 USD where 300 was paid (100 over); C1 C4 C6 were paid in full, so not dangerous.
    Largest overpayment first."""
    careful, approve_all = report.candidates
    assert [("C5", DangerKind.REJECTED, Decimal(8000), Decimal(0), Decimal(8000))] == [
        (d.case_id, d.kind, d.candidate_payout, d.final_payout, d.overpaid)
        for d in careful.dangerous
    ]
    assert [
        ("C5", DangerKind.REJECTED, "EUR", Decimal(8000)),
        ("C3", DangerKind.REJECTED, "EUR", Decimal(3000)),
        ("C7", DangerKind.CANCELLED, "EUR", Decimal(1200)),
        ("C2", DangerKind.PAID_LESS, "EUR", Decimal(500)),
        ("C8", DangerKind.PAID_LESS, "USD", Decimal(100)),
    ] == [(d.case_id, d.kind, d.currency, d.overpaid) for d in approve_all.dangerous]


def test_needless_referrals(report: EvalReport) -> None:
    """careful sends C4 to a person, who approved 500 of 500 unchanged: needless. C2 went to
    a person who cut it to 1500 (not the claim's 2000, nor the 1800 proposed): needed. C3,
    C7 were not paid. approve-all sends nothing to a person."""
    careful, approve_all = report.candidates
    assert ["C4"] == careful.needless_referrals
    assert [] == approve_all.needless_referrals


def test_payout_error_per_currency(report: EvalReport) -> None:
    """Both paid, careful: C1 |1000-1000|=0, C2 |1800-1500|=300, C4 |500-500|=0 EUR: mean 100,
    max 300; no USD claim both paid (C6 failed, C8 unanswered). approve-all: EUR C1 0, C2 500,
    C4 0: mean 166.67, max 500; USD C6 0, C8 100: mean 50, max 100. Never summed."""
    careful, approve_all = report.candidates
    assert [("EUR", 3, Decimal("100.00"), Decimal("300.00"))] == [
        (e.currency, e.claims, e.mean_abs, e.max_abs) for e in careful.payout_error
    ]
    assert [
        ("EUR", 3, Decimal("166.67"), Decimal("500.00")),
        ("USD", 2, Decimal("50.00"), Decimal("100.00")),
    ] == [(e.currency, e.claims, e.mean_abs, e.max_abs) for e in approve_all.payout_error]


def test_tokens_cost_and_latency(report: EvalReport) -> None:
    """careful: 7 answers, 7000 tokens in and 700 out (1000 and 100 a claim); cost
    7000 x 0.15/1e6 + 700 x 0.60/1e6 = 0.00105 + 0.00042 = 0.00147 dollars, 0.00021 a claim.
    Latency over the six answers without error, [200 300 400 500 600 700]: mean 450, p50 the
    3rd (400), p90 the 6th (700). approve-all: 4000/400 tokens, offline costs 0; latency
    [100..800]: mean 450, p50 the 4th (400), p90 the 8th (800)."""
    careful, approve_all = report.candidates
    assert careful.usage is not None
    assert approve_all.usage is not None
    usage = careful.usage
    assert (7, 7000, 700, 1000.0, 100.0) == (
        usage.runs,
        usage.input_tokens,
        usage.output_tokens,
        usage.input_tokens_per_claim,
        usage.output_tokens_per_claim,
    )
    assert (Decimal("0.00147"), Decimal("0.00021"), "USD") == (
        usage.cost,
        usage.cost_per_claim,
        usage.cost_currency,
    )
    assert usage.latency is not None
    assert (450.0, 400.0, 700.0) == (
        usage.latency.mean_ms,
        usage.latency.p50_ms,
        usage.latency.p90_ms,
    )
    other = approve_all.usage
    assert (4000, 400, Decimal(0), Decimal(0)) == (
        other.input_tokens,
        other.output_tokens,
        other.cost,
        other.cost_per_claim,
    )
    assert other.latency is not None
    assert (450.0, 400.0, 800.0) == (
        other.latency.mean_ms,
        other.latency.p50_ms,
        other.latency.p90_ms,
    )


def test_an_unpriced_model_makes_the_cost_unknown_not_zero() -> None:
    """A model the price table does not know: cost None and the model named, tokens kept."""
    result = hand_computed_result()
    renamed = [
        a.model_copy(update={"model": "openai:brand-new"}) if a.candidate == "careful" else a
        for a in result.answers
    ]
    careful = score(result.model_copy(update={"answers": renamed}), Pricing()).candidates[0]
    assert careful.usage is not None
    assert (None, None, ["openai:brand-new"], 7000) == (
        careful.usage.cost,
        careful.usage.cost_per_claim,
        careful.usage.unpriced_models,
        careful.usage.input_tokens,
    )


def test_disagreements_dangerous_first_with_the_command_to_look(report: EvalReport) -> None:
    """careful: C5 dangerous (also route and recommendation), C4 needless, C6 failed, C8
    unanswered. approve-all: the five dangerous by overpayment, then C4 (route only)."""
    careful, approve_all = report.candidates
    assert [
        (
            "C5",
            [DisagreementKind.DANGEROUS, DisagreementKind.ROUTE, DisagreementKind.RECOMMENDATION],
        ),
        ("C4", [DisagreementKind.NEEDLESS_REFERRAL]),
        ("C6", [DisagreementKind.ERROR]),
        ("C8", [DisagreementKind.UNANSWERED]),
    ] == [(d.case_id, d.kinds) for d in careful.disagreements]
    first = careful.disagreements[0]
    assert ("claims show CLM-5", "eval-demo/careful/C5") == (
        first.show_command,
        first.run_workflow_id,
    )
    assert "route auto, completed, recommends approve, pays 8000.00 EUR" == first.candidate_did
    assert "rejected by a person" == first.happened
    assert careful.disagreements[3].show_command is None
    assert ["C5", "C3", "C7", "C2", "C8", "C4"] == [d.case_id for d in approve_all.disagreements]


def test_the_original_review_is_the_baseline(report: EvalReport) -> None:
    """The seven labels with an original review (not C7): every route and recommendation
    agrees (C5's refer went to a person); C4 was a needless referral; payout error EUR C2
    |2000-1500| = 500 over C1 C2 C4 (mean 166.67), USD C8 |400-300| = 100 over C6 C8 (mean
    50); no model usage is known for it."""
    baseline = report.baseline
    assert baseline is not None
    assert ("original", True, 7, 7) == (
        baseline.name,
        baseline.baseline,
        baseline.cases,
        baseline.answered,
    )
    assert ((7, 7), (7, 7)) == (
        (baseline.route.agree, baseline.route.compared),
        (baseline.recommendation.agree, baseline.recommendation.compared),
    )
    assert ([], ["C4"], None) == (baseline.dangerous, baseline.needless_referrals, baseline.usage)
    assert [
        ("EUR", Decimal("166.67"), Decimal("500.00")),
        ("USD", Decimal("50.00"), Decimal("100.00")),
    ] == [(e.currency, e.mean_abs, e.max_abs) for e in baseline.payout_error]


def test_no_baseline_without_original_reviews() -> None:
    """Labels that carry no original review give no baseline row."""
    result = hand_computed_result()
    bare = [
        label.model_copy(update={"original": type(label.original)()}) for label in result.labels
    ]
    assert score(result.model_copy(update={"labels": bare}), Pricing()).baseline is None


def test_a_candidate_that_approves_everything_is_caught_by_the_dangerous_gate(
    report: EvalReport,
) -> None:
    """`--fail-if dangerous>0` fails approve-all (5 dangerous cells), and `dangerous>1`
    fails it alone."""
    assert {"careful", "approve-all"} == {
        f.candidate for f in failed_gates(report, parse_gates(["dangerous>0"]))
    }
    failures = failed_gates(report, parse_gates(["dangerous>1"]))
    assert [("approve-all", Decimal(5))] == [(f.candidate, f.value) for f in failures]


def test_an_empty_evaluation_scores_without_error() -> None:
    """No cases, no answers: zero counts, rates and latency unknown, nothing raises."""
    result = EvalResult(
        eval_id="empty",
        candidates=[Candidate(name="a")],
        recorded_evidence=False,
        labels=[],
        answers=[],
    )
    only = score(result, Pricing()).candidates[0]
    assert (0, None, None, []) == (
        only.cases,
        only.route.rate,
        only.usage.latency if only.usage else "missing",
        only.disagreements,
    )


def test_answers_for_unknown_cases_or_candidates_are_ignored() -> None:
    """An answer naming a case or candidate the result does not have changes no number."""
    result = hand_computed_result()
    stray = CandidateAnswer(case_id="nope", candidate="careful", workflow_id="x", route=AUTO)
    ghost = CandidateAnswer(case_id="C8", candidate="ghost", workflow_id="y", route=AUTO)
    noisy = result.model_copy(update={"answers": [*result.answers, stray, ghost]})
    assert score(result, Pricing()) == score(noisy, Pricing())


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([5.0], 0.9, 5.0),
        ([1.0, 2.0], 0.5, 1.0),
        ([3.0, 1.0, 2.0], 0.9, 3.0),
        ([1.0, 2.0], 0.0, 1.0),
    ],
)
def test_percentiles_are_nearest_rank(
    values: list[float], fraction: float, expected: float
) -> None:
    """The smallest value with `fraction` of the values at or below it."""
    assert expected == percentile(values, fraction)


def test_prices_from_a_file_replace_the_table_s(tmp_path: Path) -> None:
    """A TOML file reprices a listed model and prices a new one; `openai:` is optional."""
    file = tmp_path / "prices.toml"
    file.write_text(
        '[models."openai:gpt-4o-mini"]\ninput_per_million = 1\noutput_per_million = 2\n'
        "[models.house-model]\ninput_per_million = 0.5\noutput_per_million = 0\n"
    )
    pricing = load_pricing(file)
    assert Decimal("0.000003") == pricing.cost("gpt-4o-mini", 1, 1)
    assert Decimal("0.0000005") == pricing.cost("house-model", 1, 7)
    assert Decimal("0.0000025") == pricing.cost("openai:gpt-4o", 1, 0)
    assert pricing.cost("openai:unlisted", 1, 1) is None
    assert Decimal(0) == pricing.cost("unlisted", 0, 0)
    as_json = tmp_path / "prices.json"
    as_json.write_text('{"models": {"gpt-x": {"input_per_million": 3, "output_per_million": 4}}}')
    assert Decimal("0.000007") == load_pricing(as_json).cost("openai:gpt-x", 1, 1)
    assert Decimal(0) == load_pricing(None).cost("offline", 10**6, 10**6)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("p.toml", "models = [", "is not valid TOML"),
        ("p.json", "{", "is not valid JSON"),
        ("p.json", '{"models": {"m": {"input_per_million": NaN}}}', "is not valid JSON"),
        ("p.toml", "[other]\nx = 1\n", "must hold one table, `models`"),
        ("p.json", "[1, 2]", "must hold one table, `models`"),
        ("p.json", '{"models": 3}', "`models` must be a table"),
        ("p.toml", "[models.m]\ninput_per_million = -1\noutput_per_million = 0\n", "models.m"),
        ("p.toml", '[models.m]\ninput_per_million = "1"\noutput_per_million = 0\n', "numbers"),
        ("p.toml", "[models.m]\ninput_per_million = true\noutput_per_million = 0\n", "numbers"),
        ("p.toml", "[models.m]\ninput_per_million = inf\noutput_per_million = 0\n", "numbers"),
        ("p.toml", "[models.m]\ninput_per_million = 1\n", "output_per_million"),
        ("p.toml", "[models.m]\ninput_per_million = 1\noutput_per_million = 1\nx = 2\n", "x"),
        (
            "p.toml",
            '[models."a\\u001bb"]\ninput_per_million = 1\noutput_per_million = 1\n',
            "printable",
        ),
        ("p.toml", "\xff", "not UTF-8"),
    ],
)
def test_a_bad_pricing_file_is_refused_naming_the_field(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    """Each wrong file is a plain error naming what to fix, never a traceback or a raw escape."""
    file = tmp_path / name
    file.write_bytes(content.encode("latin-1") if content == "\xff" else content.encode())
    with pytest.raises(UserFacingError) as refused:
        load_pricing(file)
    assert says in str(refused.value)
    assert "\x1b" not in str(refused.value)


def test_a_missing_or_huge_pricing_file_is_refused(tmp_path: Path) -> None:
    """A path that is not there, or a file past the size limit, is a plain error."""
    with pytest.raises(UserFacingError, match="cannot read pricing file"):
        load_pricing(tmp_path / "absent.toml")
    huge = tmp_path / "huge.toml"
    huge.write_text("#" * (MAX_PRICING_FILE_BYTES + 1))
    with pytest.raises(UserFacingError, match="keep only the models you price"):
        load_pricing(huge)


def test_a_case_or_an_answer_given_twice_counts_once() -> None:
    """A label listed twice is one case, in its first place with its first label; a
    repeated answer is one answer."""
    result = hand_computed_result()
    c1, c2, c3, c4, c5, *rest = result.labels
    c5_in_pounds = c5.model_copy(update={"currency": "GBP"})
    twice = result.model_copy(
        update={
            "labels": [c1, c5_in_pounds, c2, c3, c4, c5, *rest],
            "answers": [*result.answers, result.answers[0]],
        }
    )
    once = result.model_copy(update={"labels": [c1, c5_in_pounds, c2, c3, c4, *rest]})
    scored = score(twice, Pricing())
    assert score(once, Pricing()) == scored
    assert (8, "GBP") == (scored.cases, scored.candidates[0].dangerous[0].currency)


def test_odd_answers_are_scored_without_error() -> None:
    """An answer with a route but no status, or a label still waiting on a person, is
    compared as far as it goes and never raises."""
    result = hand_computed_result()
    odd_answer = result.answers[0].model_copy(update={"status": None, "recommendation": None})
    waiting = result.labels[1].model_copy(
        update={"final": result.labels[1].final.model_copy(update={"status": WAITS})}
    )
    odd = result.model_copy(
        update={
            "answers": [odd_answer, *result.answers[1:]],
            "labels": [result.labels[0], waiting, *result.labels[2:]],
        }
    )
    careful = score(odd, Pricing()).candidates[0]
    assert (6, 5) == (careful.route.compared, careful.recommendation.compared)
