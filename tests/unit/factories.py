"""Small builders for unit tests: valid by default, one field changed per test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from workflows.authority import Approver, ReviewPolicy, Role
from workflows.evidence import (
    ClaimAssessment,
    CoverageCheck,
    Evidence,
    FraudScreen,
    PolicyLookup,
    PolicyRecord,
    PolicyStatus,
    PriorClaim,
    Recommendation,
)


def review_policy(**changes: Any) -> ReviewPolicy:
    return ReviewPolicy(
        approvers=[
            Approver(name="maria", role=Role.CLAIMS_MANAGER, approval_limit=Decimal(50_000)),
            Approver(name="sam", role=Role.ADJUSTER, approval_limit=Decimal(5_000)),
        ],
        **changes,
    )


def assessment(**changes: Any) -> ClaimAssessment:
    fields: dict[str, Any] = {
        "recommendation": Recommendation.APPROVE,
        "payout_amount": Decimal("420"),
        "confidence": 0.92,
        "rationale": "covered and clean",
        "cited_evidence": ["policy", "coverage"],
    }
    return ClaimAssessment(**(fields | changes))


def evidence(
    payable: str = "420",
    *,
    duplicates: bool = False,
    watchlist: bool = False,
    intake_findings: list[str] | None = None,
    tool_errors: list[str] | None = None,
) -> Evidence:
    policy = PolicyRecord(
        policy_number="POL-1",
        holder_id="C-1",
        status=PolicyStatus.ACTIVE,
        currency="USD",
        covered_categories=["expense"],
        per_claim_limit=Decimal(5000),
        deductible=Decimal(0),
        valid_from=date(2026, 1, 1),
        valid_to=date(2026, 12, 31),
    )
    prior = PriorClaim(
        claim_id="CLM-0001", amount=Decimal(payable), incident_date=date(2026, 5, 1), status="paid"
    )
    return Evidence(
        policy=PolicyLookup(policy_number="POL-1", found=True, policy=policy),
        coverage=CoverageCheck(covered=True, payable_amount=Decimal(payable)),
        fraud=FraudScreen(
            duplicates=[prior] if duplicates else [],
            watchlist_hits=["C-1"] if watchlist else [],
        ),
        intake_findings=intake_findings or [],
        tool_errors=tool_errors or [],
    )
