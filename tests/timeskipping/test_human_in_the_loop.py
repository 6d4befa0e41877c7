"""People in the loop, under time-skipping: every action by signal and by update."""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.llm import LlmSettings
from signals.client import ActionRefused
from signals.messages import ActionAccepted, HumanAction
from tests.helpers import eventually, every_run_history, unique_claim
from tests.keys import encrypted_test_converter
from tests.timeskipping.conftest import StartReview, WaitForPerson
from workflows import search_attributes as sa
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import (
    AuditOutcome,
    OutcomeStatus,
    PendingActionType,
    Step,
)


async def test_reminders_at_24_and_48_hours_then_escalation_at_72(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson
) -> None:
    """The assignees are reminded twice, then the claim moves up the ladder."""
    async with waiting_claim("CLM-1002") as (review, _):
        sent: list[list[str]] = []
        for step_hours in (23, 2, 24, 24):  # to hours 23, 25, 49 and 73 of the wait
            await time_env.sleep(timedelta(hours=step_hours))
            await review.state()  # a query round-trip lets the worker catch up
            sent.append([subject for _, subject in review.notices()])
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        await review.outcome()

    assert [] == sent[0]
    assert [f"Reminder 1: claim {review.claim.claim_id} is waiting for you"] == sent[1]
    assert sent[2][-1] == f"Reminder 2: claim {review.claim.claim_id} is waiting for you"
    assert sent[3][-1] == f"Escalated: claim {review.claim.claim_id} needs a decision"
    recipients = [r for r, _ in review.notices()]
    assert ["approvers", "approvers", "senior-approvers"] == recipients[:3]


async def test_an_update_answers_with_the_new_version_and_refuses_a_stale_one(
    waiting_claim: WaitForPerson,
) -> None:
    """expected_version guards against acting on a claim that has moved on."""
    async with waiting_claim("CLM-1002") as (review, waiting):
        with pytest.raises(ActionRefused) as stale:
            await review.act(
                HumanAction.APPROVE, {"approver": "maria", "expected_version": waiting.version - 1}
            )
        accepted = await review.act(
            HumanAction.APPROVE, {"approver": "maria", "expected_version": waiting.version}
        )
        await review.outcome()

    assert f"it is at version {waiting.version}" in str(stale.value)
    assert (waiting.version + 1, "awaiting_manager_approval") == (
        accepted.version,
        accepted.current_step,
    )


async def test_two_managers_deciding_at_once_one_wins(waiting_claim: WaitForPerson) -> None:
    """Concurrent approve and reject on the same version: exactly one is accepted."""
    async with waiting_claim("CLM-1002") as (review, waiting):
        results = await asyncio.gather(
            review.act(
                HumanAction.APPROVE, {"approver": "maria", "expected_version": waiting.version}
            ),
            review.act(
                HumanAction.REJECT, {"approver": "lee", "expected_version": waiting.version}
            ),
            return_exceptions=True,
        )
        outcome = await review.outcome()

    winners = [r for r in results if isinstance(r, ActionAccepted)]
    losers = [r for r in results if isinstance(r, ActionRefused)]
    assert (1, 1) == (len(winners), len(losers))
    refusal = str(losers[0])
    assert "moved on" in refusal or "already been taken" in refusal
    expected = OutcomeStatus.COMPLETED if winners[0].action == "approve" else OutcomeStatus.REJECTED
    assert expected == outcome.status


async def test_an_edited_proposal_is_what_executes(waiting_claim: WaitForPerson) -> None:
    """maria lowers the payout and rewords the message; the edit is versioned with its diff."""
    async with waiting_claim("CLM-1002") as (review, waiting):
        edited = await review.act(
            HumanAction.EDIT,
            {
                "approver": "maria",
                "payout_amount": 1000,
                "customer_message": "We are paying 1,000.00 USD; the cabinets are excluded.",
                "comment": "cabinets were pre-existing damage",
            },
        )
        with pytest.raises(ActionRefused) as too_much:
            await review.act(HumanAction.EDIT, {"approver": "maria", "payout_amount": 5000})
        await review.act(HumanAction.APPROVE, {"approver": "maria"})
        outcome = await review.outcome()
        final = await review.state()

    proposal = final.context.proposal
    assert proposal is not None
    [edit] = proposal.edits
    assert waiting.version + 1 == edited.version == edit.version
    assert ("1250", "1000") == (
        edit.changes["payout_amount"][0][:4],
        edit.changes["payout_amount"][1],
    )
    assert "more than the policy pays" in str(too_much.value)
    assert (Decimal(1000), [(outcome.payout_id, "1000.00")]) == (
        outcome.payout_amount,
        review.payouts(),
    )


