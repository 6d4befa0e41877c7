"""A payout the payment gateway refused goes back to a person, with the gateway's reason.

A refusal (a 4xx from the payments API: a closed account, a wrong payee, a bad key) is
not retried: the same order would be refused again. Without this, the review failed with
the activity. With it (patch `payment-refused-to-person`), the refusal is recorded in the
audit log, the approvals are cleared, and the claim waits for a manager again, the reason
in the transition: the manager may edit the payee and approve (paid under a new key, as
the refused key may be remembered by the gateway), reject, or cancel.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.desk import Reassess, ReviewDesk
    from workflows.review_book import ReviewBook
    from workflows.routing import RoutingDecision
    from workflows.state import AuditEntry, AuditOutcome, DecisionRecord

PATCH_PAYMENT_REFUSED_TO_PERSON = "payment-refused-to-person"
# The error type `activities.payment_gateway` raises for a refusal (workflows import no
# activity module, so the name is repeated here).
PAYMENT_REFUSED = "PaymentRefused"
GATEWAY_ACTOR = "payment gateway"
REFUSED_ACTION = "payout refused"
MAX_REASON = 400


def gateway_refusal(error: BaseException) -> str | None:
    """The gateway's words if `error` is a payout it refused for good; None otherwise."""
    if not isinstance(error, ActivityError):
        return None
    cause = error.cause
    if not isinstance(cause, ApplicationError) or cause.type != PAYMENT_REFUSED:
        return None
    reason = " ".join(cause.message.split()) or "no reason given"
    shown = "".join(char if char.isprintable() else "?" for char in reason)
    return shown if len(shown) <= MAX_REASON else shown[: MAX_REASON - 1] + "…"


def refusals(audit_log: list[AuditEntry]) -> int:
    """How many payouts of this claim the gateway refused so far."""
    return sum(1 for e in audit_log if e.actor == GATEWAY_ACTOR and e.action == REFUSED_ACTION)


def payout_key(claim_id: str, audit_log: list[AuditEntry]) -> str:
    """`claim/<id>/payout`, then a new key after each refusal.

    A claim never refused keeps the key it always had, so its commands do not change.
    """
    key = f"claim/{claim_id}/payout"
    refused = refusals(audit_log)
    return key if refused == 0 else f"{key}/after-refusal-{refused}"


async def hand_to_person(book: ReviewBook, desk: ReviewDesk, reason: str) -> DecisionRecord | None:
    """Record the refusal and wait for a person's new decision; None if they cancel.

    An interrupt or a request for documents in this wait comes back to the same wait:
    the agent's assessment stands; what is missing is a payment a person can stand by.
    """
    book.audit(GATEWAY_ACTOR, REFUSED_ACTION, AuditOutcome.RECORDED, reason)
    proposal = book.state.context.proposal
    if proposal is not None:
        proposal.approvals.clear()
    routing = RoutingDecision(
        auto_approve=False,
        proposed_payout=proposal.payout_amount if proposal is not None else 0,
        reasons=[f"the payment gateway refused the payout: {reason}"],
    )
    while True:
        waited = await desk.await_decision(routing)
        if waited is Reassess.CANCELLED:
            return None
        if isinstance(waited, DecisionRecord):
            return waited
