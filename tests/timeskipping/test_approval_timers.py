"""The approval wait under time-skipping: 72 hours of waiting take seconds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from tests.helpers import eventually
from tests.timeskipping.conftest import Review, StartReview, WaitForPerson
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import (
    AuditOutcome,
    ClaimState,
    DecisionKind,
    OutcomeStatus,
    Step,
)


async def until_audited(review: Review, count: int) -> ClaimState:
    """The state once `count` actions are in the audit log."""
    return await eventually(review.state, lambda s: len(s.audit_log) >= count)


async def test_small_clean_claim_is_auto_approved_and_paid_once(reviewing: StartReview) -> None:
    """A 420 USD expense with receipts passes every rule and is paid without a person."""
    async with reviewing("CLM-1001") as review:
        outcome = await review.outcome()

    assert (OutcomeStatus.COMPLETED, "claim-review-agent", Decimal("420.00")) == (
        outcome.status,
        outcome.decided_by,
        outcome.payout_amount,
    )
    assert [outcome.payout_id] == [p for p, _ in review.payouts()]


async def test_approval_at_hour_71_completes_without_escalation(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson
) -> None:
    """The brief's 1,250 claim waits for a manager; maria approves just before the deadline."""
    async with waiting_claim("CLM-1002") as (review, waiting):
        await time_env.sleep(timedelta(hours=71))
        await review.handle.signal(
            ClaimReviewWorkflow.approve, {"approver": "maria", "comment": "ok"}
        )
        outcome = await review.outcome()
        final = await review.state()

    wait = waiting.pending_actions[0]
    assert timedelta(hours=72) == wait.timeout - wait.created_at
    assert (OutcomeStatus.COMPLETED, "maria", Decimal("1250.00")) == (
        outcome.status,
        outcome.decided_by,
        outcome.payout_amount,
    )
    assert Step.COMPLETED == final.current_step
    assert [] == final.pending_actions
    assert DecisionKind.ESCALATE not in [d.decision for d in final.context.previous_decisions]


async def test_no_decision_in_72_hours_escalates_to_senior_approvers(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson
) -> None:
    """After 72 hours the claim is escalated, recorded in state and audit log, and waits on."""
    async with waiting_claim("CLM-1002") as (review, before):
        await time_env.sleep(timedelta(hours=72, minutes=1))
        after = await eventually(review.state, lambda s: s.pending_actions[0].escalation_level == 1)
        # sam is an adjuster: enough before escalation, not after it.
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "sam"})
        refused = await until_audited(review, len(after.audit_log) + 1)
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        outcome = await review.outcome()

    wait = after.pending_actions[0]
    assert ("senior-approvers", Step.AWAITING_MANAGER_APPROVAL) == (
        wait.assignee,
        after.current_step,
    )
    assert before.version + 1 == after.version
    assert "escalated to senior-approvers" in after.transitions[-1].reason
    assert ("claim-review-agent", DecisionKind.ESCALATE) == (
        after.audit_log[-1].actor,
        after.audit_log[-1].action,
    )
    assert "claim-review-agent" == after.context.previous_decisions[-1].actor
    assert timedelta(hours=72) == wait.timeout - wait.created_at
    assert (AuditOutcome.REFUSED, "sam") == (
        refused.audit_log[-1].outcome,
        refused.audit_log[-1].actor,
    )
    assert "senior-approvers" in refused.audit_log[-1].detail
    assert ("maria", OutcomeStatus.COMPLETED) == (outcome.decided_by, outcome.status)


async def test_rejection_ends_in_rejected_without_payout(waiting_claim: WaitForPerson) -> None:
    """A manager's rejection ends the review in `rejected`, pays nothing, keeps the reason."""
    async with waiting_claim("CLM-1004") as (review, _):
        await review.handle.signal(
            ClaimReviewWorkflow.reject, {"approver": "maria", "comment": "duplicate of CLM-0950"}
        )
        outcome = await review.outcome()
        final = await review.state()

    assert (OutcomeStatus.REJECTED, "maria", Decimal(0), "duplicate of CLM-0950") == (
        outcome.status,
        outcome.decided_by,
        outcome.payout_amount,
        outcome.reason,
    )
    assert Step.REJECTED == final.current_step
    assert [] == review.payouts()


async def test_refused_decisions_are_recorded_and_the_claim_keeps_waiting(
    waiting_claim: WaitForPerson,
) -> None:
    """Unknown approvers, approvers over their limit and malformed payloads change nothing."""
    # 7,300 EUR payable: over sam's 5,000 limit
    async with waiting_claim("CLM-1003") as (review, waiting):
        for payload in (
            {"approver": "mallory"},
            {"approver": "sam"},
            {"comment": "no approver"},
            "yes",
        ):
            await review.handle.signal(ClaimReviewWorkflow.approve, payload)
        after = await until_audited(review, len(waiting.audit_log) + 4)
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        outcome = await review.outcome()

    refusals = after.audit_log[-4:]
    assert [AuditOutcome.REFUSED] * 4 == [e.outcome for e in refusals]
    assert ["mallory", "sam", "unknown", "unknown"] == [e.actor for e in refusals]
    assert "not in the approver directory" in refusals[0].detail
    assert "exceeds sam's approval limit of 5,000.00" in refusals[1].detail
    assert "approver" in refusals[2].detail
    assert (waiting.version, waiting.current_step, waiting.pending_actions) == (
        after.version,
        after.current_step,
        after.pending_actions,
    )
    assert ("maria", Decimal("7300.00")) == (outcome.decided_by, outcome.payout_amount)