async def test_payouts_over_the_four_eyes_limit_need_two_different_approvers(
    waiting_claim: WaitForPerson,
) -> None:
    """12,300 EUR: maria's approval is the first of two; she cannot give the second."""
    async with waiting_claim(unique_claim("CLM-1003", amount=12800)) as (review, _):
        first = await review.act(HumanAction.APPROVE, {"approver": "maria"})
        with pytest.raises(ActionRefused) as again:
            await review.act(HumanAction.APPROVE, {"approver": "maria"})
        await review.act(HumanAction.APPROVE, {"approver": "dana"})
        outcome = await review.outcome()

    assert "a second approver must confirm" in first.detail
    assert "must be someone else's" in str(again.value)
    assert ("dana", Decimal("12300.00")) == (outcome.decided_by, outcome.payout_amount)


async def test_requested_documents_rerun_the_assessment(waiting_claim: WaitForPerson) -> None:
    """request_info -> awaiting_documents -> submit_document -> reassessed -> approval."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.handle.signal(
            ClaimReviewWorkflow.request_info,
            {"requested_by": "sam", "what": "plumber's invoice", "from_whom": "claimant"},
        )
        asked = await review.until(Step.AWAITING_DOCUMENTS)
        await review.handle.signal(
            ClaimReviewWorkflow.submit_document,
            {
                "submitted_by": "claimant-portal",
                "document": {"doc_id": "D-3", "kind": "invoice", "uri": "s3://d/D-3.pdf"},
            },
        )
        back = await review.until(Step.AWAITING_MANAGER_APPROVAL)
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        await review.outcome()

    [wait] = asked.pending_actions
    assert (PendingActionType.WAIT_FOR_DOCUMENTS, "claimant", timedelta(days=14)) == (
        wait.type,
        wait.assignee,
        wait.timeout - wait.created_at,
    )
    assert [timedelta(days=7)] == [r - wait.created_at for r in wait.reminders_at]
    assert "D-3" in [d.doc_id for d in back.context.supporting_docs]
    assert back.context.information_requests[0].fulfilled_at is not None
    assert 2 == sum(t.reason == "model turn 1" for t in back.transitions)


async def test_a_document_wait_ends_after_14_days_with_a_reminder_at_7(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson
) -> None:
    """Nothing arrives: a reminder halfway, then back to the approvers with a finding."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.handle.signal(
            ClaimReviewWorkflow.request_info, {"requested_by": "maria", "what": "photos"}
        )
        await review.until(Step.AWAITING_DOCUMENTS)
        await time_env.sleep(timedelta(days=7, minutes=1))
        await review.state()
        reminded = [s for _, s in review.notices()]
        await time_env.sleep(timedelta(days=7))
        back = await review.until(Step.AWAITING_MANAGER_APPROVAL)
        await review.handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria"})
        await review.outcome()

    assert [f"Reminder 1: claim {review.claim.claim_id} is waiting for you"] == reminded
    assert back.context.routing is not None
    assert any("requested information not received" in r for r in back.context.routing.reasons)


async def test_pause_holds_before_money_moves_and_resume_lets_it_go(
    waiting_claim: WaitForPerson,
) -> None:
    """Approved while paused: nothing is paid until an operator resumes."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.act(HumanAction.PAUSE, {"operator": "lee"})
        await review.act(HumanAction.APPROVE, {"approver": "maria"})
        held = await eventually(
            review.state,
            lambda s: any(a.type is PendingActionType.OPERATOR_PAUSE for a in s.pending_actions),
        )
        paid_while_paused = review.payouts()
        await review.act(HumanAction.RESUME, {"operator": "lee"})
        outcome = await review.outcome()

    assert (True, []) == (held.paused, paid_while_paused)
    assert OutcomeStatus.COMPLETED == outcome.status


async def test_cancel_ends_the_review_and_executes_nothing(waiting_claim: WaitForPerson) -> None:
    """An operator's cancel ends the review with their reason: nothing paid, nobody told."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.handle.signal(
            ClaimReviewWorkflow.cancel, {"operator": "lee", "reason": "claimant withdrew"}
        )
        outcome = await review.outcome()
        final = await review.state()

    assert (OutcomeStatus.CANCELLED, "lee", "claimant withdrew") == (
        outcome.status,
        outcome.decided_by,
        outcome.reason,
    )
    assert (Step.CANCELLED, []) == (final.current_step, final.pending_actions)
    assert [] == review.payouts()
    assert [] == review.notices()


