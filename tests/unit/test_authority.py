"""Who may decide: known, not the submitter, the right role for the level, within limit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.unit.factories import review_policy
from workflows.authority import refusal_reason


@pytest.mark.parametrize(
    ("approver", "approving", "amount", "level", "expected"),
    [
        ("maria", True, "1250", 0, None),
        ("sam", True, "5000", 0, None),
        ("sam", False, "9000", 0, None),
        ("mallory", True, "10", 0, "'mallory' is not in the approver directory"),
        ("sam", True, "5000.01", 0, "payout 5,000.01 exceeds sam's approval limit of 5,000.00"),
        ("sam", True, "100", 1, "the claim is escalated to senior-approvers"),
        ("maria", True, "100", 1, None),
        ("maria", True, "50001", 1, "exceeds maria's approval limit"),
        ("maria", True, "100", 7, None),
    ],
)
def test_refusal_reasons(
    approver: str, approving: bool, amount: str, level: int, expected: str | None
) -> None:
    """Approvers are refused when unknown, over their limit or below the escalation level."""
    reason = refusal_reason(
        review_policy(),
        approver_name=approver,
        approving=approving,
        payout_amount=Decimal(amount),
        escalation_level=level,
        submitted_by="agent-portal",
    )

    if expected is None:
        assert reason is None
    else:
        assert reason is not None
        assert expected in reason


def test_the_submitter_can_never_decide_their_own_claim() -> None:
    """Whatever their role and limit, the person who submitted a claim cannot decide it."""
    reason = refusal_reason(
        review_policy(),
        approver_name="maria",
        approving=True,
        payout_amount=Decimal(10),
        escalation_level=0,
        submitted_by="maria",
    )

    assert "'maria' submitted this claim and cannot decide it" == reason
