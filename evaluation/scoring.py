"""An evaluation's result measured against what people decided: the report's numbers.

Pure: no I/O, no clock. Every rule a number follows is stated here once:

- **route agreement**: the candidate's route (auto / human) equals the final route.
- **recommendation agreement**: approve agrees with a claim finally completed, deny with
  one rejected, refer (send to a person) with one a person decided. Cases without a
  recommendation are not compared.
- **dangerous**: the candidate would auto-approve (route auto, status completed) a claim
  that was finally not paid (rejected, or cancelled) or was paid less than the candidate
  would pay; the difference is what the candidate would have overpaid.
- **needless referral**: the candidate sends to a person a claim that was fine: finally
  completed and either decided by the agent, or paid in full (the claim amount, the
  candidate's proposed payout, or the original review's proposal approved unchanged).
- **payout error**: over claims both paid (the candidate pays, or recommends approve with
  a payout, and the claim was finally completed): |candidate - final|, per currency,
  never summed across currencies.
- **usage**: tokens and cost count every answer (a failed rerun spent its tokens too);
  latency counts answers without an error. p50 and p90 are nearest-rank percentiles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from evaluation.pricing import Pricing
from workflows.claim import Money
from workflows.evaluation import (
    AGENT_DECIDER,
    CandidateAnswer,
    CaseLabel,
    EvalResult,
    Route,
)
from workflows.evidence import Recommendation
from workflows.state import OutcomeStatus

BASELINE_NAME = "original"
_CENT = Decimal("0.01")
# Costs are fractions of a cent per claim: exact in memory, a JSON number on the wire.
Cost = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
NO_RECOMMENDATION = "none"


class DangerKind(StrEnum):
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    PAID_LESS = "paid_less"


class DisagreementKind(StrEnum):
    """Why a case is listed, in the order the list puts them."""

    DANGEROUS = "dangerous"
    NEEDLESS_REFERRAL = "needless_referral"
    ERROR = "error"
    UNANSWERED = "unanswered"
    ROUTE = "route"
    RECOMMENDATION = "recommendation"


class Agreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    agree: int
    compared: int

    @property
    def rate(self) -> float | None:
        return self.agree / self.compared if self.compared else None


class DangerousCase(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    kind: DangerKind
    currency: str
    candidate_payout: Money
    final_payout: Money
    # What the candidate would have paid beyond what was finally paid.
    overpaid: Money
    workflow_id: str | None = None


class PayoutError(BaseModel):
    """Payout error over the claims both paid, in one currency."""

    model_config = ConfigDict(frozen=True)

    currency: str
    claims: int
    mean_abs: Money
    max_abs: Money
    # Every claim's absolute error, smallest first (the report's histogram).
    abs_errors: list[Money] = Field(default_factory=list)


class Latency(BaseModel):
    model_config = ConfigDict(frozen=True)

    mean_ms: float
    p50_ms: float
    p90_ms: float


class Usage(BaseModel):
    model_config = ConfigDict(frozen=True)

    runs: int
    input_tokens: int
    output_tokens: int
    input_tokens_per_claim: float | None
    output_tokens_per_claim: float | None
    # None when a model without a price was used: unknown, not free.
    cost: Cost | None
    cost_per_claim: Cost | None
    cost_currency: str
    unpriced_models: list[str] = Field(default_factory=list)
    latency: Latency | None = None


class Disagreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    kinds: list[DisagreementKind]
    candidate_did: str
    happened: str
    # The original review, for `claims show`; None for generated cases.
    workflow_id: str | None = None
    show_command: str | None = None
    # The candidate's own dry run, kept in Temporal for inspection.
    run_workflow_id: str | None = None
    overpaid: Money | None = None


class CandidateReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    baseline: bool = False
    llm: str | None = None
    prompt_version: str | None = None
    policy_overrides: dict[str, Any] = Field(default_factory=dict)
    cases: int
    answered: int
    errors: int
    unanswered: int
    route: Agreement
    recommendation: Agreement
    # confusion[candidate route][final route] -> cases
    route_confusion: dict[str, dict[str, int]]
    # table[recommendation or "none"][final status] -> cases
    recommendation_table: dict[str, dict[str, int]]
    dangerous: list[DangerousCase]
    needless_referrals: list[str]
    payout_error: list[PayoutError]
    usage: Usage | None
    disagreements: list[Disagreement]


class EvalReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    eval_id: str
    recorded_evidence: bool
    cases: int
    skipped: list[str]
    candidates: list[CandidateReport]
    # The original review's answers, where the labels carry them.
    baseline: CandidateReport | None = None


def score(result: EvalResult, pricing: Pricing) -> EvalReport:
    """The report for `result`: one `CandidateReport` per candidate, plus the baseline."""
    by_key = {(a.candidate, a.case_id): a for a in result.answers}
    # A case listed twice is one case; its first label counts.
    firsts: dict[str, CaseLabel] = {}
    for label in result.labels:
        firsts.setdefault(label.case_id, label)
    labels = list(firsts.values())
    candidates = [
        _candidate_report(
            name=candidate.name,
            labels=labels,
            answers={
                label.case_id: by_key[candidate.name, label.case_id]
                for label in labels
                if (candidate.name, label.case_id) in by_key
            },
            pricing=pricing,
            meta={
                "llm": candidate.llm,
                "prompt_version": candidate.prompt_version,
                "policy_overrides": dict(candidate.policy_overrides),
            },
        )
        for candidate in result.candidates
    ]
    return EvalReport(
        eval_id=result.eval_id,
        recorded_evidence=result.recorded_evidence,
        cases=len(labels),
        skipped=list(result.skipped),
        candidates=candidates,
        baseline=_baseline(labels),
    )


def _baseline(labels: Sequence[CaseLabel]) -> CandidateReport | None:
    """The original review as a candidate, over the cases whose labels say what it did."""
    known = [
        label
        for label in labels
        if label.original.recommendation is not None or label.original.route is not None
    ]
    if not known:
        return None
    answers = {label.case_id: _original_answer(label) for label in known}
    return _candidate_report(
        name=BASELINE_NAME, labels=known, answers=answers, pricing=None, meta={}, baseline=True
    )


def _original_answer(label: CaseLabel) -> CandidateAnswer:
    original = label.original
    auto_paid = original.route is Route.AUTO
    status = None
    if original.route is Route.HUMAN:
        status = OutcomeStatus.NEEDS_HUMAN
    elif auto_paid:
        status = OutcomeStatus.COMPLETED
    return CandidateAnswer(
        case_id=label.case_id,
        candidate=BASELINE_NAME,
        workflow_id=label.workflow_id or "",
        route=original.route,
        status=status,
        recommendation=original.recommendation,
        proposed_payout=original.payout_amount,
        payout_amount=(original.payout_amount or Decimal(0)) if auto_paid else Decimal(0),
    )


def _candidate_report(
    *,
    name: str,
    labels: Sequence[CaseLabel],
    answers: dict[str, CandidateAnswer],
    pricing: Pricing | None,
    meta: dict[str, Any],
    baseline: bool = False,
) -> CandidateReport:
    routes = [Route.AUTO.value, Route.HUMAN.value]
    confusion = {c: dict.fromkeys(routes, 0) for c in routes}
    statuses = [s.value for s in OutcomeStatus if s is not OutcomeStatus.NEEDS_HUMAN]
    recommendations = [*(r.value for r in Recommendation), NO_RECOMMENDATION]
    table = {r: dict.fromkeys(statuses, 0) for r in recommendations}
    route_agree = route_compared = rec_agree = rec_compared = errors = 0
    dangerous: list[DangerousCase] = []
    needless: list[str] = []
    payout_diffs: dict[str, list[Decimal]] = {}
    disagreements: list[Disagreement] = []
    for label in labels:
        answer = answers.get(label.case_id)
        kinds: list[DisagreementKind] = []
        danger: DangerousCase | None = None
        if answer is None:
            kinds.append(DisagreementKind.UNANSWERED)
        elif answer.error:
            errors += 1
            kinds.append(DisagreementKind.ERROR)
        else:
            if answer.route is not None:
                route_compared += 1
                confusion[answer.route.value][label.final.route.value] += 1
                if answer.route is label.final.route:
                    route_agree += 1
                else:
                    kinds.append(DisagreementKind.ROUTE)
            recommended = answer.recommendation.value if answer.recommendation else None
            if label.final.status.value in statuses:
                table[recommended or NO_RECOMMENDATION][label.final.status.value] += 1
            if answer.recommendation is not None:
                rec_compared += 1
                if _recommendation_agrees(answer.recommendation, label):
                    rec_agree += 1
                else:
                    kinds.append(DisagreementKind.RECOMMENDATION)
            danger = _danger(answer, label)
            if danger is not None:
                dangerous.append(danger)
                kinds.insert(0, DisagreementKind.DANGEROUS)
            if _needless_referral(answer, label):
                needless.append(label.case_id)
                kinds.insert(0, DisagreementKind.NEEDLESS_REFERRAL)
            paid = _candidate_paid(answer)
            if paid is not None and label.final.status is OutcomeStatus.COMPLETED:
                payout_diffs.setdefault(label.currency, []).append(
                    abs(paid - label.final.payout_amount)
                )
        if kinds:
            disagreements.append(_disagreement(label, answer, kinds, danger))
    answered = sum(1 for label in labels if label.case_id in answers) - errors
    dangerous.sort(key=lambda d: (-d.overpaid, d.case_id))
    disagreements.sort(key=_disagreement_order)
    return CandidateReport(
        name=name,
        baseline=baseline,
        cases=len(labels),
        answered=answered,
        errors=errors,
        unanswered=len(labels) - answered - errors,
        route=Agreement(agree=route_agree, compared=route_compared),
        recommendation=Agreement(agree=rec_agree, compared=rec_compared),
        route_confusion=confusion,
        recommendation_table=table,
        dangerous=dangerous,
        needless_referrals=needless,
        payout_error=[
            _payout_error(currency, diffs) for currency, diffs in sorted(payout_diffs.items())
        ],
        usage=None if pricing is None else _usage(list(answers.values()), pricing),
        disagreements=disagreements,
        **meta,
    )


def _recommendation_agrees(recommendation: Recommendation, label: CaseLabel) -> bool:
    if recommendation is Recommendation.APPROVE:
        return label.final.status is OutcomeStatus.COMPLETED
    if recommendation is Recommendation.DENY:
        return label.final.status is OutcomeStatus.REJECTED
    return label.final.route is Route.HUMAN


def _auto_approves(answer: CandidateAnswer) -> bool:
    return answer.route is Route.AUTO and answer.status is OutcomeStatus.COMPLETED


def _danger(answer: CandidateAnswer, label: CaseLabel) -> DangerousCase | None:
    if not _auto_approves(answer):
        return None
    final = label.final
    if final.status is OutcomeStatus.REJECTED:
        kind = DangerKind.REJECTED
    elif final.status is OutcomeStatus.CANCELLED:
        kind = DangerKind.CANCELLED
    elif final.status is OutcomeStatus.COMPLETED and final.payout_amount < answer.payout_amount:
        kind = DangerKind.PAID_LESS
    else:
        return None
    final_paid = final.payout_amount if final.status is OutcomeStatus.COMPLETED else Decimal(0)
    return DangerousCase(
        case_id=label.case_id,
        kind=kind,
        currency=label.currency,
        candidate_payout=answer.payout_amount,
        final_payout=final_paid,
        overpaid=max(answer.payout_amount - final_paid, Decimal(0)),
        workflow_id=label.workflow_id,
    )


def _needless_referral(answer: CandidateAnswer, label: CaseLabel) -> bool:
    final = label.final
    if answer.route is not Route.HUMAN or final.status is not OutcomeStatus.COMPLETED:
        return False
    if final.route is Route.AUTO or final.decided_by == AGENT_DECIDER:
        return True
    in_full = {label.claim_amount, answer.proposed_payout, label.original.payout_amount}
    return final.payout_amount in in_full


def _candidate_paid(answer: CandidateAnswer) -> Decimal | None:
    """What the candidate would pay: its auto-approval, else an approve's proposed payout."""
    if answer.status is OutcomeStatus.COMPLETED:
        return answer.payout_amount
    if answer.recommendation is Recommendation.APPROVE:
        return answer.proposed_payout
    return None