async def test_reassign_names_a_person_as_the_assignee(waiting_claim: WaitForPerson) -> None:
    """Reassigned to sam: the wait and the Assignee search attribute name sam, who decides."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.act(HumanAction.REASSIGN, {"operator": "maria", "assignee": "sam"})
        after = await review.state()
        described = await review.handle.describe()
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "sam"})
        await review.outcome()

    assert ("sam", "sam") == (
        after.pending_actions[0].assignee,
        described.typed_search_attributes.get(sa.ASSIGNEE),
    )


async def test_an_urgent_interrupt_preempts_the_wait_and_reassesses(
    waiting_claim: WaitForPerson,
) -> None:
    """Priority 80 beats the approval wait (50): the agent looks again with the news."""
    async with waiting_claim(unique_claim("CLM-1001", amount=1200)) as (review, before):
        await review.handle.signal(
            ClaimReviewWorkflow.interrupt,
            {"operator": "lee", "information": "receipt looks altered", "priority": 80},
        )
        after = await eventually(
            review.state,
            lambda s: (
                s.current_step is Step.AWAITING_MANAGER_APPROVAL and s.version > before.version + 1
            ),
        )
        await review.handle.signal(
            ClaimReviewWorkflow.interrupt,
            {"operator": "lee", "information": "claimant called", "priority": 10},
        )
        low = await eventually(review.state, lambda s: len(s.context.notes) == 2)
        await review.handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria"})
        await review.outcome()

    assert after.context.assessment is not None
    assert "staff note: lee: receipt looks altered" in after.context.assessment.rationale
    assert 2 == sum(t.reason == "model turn 1" for t in after.transitions)
    assert (Step.AWAITING_MANAGER_APPROVAL, after.pending_actions) == (
        low.current_step,
        low.pending_actions,
    )
    assert "kept for the next assessment" in low.audit_log[-1].detail


async def test_an_interrupt_cancels_the_assessment_in_flight(reviewing: StartReview) -> None:
    """The model is mid-turn when news arrives: that turn is cancelled and restarted."""
    slow = LlmSettings(provider="offline", model="offline-adjuster-1", offline_latency_seconds=1.5)
    async with reviewing("CLM-1001", llm=slow) as review:
        await review.until(Step.ASSESSING)
        await review.handle.signal(
            ClaimReviewWorkflow.interrupt,
            {"operator": "lee", "information": "duplicate reported by phone"},
        )
        await review.until(Step.AWAITING_MANAGER_APPROVAL)
        cancel_requests = [
            e
            for e in (await every_run_history(review.handle)).events
            if e.HasField("activity_task_cancel_requested_event_attributes")
        ]
        final = await review.state()
        await review.handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria"})
        await review.outcome()

    assert 1 <= len(cancel_requests)
    assert ["lee: duplicate reported by phone"] == final.context.notes
    assert final.context.routing is not None
    assert not final.context.routing.auto_approve


@pytest.mark.parametrize(
    ("signal", "payload", "reason"),
    [
        ("approve", {"approver": "sam", "expected_version": 1}, "moved on"),
        ("edit", {"approver": "maria"}, "needs payout_amount or customer_message"),
        ("pause", {"operator": "mallory"}, "not in the approver directory"),
        ("resume", {"operator": "lee"}, "not paused"),
        ("reassign", {"operator": "lee", "assignee": "nobody"}, "'nobody' is not in"),
        (
            "submit_document",
            {"submitted_by": "x", "document": {"doc_id": "D-1", "kind": "photo", "uri": "u"}},
            "already on file",
        ),
        ("cancel", {"operator": "lee"}, "reason: Field required"),
    ],
)
async def test_refused_actions_never_change_the_claim(
    waiting_claim: WaitForPerson,
    signal: str,
    payload: dict[str, object],
    reason: str,
) -> None:
    """Each refused action is audited with its reason; nothing else in the claim changes."""
    async with waiting_claim("CLM-1002") as (review, before):
        await review.handle.signal(signal, payload)
        after = await eventually(review.state, lambda s: len(s.audit_log) > len(before.audit_log))
        await review.handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria"})
        await review.outcome()

    refusal = after.audit_log[-1]
    assert (AuditOutcome.REFUSED, signal) == (refusal.outcome, refusal.action)
    assert reason in refusal.detail
    assert before.model_dump(exclude={"audit_log"}) == after.model_dump(exclude={"audit_log"})


async def test_the_submitter_cannot_approve_their_own_claim(waiting_claim: WaitForPerson) -> None:
    """maria submitted the claim: her approval is refused, and another approver decides."""
    async with waiting_claim(unique_claim("CLM-1002", submitted_by="maria")) as (review, _):
        with pytest.raises(ActionRefused) as refused:
            await review.act(HumanAction.APPROVE, {"approver": "maria"})
        await review.act(HumanAction.APPROVE, {"approver": "lee"})
        outcome = await review.outcome()

    assert "'maria' submitted this claim and cannot decide it" in str(refused.value)
    assert "lee" == outcome.decided_by


async def test_a_document_sent_right_after_the_request_still_counts_as_asked(
    waiting_claim: WaitForPerson,
) -> None:
    """request_info and submit_document in the same moment: no 14-day wait for nothing."""
    async with waiting_claim("CLM-1003") as (review, waiting):
        await review.handle.signal(
            ClaimReviewWorkflow.request_info, {"requested_by": "maria", "what": "photos"}
        )
        await review.handle.signal(
            ClaimReviewWorkflow.submit_document,
            {
                "submitted_by": "claimant",
                "document": {"doc_id": "A-3", "kind": "photo", "uri": "u"},
            },
        )
        back = await eventually(
            review.state,
            lambda s: (
                s.current_step is Step.AWAITING_MANAGER_APPROVAL and s.version > waiting.version + 3
            ),
        )
        await review.handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria"})
        await review.outcome()

    assert "photo A-3 as requested" in [e.detail for e in back.audit_log]


async def test_a_forgotten_pause_ends_by_itself_after_its_limit(
    waiting_claim: WaitForPerson,
) -> None:
    """Every wait has a timeout: a pause holds at most max_pause_hours (7 days), then resumes."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.act(HumanAction.PAUSE, {"operator": "lee"})
        await review.act(HumanAction.APPROVE, {"approver": "maria"})
        held = await eventually(review.state, lambda s: bool(s.pending_actions))
        outcome = await review.outcome()
        final = await review.state()

    [hold] = held.pending_actions
    assert (PendingActionType.OPERATOR_PAUSE, timedelta(days=7)) == (
        hold.type,
        hold.timeout - hold.created_at,
    )
    assert OutcomeStatus.COMPLETED == outcome.status
    assert any("pause expired after 168h" in t.reason for t in final.transitions)


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
async def test_a_claim_paused_mid_assessment_replays_quietly(reviewing: StartReview) -> None:
    """A history that ends while the agent holds for a pause (what `claims show --version`
    and an evicting worker replay) leaves the hold without running workflow code outside
    the workflow."""
    slow = LlmSettings(provider="offline", model="offline-adjuster-1", offline_latency_seconds=1)
    async with reviewing("CLM-1002", llm=slow) as review:
        await review.until(Step.ASSESSING)
        await review.act(HumanAction.PAUSE, {"operator": "lee"})
        await eventually(
            review.state,
            lambda s: any(a.type is PendingActionType.OPERATOR_PAUSE for a in s.pending_actions),
        )
        history = await review.handle.fetch_history()

    await Replayer(
        workflows=[ClaimReviewWorkflow], data_converter=encrypted_test_converter()
    ).replay_workflow(history)
    for _ in range(3):  # the replayed workflow, still holding, is dropped here: quietly
        await asyncio.sleep(0.05)
        gc.collect()
