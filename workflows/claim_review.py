"""ClaimReviewWorkflow: the claim-review agent as a durable, resumable state machine.

intake -> (assessing <-> gathering_evidence: the agent loop of `workflows.agent`)
-> routing -> [awaiting_manager_approval <-> awaiting_documents] -> executing
-> completed; or -> rejected; or -> cancelled. The model recommends; the rules in
`workflows.routing` and the people in `workflows.authority` decide.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError

# The agent loop is workflow code too: imported inside the sandbox, so it is checked.
from workflows.agent import AgentOutcome, ClaimAgent

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.payments import PaymentActivities
    from activities.review_policy import ReviewPolicyActivities
    from runtime.telemetry import record_human_wait, record_outcome
    from signals.messages import (
        PAYLOADS,
        ActionAccepted,
        CancelPayload,
        DecisionPayload,
        EditPayload,
        HumanAction,
        InterruptPayload,
        Message,
        OperatorPayload,
        ReassignPayload,
        RequestInfoPayload,
        SubmitDocumentPayload,
        edit_changes,
    )
    from workflows import search_attributes as sa
    from workflows.actions import Notice, PayoutOrder
    from workflows.authority import ReviewPolicy
    from workflows.claim import Claim, money
    from workflows.evidence import ClaimAssessment
    from workflows.human_actions import refusal
    from workflows.intake import intake_findings
    from workflows.options import ReviewOptions, WhatIfRequest
    from workflows.routing import RoutingDecision, route_claim
    from workflows.state import (
        AuditOutcome,
        ClaimOutcome,
        ClaimState,
        DecisionKind,
        DecisionRecord,
        InformationRequest,
        OutcomeStatus,
        PendingAction,
        PendingActionType,
        ProposalEdit,
        ProposedActions,
        Step,
    )

AGENT_ACTOR = "claim-review-agent"

POLICY_TIMEOUT = timedelta(seconds=30)
POLICY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# Payout and notices are idempotent, so they retry until the ledger answers.
SIDE_EFFECT_TIMEOUT = timedelta(seconds=30)
SIDE_EFFECT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
APPROVAL_PRIORITY = 50
PATCH_REJECTED_BEFORE_NOTICE = "rejected-before-notice"
PATCH_RESTING_STEPS = "search-attribute-resting-steps"
DOCUMENTS_PRIORITY = 30


class Reassess(StrEnum):
    """Why a human wait ended without a decision: the agent looks again."""

    DOCUMENTS = "documents"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


@workflow.defn
class ClaimReviewWorkflow:
    """Review one claim: gather evidence, assess with the model, route, wait for people, pay."""

    @workflow.init
    def __init__(self, claim: Claim) -> None:
        info = workflow.info()
        self._options = ReviewOptions()
        self._state = ClaimState.begin(
            claim,
            workflow_id=info.workflow_id,
            at=workflow.now(),
            history_length=info.get_current_history_length(),
        )
        self._policy: ReviewPolicy | None = None
        self._escalation_level = 0
        self._decision: DecisionRecord | None = None
        self._info_request: InformationRequest | None = None
        self._documents_arrived = False
        self._preempted_by: str | None = None
        self._restart_assessment = False
        self._cancel: CancelPayload | None = None
        self._findings: list[str] = []

    @workflow.run
    async def run(self, claim: Claim) -> ClaimOutcome:
        return await self._review(claim)

    async def _review(self, claim: Claim) -> ClaimOutcome:
        self.publish()
        policy = await workflow.execute_activity_method(
            ReviewPolicyActivities.load_review_policy,
            start_to_close_timeout=POLICY_TIMEOUT,
            retry_policy=POLICY_RETRY,
            summary="Load review policy and approver directory",
        )
        self._policy = _with_overrides(policy, self._options.policy_overrides)
        self._findings = intake_findings(claim, today=workflow.now().date())
        a_person_is_involved = False
        while True:
            result = await self._assess()
            if result is None:
                return await self._cancelled()
            routing = self._route(result)
            if routing.auto_approve and not a_person_is_involved:
                decision = self._record_decision(
                    AGENT_ACTOR, DecisionKind.AUTO_APPROVE, "within auto-approval rules"
                )
                break
            a_person_is_involved = True
            if self._options.dry_run:
                return await self._stop_at_human_gate(routing)
            waited = await self._await_decision(routing)
            if waited is Reassess.CANCELLED:
                return await self._cancelled()
            if isinstance(waited, DecisionRecord):
                decision = waited
                break

        await self.checkpoint()
        if self._cancel is not None:
            return await self._cancelled()
        if decision.decision is DecisionKind.REJECT:
            outcome = await self._reject(claim, decision)
        else:
            outcome = await self._pay(claim, decision)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    @workflow.query
    def state(self) -> ClaimState:
        """The state document of the external contract."""
        return self._state

    # -- the agent -----------------------------------------------------------------------

    async def _assess(self) -> AgentOutcome | None:
        """Run the agent loop; an interrupt restarts it with the new information."""
        assert self._policy is not None
        while True:
            claim = self._state.context.claim.model_copy(
                update={"documents": list(self._state.context.supporting_docs)}
            )
            agent = ClaimAgent(
                claim=claim,
                state=self._state,
                host=self,
                step_budget=self._policy.agent_step_budget,
                intake_findings=list(self._findings),
                notes=list(self._state.context.notes),
                model=self._options.llm,
            )
            result = await self._run_until_interrupted(agent)
            if result is not None:
                return result
            if self._cancel is not None:
                return None

    async def _run_until_interrupted(self, agent: ClaimAgent) -> AgentOutcome | None:
        """The agent's outcome, or None if an interrupt or a cancel stopped it mid-step."""
        self._restart_assessment = False
        task = asyncio.create_task(agent.run())
        await workflow.wait_condition(
            lambda: task.done() or self._restart_assessment or self._cancel is not None
        )
        if task.done():
            return task.result()
        # Cancelling the task cancels the model or tool activity it is waiting on.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ActivityError):
            await task
        return None

    def _route(self, result: AgentOutcome) -> RoutingDecision:
        assert self._policy is not None
        context = self._state.context
        context.evidence = result.evidence
        context.assessment = result.assessment
        self.transition(
            Step.ROUTING,
            "assessment received" if result.assessment else f"no assessment: {result.stop_reason}",
        )
        routing = route_claim(
            assessment=result.assessment,
            evidence=result.evidence,
            policy=self._policy,
            no_assessment_because=result.stopped_because,
        )
        context.routing = routing
        context.proposal = self._propose(routing, result.assessment)
        return routing

    def _propose(
        self, routing: RoutingDecision, assessment: ClaimAssessment | None
    ) -> ProposedActions:
        """What the agent would do if approved: pay this much, and tell the claimant this."""
        claim = self._state.context.claim
        amount = routing.proposed_payout
        message = assessment.customer_message if assessment else ""
        if not message or "approved" not in message.lower():
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

    async def checkpoint(self) -> None:
        """Hold here while an operator has paused the claim; the hold has a time limit."""
        if not self._state.paused or self._cancel is not None:
            return
        assert self._policy is not None
        now = workflow.now()
        hold = PendingAction(
            type=PendingActionType.OPERATOR_PAUSE,
            timeout=now + timedelta(hours=self._policy.max_pause_hours),
            created_at=now,
            trigger="signal or update: resume | cancel",
            assignee=self._state.assignee or "",
            on_timeout="resume automatically",
        )
        self._state.pending_actions.append(hold)
        self.publish()
        try:
            await workflow.wait_condition(
                lambda: not self._state.paused or self._cancel is not None,
                timeout=hold.timeout - now,
                timeout_summary="operator pause limit",
            )
        except TimeoutError:
            self._state.paused = False
            self.transition(
                self._state.current_step,
                f"pause expired after {self._policy.max_pause_hours:g}h; resumed automatically",
            )
        except asyncio.CancelledError:
            # An interrupt cancelled the assessment that was holding here. (Not `finally`:
            # a workflow dropped while holding, at the end of a replay, must not publish.)
            self._release(hold)
            raise
        self._release(hold)

    def _release(self, hold: PendingAction) -> None:
        self._state.pending_actions.remove(hold)
        self.publish()

    # -- waiting for people --------------------------------------------------------------

    async def _await_decision(self, routing: RoutingDecision) -> DecisionRecord | Reassess:
        """Wait for an authorised decision; remind, escalate, and handle whatever comes."""
        self._decision = None
        self._open_approval_wait()
        self.transition(
            Step.AWAITING_MANAGER_APPROVAL, "needs a human: " + "; ".join(routing.reasons)
        )
        while True:
            wait = self._state.pending_actions[0]
            reminder = wait.next_reminder
            wake_at = min(reminder, wait.timeout) if reminder else wait.timeout
            try:
                await workflow.wait_condition(
                    self._approval_wait_over,
                    timeout=max(wake_at - workflow.now(), timedelta(0)),
                    timeout_summary="approval reminder"
                    if wake_at != wait.timeout
                    else f"approval deadline, level {self._escalation_level}",
                )
            except TimeoutError:
                if reminder is not None and workflow.now() >= reminder:
                    await self._remind(wait, reminder)
                else:
                    await self._escalate()
                continue
            self._state.pending_actions.clear()
            if self._cancel is not None:
                return Reassess.CANCELLED
            if self._decision is not None:
                return self._decision
            if self._info_request is not None:
                return await self._await_documents(self._info_request)
            self._preempted_by = None
            return Reassess.INTERRUPTED

    def _approval_wait_over(self) -> bool:
        return any(
            (
                self._decision is not None,
                self._info_request is not None,
                self._preempted_by is not None,
                self._cancel is not None,
            )
        )

    def _open_approval_wait(self) -> None:
        assert self._policy is not None
        level = self._policy.level(self._escalation_level)
        now = workflow.now()
        at_top = self._escalation_level >= self._policy.top_level
        next_level = level if at_top else self._policy.level(self._escalation_level + 1)
        self._state.pending_actions = [
            PendingAction(
                type=PendingActionType.WAIT_FOR_APPROVAL,
                timeout=now + timedelta(hours=self._policy.approval_timeout_hours),
                created_at=now,
                trigger="signal or update: approve | reject | edit | request_info",
                assignee=self._state.assignee or level.name,
                assignee_roles=[str(r) for r in level.roles],
                escalation_level=self._escalation_level,
                on_timeout=f"escalate to {next_level.name} and keep waiting",
                priority=APPROVAL_PRIORITY,
                reminders_at=[now + timedelta(hours=h) for h in self._policy.reminder_hours],
            )
        ]

    async def _remind(self, wait: PendingAction, due: datetime) -> None:
        wait.reminders_sent.append(due)
        number = len(wait.reminders_sent)
        claim_id = self._state.context.claim.claim_id
        await self._send(
            key=f"reminder/{wait.type}/{self._escalation_level}/{number}",
            recipient=wait.assignee,
            subject=f"Reminder {number}: claim {claim_id} is waiting for you",
            body=f"Claim {claim_id} has waited since {wait.created_at:%Y-%m-%d %H:%M} UTC; "
            f"it times out at {wait.timeout:%Y-%m-%d %H:%M} UTC ({wait.on_timeout}).",
        )
        self.audit(
            AGENT_ACTOR, "remind", AuditOutcome.RECORDED, f"reminder {number}: {wait.assignee}"
        )

    async def _escalate(self) -> None:
        assert self._policy is not None
        missed = self._state.pending_actions[0].assignee
        self._escalation_level = min(self._escalation_level + 1, self._policy.top_level)
        hours = self._policy.approval_timeout_hours
        self._record_decision(
            AGENT_ACTOR, DecisionKind.ESCALATE, f"no decision from {missed} within {hours:g}h"
        )
        self._state.assignee = None
        self._open_approval_wait()
        target = self._state.pending_actions[0].assignee
        self.transition(
            Step.AWAITING_MANAGER_APPROVAL,
            f"no decision from {missed} within {hours:g}h; escalated to {target}",
        )
        claim_id = self._state.context.claim.claim_id
        await self._send(
            key=f"escalation/{self._escalation_level}/{len(self._state.transitions)}",
            recipient=target,
            subject=f"Escalated: claim {claim_id} needs a decision",
            body=f"Claim {claim_id} got no decision from {missed} within {hours:g}h.",
        )

    async def _await_documents(self, request: InformationRequest) -> Reassess:
        """Wait for what was asked for; a reminder halfway, a finding if it never comes."""
        assert self._policy is not None
        self._info_request = None
        now = workflow.now()
        timeout = timedelta(hours=self._policy.documents_timeout_hours)
        wait = PendingAction(
            type=PendingActionType.WAIT_FOR_DOCUMENTS,
            timeout=now + timeout,
            created_at=now,
            trigger="signal or update: submit_document",
            assignee=request.from_whom,
            on_timeout="reassess without it and return to the approvers",
            priority=DOCUMENTS_PRIORITY,
            reminders_at=[now + timeout / 2],
            detail=request.what,
        )
        self._state.pending_actions = [wait]
        self.transition(
            Step.AWAITING_DOCUMENTS,
            f"{request.requested_by} asked {request.from_whom} for: {request.what}",
        )
        while True:
            reminder = wait.next_reminder
            wake_at = reminder or wait.timeout
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._documents_arrived
                        or self._cancel is not None
                        or self._preempted_by is not None
                    ),
                    timeout=max(wake_at - workflow.now(), timedelta(0)),
                    timeout_summary="documents reminder" if reminder else "documents deadline",
                )
            except TimeoutError:
                if reminder is not None:
                    await self._remind(wait, reminder)
                    continue
                self._findings.append(
                    f"requested information not received within "
                    f"{self._policy.documents_timeout_hours:g}h: {request.what}"
                )
                break
            break
        self._state.pending_actions.clear()
        self._preempted_by = None
        if self._cancel is not None:
            return Reassess.CANCELLED
        return Reassess.DOCUMENTS

    # -- outcomes ------------------------------------------------------------------------

    async def _pay(self, claim: Claim, decision: DecisionRecord) -> ClaimOutcome:
        proposal = self._state.context.proposal
        assert proposal is not None
        amount = proposal.payout_amount
        self.transition(Step.EXECUTING, f"{decision.decision} by {decision.actor}")
        payout_id: str | None = None
        if amount > 0 and self._options.dry_run:
            self.audit(
                AGENT_ACTOR, "payout", AuditOutcome.RECORDED, f"dry run: would pay {money(amount)}"
            )
        elif amount > 0:
            receipt = await workflow.execute_activity_method(
                PaymentActivities.issue_payout,
                PayoutOrder(
                    idempotency_key=f"{self._state.workflow_id}/payout",
                    claim_id=claim.claim_id,
                    payee_id=proposal.payee_id,
                    amount=amount,
                    currency=proposal.currency,
                    approved_by=decision.actor,
                ),
                start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
                retry_policy=SIDE_EFFECT_RETRY,
                summary=f"Pay {money(amount)} {claim.currency} to {proposal.payee_id}",
            )
            payout_id = receipt.payout_id
        await self._send(
            key="notice/approved",
            recipient=claim.claimant.email,
            subject=f"Claim {claim.claim_id} approved",
            body=proposal.customer_message,
        )
        outcome = self._finish(OutcomeStatus.COMPLETED, decision, amount, payout_id)
        self.transition(Step.COMPLETED, f"paid {money(amount)} {claim.currency}")
        return outcome

    async def _reject(self, claim: Claim, decision: DecisionRecord) -> ClaimOutcome:
        notice = self._send(
            key="notice/rejected",
            recipient=claim.claimant.email,
            subject=f"Claim {claim.claim_id} not approved",
            body=f"Your claim {claim.claim_id} was not approved."
            + (f" Reason: {decision.comment}" if decision.comment else ""),
        )
        # Claims rejected before this change sent the notice first, and so kept looking
        # like they waited for approval while it was retried; they replay the old order.
        if workflow.patched(PATCH_REJECTED_BEFORE_NOTICE):
            outcome = self._finish(OutcomeStatus.REJECTED, decision, Decimal(0), None)
            self.transition(Step.REJECTED, f"rejected by {decision.actor}")
            await notice
            return outcome
        await notice
        outcome = self._finish(OutcomeStatus.REJECTED, decision, Decimal(0), None)
        self.transition(Step.REJECTED, f"rejected by {decision.actor}")
        return outcome

    async def _stop_at_human_gate(self, routing: RoutingDecision) -> ClaimOutcome:
        """A dry run ends where a real review would wait for a person."""
        reasons = "; ".join(routing.reasons)
        decision = DecisionRecord(
            at=workflow.now(),
            actor=AGENT_ACTOR,
            decision=DecisionKind.CANCEL,
            comment=f"dry run stops at the human gate: {reasons}",
        )
        outcome = self._finish(OutcomeStatus.NEEDS_HUMAN, decision, Decimal(0), None)
        self.transition(Step.CANCELLED, decision.comment)
        return outcome

    async def _cancelled(self) -> ClaimOutcome:
        assert self._cancel is not None
        decision = self._record_decision(
            self._cancel.operator, DecisionKind.CANCEL, self._cancel.reason
        )
        self._state.pending_actions.clear()
        outcome = self._finish(OutcomeStatus.CANCELLED, decision, Decimal(0), None)
        self.transition(Step.CANCELLED, f"cancelled by {decision.actor}: {decision.comment}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _send(self, *, key: str, recipient: str, subject: str, body: str) -> None:
        if self._options.dry_run:
            self.audit(
                AGENT_ACTOR, "notice", AuditOutcome.RECORDED, f"dry run: would send {subject}"
            )
            return
        await workflow.execute_activity_method(
            PaymentActivities.send_notice,
            Notice(
                idempotency_key=f"{self._state.workflow_id}/{key}",
                claim_id=self._state.context.claim.claim_id,
                recipient=recipient,
                subject=subject,
                body=body,
            ),
            start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
            retry_policy=SIDE_EFFECT_RETRY,
            summary=subject,
        )

    def _finish(
        self,
        status: OutcomeStatus,
        decision: DecisionRecord,
        amount: Decimal,
        payout_id: str | None,
    ) -> ClaimOutcome:
        record_outcome(status)
        self._state.outcome = ClaimOutcome(
            claim_id=self._state.context.claim.claim_id,
            status=status,
            decided_by=decision.actor,
            payout_amount=amount,
            currency=self._state.context.currency,
            decided_at=decision.at,
            reason=decision.comment,
            payout_id=payout_id,
        )
        return self._state.outcome

    # -- human actions: signals for the CLI and UI, updates for clients that need an answer

    @workflow.signal
    def approve(self, payload: Any = None) -> None:
        """Approve the proposed actions: `{"approver": ..., "comment": ...}`."""
        self._signal(HumanAction.APPROVE, payload)

    @workflow.signal
    def reject(self, payload: Any = None) -> None:
        """Reject the claim: `{"approver": ..., "comment": ...}`."""
        self._signal(HumanAction.REJECT, payload)

    @workflow.signal
    def edit(self, payload: Any = None) -> None:
        """Change the proposed payout or message: `{"approver", "payout_amount", ...}`."""
        self._signal(HumanAction.EDIT, payload)

    @workflow.signal
    def request_info(self, payload: Any = None) -> None:
        """Ask for more: `{"requested_by", "what", "from_whom"}`."""
        self._signal(HumanAction.REQUEST_INFO, payload)

    @workflow.signal
    def submit_document(self, payload: Any = None) -> None:
        """A document arrives: `{"submitted_by", "document": {doc_id, kind, uri}}`."""
        self._signal(HumanAction.SUBMIT_DOCUMENT, payload)

    @workflow.signal
    def pause(self, payload: Any = None) -> None:
        """Hold the agent after the step in flight: `{"operator", "reason"}`."""
        self._signal(HumanAction.PAUSE, payload)

    @workflow.signal
    def resume(self, payload: Any = None) -> None:
        """Let a paused agent go on: `{"operator"}`."""
        self._signal(HumanAction.RESUME, payload)

    @workflow.signal
    def cancel(self, payload: Any = None) -> None:
        """End the review without executing anything: `{"operator", "reason"}`."""
        self._signal(HumanAction.CANCEL, payload)

    @workflow.signal
    def reassign(self, payload: Any = None) -> None:
        """Hand the claim to a person: `{"operator", "assignee"}`."""
        self._signal(HumanAction.REASSIGN, payload)

    @workflow.signal
    def interrupt(self, payload: Any = None) -> None:
        """New information; the assessment restarts: `{"operator", "information", "priority"}`."""
        self._signal(HumanAction.INTERRUPT, payload)

    @workflow.update(name="approve")
    def approve_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.APPROVE, payload)

    @approve_update.validator
    def _validate_approve(self, payload: Any = None) -> None:
        self._validate(HumanAction.APPROVE, payload)

    @workflow.update(name="reject")
    def reject_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.REJECT, payload)

    @reject_update.validator
    def _validate_reject(self, payload: Any = None) -> None:
        self._validate(HumanAction.REJECT, payload)

    @workflow.update(name="edit")
    def edit_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.EDIT, payload)

    @edit_update.validator
    def _validate_edit(self, payload: Any = None) -> None:
        self._validate(HumanAction.EDIT, payload)

    @workflow.update(name="request_info")
    def request_info_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.REQUEST_INFO, payload)

    @request_info_update.validator
    def _validate_request_info(self, payload: Any = None) -> None:
        self._validate(HumanAction.REQUEST_INFO, payload)

    @workflow.update(name="submit_document")
    def submit_document_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.SUBMIT_DOCUMENT, payload)

    @submit_document_update.validator
    def _validate_submit_document(self, payload: Any = None) -> None:
        self._validate(HumanAction.SUBMIT_DOCUMENT, payload)

    @workflow.update(name="pause")
    def pause_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.PAUSE, payload)

    @pause_update.validator
    def _validate_pause(self, payload: Any = None) -> None:
        self._validate(HumanAction.PAUSE, payload)

    @workflow.update(name="resume")
    def resume_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.RESUME, payload)

    @resume_update.validator
    def _validate_resume(self, payload: Any = None) -> None:
        self._validate(HumanAction.RESUME, payload)

    @workflow.update(name="cancel")
    def cancel_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.CANCEL, payload)

    @cancel_update.validator
    def _validate_cancel(self, payload: Any = None) -> None:
        self._validate(HumanAction.CANCEL, payload)

    @workflow.update(name="reassign")
    def reassign_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.REASSIGN, payload)

    @reassign_update.validator
    def _validate_reassign(self, payload: Any = None) -> None:
        self._validate(HumanAction.REASSIGN, payload)

    @workflow.update(name="interrupt")
    def interrupt_update(self, payload: Any = None) -> ActionAccepted:
        return self._update(HumanAction.INTERRUPT, payload)

    @interrupt_update.validator
    def _validate_interrupt(self, payload: Any = None) -> None:
        self._validate(HumanAction.INTERRUPT, payload)

    def _check(self, action: HumanAction, payload: Any) -> Message | tuple[str, str]:
        """The validated message, or (actor, why not) — the same test for every channel."""
        actor = _claimed_actor(payload)
        try:
            message = PAYLOADS[action].model_validate(payload)
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
                for e in invalid.errors(include_url=False)
            )
            return actor, f"invalid payload: {problems}"
        refused = refusal(
            action,
            message,
            state=self._state,
            policy=self._policy,
            escalation_level=self._escalation_level,
            decided=self._decision is not None,
        )
        return (message.actor, refused) if refused is not None else message

    def _signal(self, action: HumanAction, payload: Any) -> None:
        checked = self._check(action, payload)
        if isinstance(checked, tuple):
            self.audit(checked[0], action, AuditOutcome.REFUSED, checked[1])
            return
        self._apply(action, checked)

    def _validate(self, action: HumanAction, payload: Any) -> None:
        """Refuse before the update reaches history; the caller gets the reason."""
        checked = self._check(action, payload)
        if isinstance(checked, tuple):
            raise ApplicationError(checked[1], type="ActionRefused", non_retryable=True)

    def _update(self, action: HumanAction, payload: Any) -> ActionAccepted:
        # Checked again: another update may have won the race since the validator ran.
        checked = self._check(action, payload)
        if isinstance(checked, tuple):
            self.audit(checked[0], action, AuditOutcome.REFUSED, checked[1])
            raise ApplicationError(checked[1], type="ActionRefused", non_retryable=True)
        detail = self._apply(action, checked)
        return ActionAccepted(
            action=action,
            version=self._state.version,
            current_step=self._state.current_step,
            detail=detail,
        )

    def _apply(self, action: HumanAction, message: Message) -> str:
        """Carry out an accepted action; each one is a new version, with who and why."""
        detail = self._carry_out(action, message)
        self.audit(message.actor, action, AuditOutcome.ACCEPTED, detail)
        self.transition(self._state.current_step, f"{action} by {message.actor}: {detail}")
        return detail

    def _carry_out(self, action: HumanAction, message: Message) -> str:
        context = self._state.context
        if isinstance(message, DecisionPayload):
            return self._decide(action, message)
        if isinstance(message, EditPayload):
            return self._edit(message)
        if isinstance(message, RequestInfoPayload):
            self._documents_arrived = False
            self._info_request = InformationRequest(
                at=workflow.now(),
                requested_by=message.requested_by,
                what=message.what,
                from_whom=message.from_whom,
            )
            context.information_requests.append(self._info_request)
            return f"asked {message.from_whom} for: {message.what}"
        if isinstance(message, SubmitDocumentPayload):
            context.supporting_docs.append(message.document)
            # Asked for if a request is open, even one whose wait has not begun yet.
            open_requests = [r for r in context.information_requests if r.fulfilled_at is None]
            asked = bool(open_requests)
            for request in open_requests:
                request.fulfilled_at = workflow.now()
            self._documents_arrived = self._documents_arrived or asked
            doc = message.document
            return f"{doc.kind} {doc.doc_id} " + ("as requested" if asked else "added unasked")
        if isinstance(message, CancelPayload):
            self._cancel = message
            return message.reason
        if isinstance(message, ReassignPayload):
            self._state.assignee = message.assignee
            for wait in self._state.pending_actions:
                if wait.type.needs_a_person:
                    wait.assignee = message.assignee
            self.publish()
            return f"assigned to {message.assignee}" + (
                f" ({message.reason})" if message.reason else ""
            )
        if isinstance(message, InterruptPayload):
            return self._interrupt(message)
        assert isinstance(message, OperatorPayload)
        self._state.paused = action is HumanAction.PAUSE
        self.publish()
        return message.reason

    def _decide(self, action: HumanAction, message: DecisionPayload) -> str:
        assert self._policy is not None
        wait = next(iter(self._state.pending_actions), None)
        if wait is not None:
            record_human_wait(workflow.now() - wait.created_at, str(action))
        proposal = self._state.context.proposal
        assert proposal is not None
        if action is HumanAction.REJECT:
            self._decision = self._record_decision(
                message.approver, DecisionKind.REJECT, message.comment
            )
            return message.comment or "rejected"
        proposal.approvals.append(message.approver)
        needs_two = proposal.payout_amount > self._policy.four_eyes_above
        if needs_two and len(proposal.approvals) < 2:
            return (
                f"first approval of {money(proposal.payout_amount)}; over "
                f"{money(self._policy.four_eyes_above)} a second approver must confirm"
            )
        self._decision = self._record_decision(
            message.approver, DecisionKind.APPROVE, message.comment
        )
        return message.comment or f"approved {money(proposal.payout_amount)}"

    def _edit(self, message: EditPayload) -> str:
        proposal = self._state.context.proposal
        assert proposal is not None
        changes: dict[str, tuple[str, str]] = {}
        for field, value in edit_changes(message).items():
            old = getattr(proposal, field)
            if old != value:
                changes[field] = (str(old), str(value))
                setattr(proposal, field, value)
        proposal.revision += 1
        proposal.approvals.clear()
        proposal.edits.append(
            ProposalEdit(
                at=workflow.now(),
                version=self._state.version + 1,
                actor=message.approver,
                changes=changes,
                comment=message.comment,
            )
        )
        return "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in changes.items()) or "no change"

    def _interrupt(self, message: InterruptPayload) -> str:
        self._state.context.notes.append(f"{message.operator}: {message.information}")
        if self._state.current_step in (Step.INTAKE, Step.ASSESSING, Step.GATHERING_EVIDENCE):
            self._restart_assessment = True
            return "assessment restarts with the new information"
        wait = next((w for w in self._state.pending_actions if w.type.needs_a_person), None)
        if wait is not None and message.priority > wait.priority:
            self._preempted_by = message.operator
            return (
                f"priority {message.priority} pre-empts the {wait.type} (priority {wait.priority})"
            )
        return "kept for the next assessment"

    def _record_decision(self, actor: str, kind: DecisionKind, comment: str) -> DecisionRecord:
        decision = DecisionRecord(at=workflow.now(), actor=actor, decision=kind, comment=comment)
        self._state.context.previous_decisions.append(decision)
        if kind in (DecisionKind.AUTO_APPROVE, DecisionKind.ESCALATE):
            self.audit(actor, kind, AuditOutcome.ACCEPTED, comment)
        return decision

    # -- state bookkeeping ---------------------------------------------------------------

    def transition(self, to: Step, reason: str) -> None:
        """The one way the step changes: version, transition record, search attributes, log."""
        record = self._state.transition(
            to,
            reason=reason,
            at=workflow.now(),
            history_length=workflow.info().get_current_history_length(),
        )
        self.publish()
        workflow.logger.info(
            "claim moved to %s",
            to,
            extra={
                "step": str(to),
                "from_step": str(record.from_step),
                "version": record.version,
                "reason": reason,
            },
        )

    def audit(self, actor: str, action: str, outcome: AuditOutcome, detail: str) -> None:
        entry = self._state.audit(
            at=workflow.now(), actor=actor, action=str(action), outcome=outcome, detail=detail
        )
        workflow.logger.info(
            "%s %s by %s",
            entry.action,
            entry.outcome,
            entry.actor,
            extra={
                "step": str(self._state.current_step),
                "version": entry.version,
                "actor": entry.actor,
                "detail": detail,
            },
        )

    def _searchable_step(self) -> str:
        """The step as list queries see it: where a claim can rest, not every loop turn.

        The agent loop flips between assessing and gathering_evidence within seconds;
        upserting each flip cost a visibility write per turn. New reviews show the whole
        loop as `assessing`; the state document keeps the exact step.
        """
        step = self._state.current_step
        if step in sa.AGENT_LOOP_STEPS and workflow.patched(PATCH_RESTING_STEPS):
            return str(Step.ASSESSING)
        return str(step)

    def publish(self) -> None:
        """Mirror where the claim is into search attributes and the UI's current details."""
        state = self._state
        wait = next((w for w in state.pending_actions if w.type.needs_a_person), None)
        wait = wait or (state.pending_actions[0] if state.pending_actions else None)
        assignee = (wait.assignee if wait and wait.assignee else None) or state.assignee
        # Only what changed: each upsert is a history event and a visibility write.
        current = workflow.info().typed_search_attributes
        wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
            (sa.CLAIM_STEP, self._searchable_step()),
            (sa.CLAIM_AMOUNT, float(state.context.claim_amount)),
            (sa.AWAITING_HUMAN, state.awaiting_human),
            (sa.ASSIGNEE, assignee),
            (sa.CLAIM_DEADLINE, wait.timeout if wait else None),
        ]
        updates = [
            key.value_set(value) if value is not None else key.value_unset()
            for key, value in wanted
            if current.get(key) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
        details = f"**{state.current_step}** (version {state.version})"
        if state.paused:
            details += " — paused by an operator"
        if wait is not None and wait.type is PendingActionType.RATE_LIMIT:
            details += f"\n\nRate limited by the model provider until {wait.timeout:%H:%M:%S} UTC"
        elif wait is not None:
            details += (
                f"\n\n{wait.type} — {assignee or 'unassigned'} "
                f"until {wait.timeout:%Y-%m-%d %H:%M} UTC"
            )
        if state.context.routing and state.context.routing.reasons:
            details += "\n\nWhy: " + "; ".join(state.context.routing.reasons)
        workflow.set_current_details(details)


@workflow.defn
class ClaimWhatIfWorkflow(ClaimReviewWorkflow):
    """A what-if rerun: a claim as it stood at some version, under other conditions.

    A workflow type of its own, so the contract's ClaimReviewWorkflow keeps its single
    input; side effects are dry runs and the run ends at the first human gate.
    """

    @workflow.init
    def __init__(self, request: WhatIfRequest) -> None:
        super().__init__(request.claim)
        self._options = request.options
        self._state.context.notes.extend(request.options.notes)
        self._state.transitions[0].reason = f"what-if rerun of {request.options.forked_from}"

    @workflow.run
    async def run(self, request: WhatIfRequest) -> ClaimOutcome:  # type: ignore[override]
        return await self._review(request.claim)


def _with_overrides(policy: ReviewPolicy, overrides: dict[str, Any]) -> ReviewPolicy:
    """The policy with a what-if's changes; invalid changes fail the run, loudly."""
    if not overrides:
        return policy
    try:
        return ReviewPolicy.model_validate(policy.model_dump() | overrides)
    except ValidationError as invalid:
        raise ApplicationError(
            f"invalid policy overrides {overrides}: {invalid}",
            type="InvalidReviewOptions",
            non_retryable=True,
        ) from None


def _claimed_actor(payload: Any) -> str:
    """Who the payload says acts, for the audit line of a payload that does not validate."""
    if isinstance(payload, dict):
        for field in ("approver", "operator", "requested_by", "submitted_by"):
            value = payload.get(field)
            if isinstance(value, str) and value.strip():
                return value.strip()[:64]
    return "unknown"