def _payout_error(currency: str, diffs: list[Decimal]) -> PayoutError:
    mean = (sum(diffs, Decimal(0)) / len(diffs)).quantize(_CENT, rounding=ROUND_HALF_UP)
    return PayoutError(
        currency=currency,
        claims=len(diffs),
        mean_abs=mean,
        max_abs=max(diffs).quantize(_CENT),
        abs_errors=sorted(d.quantize(_CENT) for d in diffs),
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value with `fraction` of them at or below it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _usage(answers: Sequence[CandidateAnswer], pricing: Pricing) -> Usage:
    runs = len(answers)
    input_tokens = sum(a.input_tokens for a in answers)
    output_tokens = sum(a.output_tokens for a in answers)
    costs = [pricing.cost(a.model, a.input_tokens, a.output_tokens) for a in answers]
    unpriced = sorted(
        {a.model or "(unnamed)" for a, c in zip(answers, costs, strict=True) if c is None}
    )
    cost = None if unpriced else sum((c for c in costs if c is not None), Decimal(0))
    latencies = [a.model_ms for a in answers if not a.error]
    return Usage(
        runs=runs,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        input_tokens_per_claim=input_tokens / runs if runs else None,
        output_tokens_per_claim=output_tokens / runs if runs else None,
        cost=cost,
        cost_per_claim=cost / runs if cost is not None and runs else None,
        cost_currency=pricing.currency,
        unpriced_models=unpriced,
        latency=Latency(
            mean_ms=sum(latencies) / len(latencies),
            p50_ms=percentile(latencies, 0.5),
            p90_ms=percentile(latencies, 0.9),
        )
        if latencies
        else None,
    )


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(_CENT)} {currency}"


