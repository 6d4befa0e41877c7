"""Small builders for unit tests: valid by default, one field changed per test."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from workflows.authority import Approver, ReviewPolicy, Role
from workflows.evidence import (
    ClaimAssessment,
    ClaimHistory,
    CoverageCheck,
    DocumentInventory,
    Evidence,
    LimitCheck,
    PolicyLookup,
    PolicyRecord,
    PolicyStatus,
    PriorClaim,
    Recommendation,
    WatchlistScreen,
)
from workflows.tools import TOOLS


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
    missing_documents: list[str] | None = None,
    unchecked: tuple[str, ...] = (),
) -> Evidence:
    """Complete, clean evidence for a covered USD expense claim, unless told otherwise."""
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
    found = Evidence(
        policy=PolicyLookup(policy_number="POL-1", found=True, policy=policy),
        coverage=CoverageCheck(covered=True, payable_amount=Decimal(payable)),
        history=ClaimHistory(prior_claims=[prior], duplicates=[prior] if duplicates else []),
        watchlist=WatchlistScreen(hits=["C-1"] if watchlist else []),
        documents=DocumentInventory(
            required=["receipt"], present=["receipt"], missing=missing_documents or []
        ),
        limits=LimitCheck(
            policy_found=True,
            currency_matches=True,
            policy_currency="USD",
            per_claim_limit=Decimal(5000),
            within_limit=True,
        ),
        intake_findings=intake_findings or [],
        tool_errors=tool_errors or [],
    )
    for name in unchecked:
        setattr(found, TOOLS[name].evidence_field, None)
    return found
