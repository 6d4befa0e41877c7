"""The routing rules: the only place that decides whether a claim may skip a human.

The model's assessment is one input among several. Money moves without a person only
when every rule below agrees; anything else, including any doubt, goes to a human.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pydantic import BaseModel, Field

from workflows.authority import ReviewPolicy
from workflows.claim import Money, money
from workflows.evidence import ClaimAssessment, Evidence, Recommendation


class RoutingDecision(BaseModel):
    auto_approve: bool
    proposed_payout: Money
    reasons: list[str] = Field(default_factory=list)


def route_claim(
    *,
    assessment: ClaimAssessment | None,
    evidence: Evidence,
    policy: ReviewPolicy,
    no_assessment_because: str | None = None,
    staff_notes: Sequence[str] = (),
) -> RoutingDecision:
    """Auto-approve only a small, clean, confidently approved claim; send the rest to a human.

    A staff note (an operator's interrupt) always sends the claim to a person: whatever
    the model made of it, claimant text must never be able to outweigh staff.
    """
    proposed = evidence.payable_amount
    noted = [f"staff note on file: {_short(note)}" for note in staff_notes]
    if assessment is None:
        reasons = [
            no_assessment_because or "no assessment from the model",
            *noted,
            *evidence.concerns,
        ]
        return RoutingDecision(auto_approve=False, proposed_payout=proposed, reasons=reasons)
    reasons = list(noted)
    if assessment.recommendation is not Recommendation.APPROVE:
        reasons.append(f"model recommends {assessment.recommendation}")
    if proposed > policy.auto_approval_limit:
        reasons.append(
            f"payout {money(proposed)} is over the auto-approval limit of "
            f"{money(policy.auto_approval_limit)}"
        )
    if assessment.confidence < policy.min_auto_approval_confidence:
        reasons.append(
            f"model confidence {assessment.confidence:.2f} is below "
            f"{policy.min_auto_approval_confidence:.2f}"
        )
    if assessment.payout_amount != proposed:
        reasons.append(
            f"model proposes {money(assessment.payout_amount)}, coverage allows {money(proposed)}"
        )
    if proposed <= Decimal(0):
        reasons.append("nothing is payable under the policy")
    reasons.extend(evidence.concerns)
    return RoutingDecision(auto_approve=not reasons, proposed_payout=proposed, reasons=reasons)


def _short(note: str, limit: int = 160) -> str:
    return note if len(note) <= limit else note[: limit - 1] + "…"