def describe_answer(answer: CandidateAnswer | None, currency: str) -> str:
    """One line on what a candidate did: route, status, recommendation and payout."""
    if answer is None:
        return "no answer"
    if answer.error:
        return f"failed: {answer.error}"
    parts = [
        f"route {answer.route.value if answer.route else '?'}",
        answer.status.value if answer.status else "no outcome",
    ]
    if answer.recommendation is not None:
        parts.append(f"recommends {answer.recommendation.value}")
    if answer.status is OutcomeStatus.COMPLETED:
        parts.append(f"pays {_money(answer.payout_amount, currency)}")
    elif answer.proposed_payout is not None:
        parts.append(f"proposes {_money(answer.proposed_payout, currency)}")
    return ", ".join(parts)


def describe_final(label: CaseLabel) -> str:
    final = label.final
    by = "the agent" if final.route is Route.AUTO else "a person"
    text = f"{final.status.value} by {by}"
    if final.status is OutcomeStatus.COMPLETED:
        text += f", paid {_money(final.payout_amount, label.currency)}"
    return text


def show_command(workflow_id: str | None) -> str | None:
    """`claims show CLAIM_ID` for a review's workflow id (`claim-CLAIM_ID`)."""
    if not workflow_id:
        return None
    claim_id = workflow_id.removeprefix("claim-")
    return f"claims show {claim_id}"


def _disagreement(
    label: CaseLabel,
    answer: CandidateAnswer | None,
    kinds: list[DisagreementKind],
    danger: DangerousCase | None,
) -> Disagreement:
    return Disagreement(
        case_id=label.case_id,
        kinds=sorted(kinds, key=list(DisagreementKind).index),
        candidate_did=describe_answer(answer, label.currency),
        happened=describe_final(label),
        workflow_id=label.workflow_id,
        show_command=show_command(label.workflow_id),
        run_workflow_id=answer.workflow_id if answer is not None and answer.workflow_id else None,
        overpaid=danger.overpaid if danger else None,
    )


def _disagreement_order(item: Disagreement) -> tuple[int, Decimal, str]:
    first = list(DisagreementKind).index(item.kinds[0])
    return (first, -(item.overpaid or Decimal(0)), item.case_id)
