"""What the agent proposes to do once approved: pay this much, tell the claimant this."""

from __future__ import annotations

from workflows.claim import Claim, money
from workflows.evidence import ClaimAssessment
from workflows.routing import RoutingDecision
from workflows.state import ProposedActions


def propose(
    claim: Claim,
    routing: RoutingDecision,
    assessment: ClaimAssessment | None,
    *,
    hardened: bool,
) -> ProposedActions:
    """What the agent would do if approved: pay this much, and tell the claimant this."""
    amount = routing.proposed_payout
    message = assessment.customer_message if assessment else ""
    if hardened and amount <= 0:
        # Never announce a payment of zero; a person sets the amount or closes the claim.
        message = no_payment_message(claim)
    elif not message or "approved" not in message.lower():
        message = (
            f"Your claim {claim.claim_id} is approved; we are paying "
            f"{money(amount)} {claim.currency}."
        )
    return ProposedActions(
        payout_amount=amount,
        currency=claim.currency,
        payee_id=claim.claimant.id,
        customer_message=message,
    )


def no_payment_message(claim: Claim) -> str:
    """What the claimant is told when nothing is paid: never "we are paying 0.00"."""
    return (
        f"Your claim {claim.claim_id} has been reviewed and closed; no payment is made "
        "under it. Reply to this message if you have questions."
    )
