"""The routing rules: only small, clean, confident approvals skip a human."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.unit.factories import assessment, evidence, review_policy
from workflows.evidence import Recommendation
from workflows.routing import route_claim


def test_small_clean_confident_approval_is_auto_approved() -> None:
    """Every rule agrees: the workflow may pay without a person."""
    decision = route_claim(
        assessment=assessment(), evidence=evidence(payable="420"), policy=review_policy()
    )

    assert (True, Decimal("420"), []) == (
        decision.auto_approve,
        decision.proposed_payout,
        decision.reasons,
    )


@pytest.mark.parametrize(
    ("changes", "payable", "reason"),
    [
        ({"payout_amount": Decimal("1250")}, "1250", "over the auto-approval limit of 1,000.00"),
        ({"confidence": 0.79}, "420", "confidence 0.79 is below 0.80"),
        ({"recommendation": Recommendation.REFER}, "420", "model recommends refer"),
        (
            {"recommendation": Recommendation.DENY, "payout_amount": Decimal(0)},
            "420",
            "model recommends deny",
        ),
        ({"payout_amount": Decimal("999")}, "420", "model proposes 999.00, coverage allows 420.00"),
    ],
)
def test_anything_else_goes_to_a_human(
    changes: dict[str, object], payable: str, reason: str
) -> None:
    """The brief's 1,250 claim, low confidence, refer, deny and a payout the rules did not set."""
    decision = route_claim(
        assessment=assessment(**changes), evidence=evidence(payable=payable), policy=review_policy()
    )

    assert False is decision.auto_approve
    assert any(reason in r for r in decision.reasons), decision.reasons


def test_payout_exactly_at_the_limit_is_still_automatic() -> None:
    """The limit is inclusive: 1,000.00 may be auto-approved, 1,000.01 may not."""
    at_limit = route_claim(
        assessment=assessment(payout_amount=Decimal("1000")),
        evidence=evidence(payable="1000"),
        policy=review_policy(),
    )
    over = route_claim(
        assessment=assessment(payout_amount=Decimal("1000.01")),
        evidence=evidence(payable="1000.01"),
        policy=review_policy(),
    )

    assert (True, False) == (at_limit.auto_approve, over.auto_approve)


@pytest.mark.parametrize(
    "concern",
    [
        {"duplicates": True},
        {"watchlist": True},
        {"intake_findings": ["no supporting documents attached"]},
        {"tool_errors": ["screen_watchlist failed: timeout"]},
        {"missing_documents": ["receipt"]},
        {"unchecked": ("screen_watchlist",)},
        {"unchecked": ("inventory_documents", "check_currency_limit")},
    ],
)
def test_evidence_concerns_always_reach_a_human(concern: dict[str, Any]) -> None:
    """However confident the model, a duplicate, watch-list hit or failed tool needs a person."""
    decision = route_claim(
        assessment=assessment(confidence=0.99),
        evidence=evidence(payable="420", **concern),
        policy=review_policy(),
    )

    assert False is decision.auto_approve


def test_no_assessment_never_auto_approves() -> None:
    """When the model could not be asked, the claim goes to a human with the reason."""
    decision = route_claim(
        assessment=None, evidence=evidence(payable="420"), policy=review_policy()
    )

    assert (False, ["no assessment from the model"]) == (decision.auto_approve, decision.reasons)


def test_auto_approval_limit_comes_from_the_policy() -> None:
    """A stricter policy sends the same claim to a human."""
    decision = route_claim(
        assessment=assessment(),
        evidence=evidence(payable="420"),
        policy=review_policy(auto_approval_limit=Decimal(200)),
    )

    assert False is decision.auto_approve
