"""A payout the gateway refuses goes back to a person, with the gateway's reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from signals.messages import HumanAction
from tests.helpers import eventually, settings_in, start, unique_claim
from tests.timeskipping.conftest import Review
from worker import build_activities, create_worker
from workflows.actions import PayoutOrder, PayoutReceipt
from workflows.claim_review import ClaimReviewWorkflow
from workflows.payment_refusal import GATEWAY_ACTOR, REFUSED_ACTION
from workflows.state import OutcomeStatus, Step


class RefusingGateway:
    """`issue_payout` that refuses the first order, as a payments API answering 422."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    @activity.defn(name="issue_payout")
    async def issue_payout(self, order: PayoutOrder) -> PayoutReceipt:
        """Refuse the first order for good; pay every later one."""
        self.keys.append(order.idempotency_key)
        if len(self.keys) == 1:
            raise ApplicationError(
                f"the payment gateway refused the payout for claim {order.claim_id} "
                "(HTTP 422): payee account closed",
                type="PaymentRefused",
                non_retryable=True,
            )
        return PayoutReceipt(
            payout_id=f"pay_{len(self.keys)}",
            idempotency_key=order.idempotency_key,
            amount=order.amount,
            currency=order.currency,
            paid_at=datetime.now(UTC),
            already_paid=False,
        )


@asynccontextmanager
async def refused_review(
    env: WorkflowEnvironment, tmp_path: Path, gateway: RefusingGateway
) -> AsyncIterator[Review]:
    """CLM-1002 on the real worker but for its payout, approved once and refused."""
    settings = settings_in(tmp_path)
    activities: list[Any] = [
        gateway.issue_payout if getattr(a, "__name__", "") == "issue_payout" else a
        for a in build_activities(settings)
    ]
    claim = unique_claim("CLM-1002")
    async with create_worker(env.client, settings, activities=activities):
        handle = await start(env.client, claim, settings.task_queue)
        review = Review(env.client, claim, handle, settings)
        await review.until(Step.AWAITING_MANAGER_APPROVAL)
        await review.act(HumanAction.APPROVE, {"approver": "maria"})
        await eventually(
            review.state,
            lambda s: (
                s.current_step is Step.AWAITING_MANAGER_APPROVAL
                and any(e.actor == GATEWAY_ACTOR for e in s.audit_log)
            ),
            what="the refusal handed to a person",
        )
        yield review


async def test_a_refused_payout_waits_for_a_person_then_pays_under_a_new_key(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Refused: back to awaiting approval with the reason; approved again: paid once."""
    gateway = RefusingGateway()
    async with refused_review(time_env, tmp_path, gateway) as review:
        waiting = await review.until(Step.AWAITING_MANAGER_APPROVAL)
        await review.act(HumanAction.APPROVE, {"approver": "maria"})
        outcome = await review.outcome()
    [refusal] = [e for e in waiting.audit_log if e.actor == GATEWAY_ACTOR]
    assert refusal.action == REFUSED_ACTION
    assert "payee account closed" in refusal.detail
    assert "payee account closed" in waiting.transitions[-1].reason
    key = f"claim/{review.claim.claim_id}/payout"
    assert [key, f"{key}/after-refusal-1"] == gateway.keys
    assert (OutcomeStatus.COMPLETED, "pay_2") == (outcome.status, outcome.payout_id)


async def test_a_refused_payout_can_be_rejected_instead(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """After a refusal the manager rejects: the claim is rejected, nothing more is sent to pay."""
    gateway = RefusingGateway()
    async with refused_review(time_env, tmp_path, gateway) as review:
        await review.until(Step.AWAITING_MANAGER_APPROVAL)
        await review.act(HumanAction.REJECT, {"approver": "maria", "comment": "payee unknown"})
        outcome = await review.outcome()
    assert OutcomeStatus.REJECTED == outcome.status
    assert 1 == len(gateway.keys)


async def test_documents_asked_for_after_a_refusal_come_back_to_the_manager(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """After a refusal the manager asks for documents; they arrive; the manager decides."""
    gateway = RefusingGateway()
    async with refused_review(time_env, tmp_path, gateway) as review:
        await review.handle.signal(
            ClaimReviewWorkflow.request_info,
            {"requested_by": "sam", "what": "new bank details", "from_whom": "claimant"},
        )
        await review.until(Step.AWAITING_DOCUMENTS)
        await review.handle.signal(
            ClaimReviewWorkflow.submit_document,
            {
                "submitted_by": "claimant-portal",
                "document": {"doc_id": "D-9", "kind": "other", "uri": "s3://d/D-9.pdf"},
            },
        )
        back = await review.until(Step.AWAITING_MANAGER_APPROVAL)
        await review.act(HumanAction.APPROVE, {"approver": "maria"})
        outcome = await review.outcome()
    assert "D-9" in [d.doc_id for d in back.context.supporting_docs]
    assert (OutcomeStatus.COMPLETED, 2) == (outcome.status, len(gateway.keys))


async def test_a_refused_payout_can_be_cancelled(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """After a refusal an operator cancels: the claim is cancelled, paid nothing."""
    gateway = RefusingGateway()
    async with refused_review(time_env, tmp_path, gateway) as review:
        await review.act(HumanAction.CANCEL, {"operator": "lee", "reason": "duplicate payee"})
        outcome = await review.outcome()
    assert (OutcomeStatus.CANCELLED, 1) == (outcome.status, len(gateway.keys))
