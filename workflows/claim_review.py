"""ClaimReviewWorkflow: the claim-review agent as a durable, resumable state machine.

intake -> (assessing <-> gathering_evidence: the agent loop of `workflows.agent`)
-> routing -> [awaiting_manager_approval] -> executing -> completed, or -> rejected.
The model recommends; the rules in `workflows.routing` and the approvers in
`workflows.authority` decide.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.payments import PaymentActivities
    from activities.review_policy import ReviewPolicyActivities
    from signals.messages import DecisionPayload
    from workflows import search_attributes as sa
    from workflows.actions import ClaimantNotice, PayoutOrder
    from workflows.agent import ClaimAgent
    from workflows.authority import ReviewPolicy, refusal_reason
    from workflows.claim import Claim, money
    from workflows.intake import intake_findings
    from workflows.routing import RoutingDecision, route_claim
    from workflows.state import (
        AuditOutcome,
        ClaimOutcome,
        ClaimState,
        DecisionKind,
        DecisionRecord,
        OutcomeStatus,
        PendingAction,
        PendingActionType,
        Step,
    )

AGENT_ACTOR = "claim-review-agent"

POLICY_TIMEOUT = timedelta(seconds=30)
POLICY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# Payout and notice are idempotent, so they retry until the ledger answers.
SIDE_EFFECT_TIMEOUT = timedelta(seconds=30)
SIDE_EFFECT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))


@workflow.defn
class ClaimReviewWorkflow:
    """Review one claim: gather evidence, assess with the model, route, wait for people, pay."""

    @workflow.init
    def __init__(self, claim: Claim) -> None:
        info = workflow.info()
        self._state = ClaimState.begin(
            claim,
            workflow_id=info.workflow_id,
            at=workflow.now(),
            history_length=info.get_current_history_length(),
        )
        self._policy: ReviewPolicy | None = None
        self._escalation_level = 0
        self._decision: DecisionRecord | None = None

    @workflow.run
    async def run(self, claim: Claim) -> ClaimOutcome:
        self.publish()
        self._policy = await workflow.execute_local_activity_method(
            ReviewPolicyActivities.load_review_policy,
            start_to_close_timeout=POLICY_TIMEOUT,
            retry_policy=POLICY_RETRY,
            summary="Load review policy and approver directory",
        )
        findings = intake_findings(claim, today=workflow.now().date())
        agent = ClaimAgent(
            claim=claim,
            state=self._state,
            host=self,
            step_budget=self._policy.agent_step_budget,
            intake_findings=findings,
        )
        result = await agent.run()
        self._state.context.evidence = result.evidence
        self._state.context.assessment = result.assessment

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
        self._state.context.routing = routing

        if routing.auto_approve:
            decision = self._record_decision(
                AGENT_ACTOR, DecisionKind.AUTO_APPROVE, "within auto-approval rules"
            )
        else:
            decision = await self._await_human_decision(routing)

        if decision.decision is DecisionKind.REJECT:
            outcome = await self._reject(claim, decision)
        else:
            outcome = await self._pay(claim, decision, routing.proposed_payout)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    @workflow.query
    def state(self) -> ClaimState:
        """The state document of the external contract."""
        return self._state

    @workflow.signal
    def approve(self, payload: Any = None) -> None:
        """A human approves the proposed payout: `{"approver": ..., "comment": ...}`."""
        self._receive_decision(DecisionKind.APPROVE, payload)

    @workflow.signal
    def reject(self, payload: Any = None) -> None:
        """A human rejects the claim: `{"approver": ..., "comment": ...}`."""
        self._receive_decision(DecisionKind.REJECT, payload)

    # -- steps -------------------------------------------------------------------------

    async def _await_human_decision(self, routing: RoutingDecision) -> DecisionRecord:
        """Wait for an authorised person; each missed deadline escalates one level up."""
        assert self._policy is not None
        reason = "; ".join(routing.reasons)
        self._open_wait()
        self.transition(Step.AWAITING_MANAGER_APPROVAL, f"needs a human: {reason}")
        while True:
            deadline = self._state.pending_actions[0].timeout
            try:
                await workflow.wait_condition(
                    lambda: self._decision is not None,
                    timeout=deadline - workflow.now(),
                    timeout_summary=f"approval deadline, level {self._escalation_level}",
                )
            except TimeoutError:
                self._escalate()
                continue
            assert self._decision is not None
            self._state.pending_actions.clear()
            return self._decision

    def _open_wait(self) -> None:
        assert self._policy is not None
        level = self._policy.level(self._escalation_level)
        now = workflow.now()
        at_top = self._escalation_level >= self._policy.top_level
        self._state.pending_actions = [
            PendingAction(
                type=PendingActionType.WAIT_FOR_APPROVAL,
                timeout=now + timedelta(hours=self._policy.approval_timeout_hours),
                created_at=now,
                trigger="signal or update: approve | reject",
                assignee=level.name,
                assignee_roles=[str(r) for r in level.roles],
                escalation_level=self._escalation_level,
                on_timeout="stay with "
                + (level.name if at_top else self._policy.level(self._escalation_level + 1).name)
                + " and keep waiting",
            )
        ]

    def _escalate(self) -> None:
        assert self._policy is not None
        missed = self._policy.level(self._escalation_level).name
        self._escalation_level = min(self._escalation_level + 1, self._policy.top_level)
        target = self._policy.level(self._escalation_level).name
        hours = self._policy.approval_timeout_hours
        self._record_decision(
            AGENT_ACTOR, DecisionKind.ESCALATE, f"no decision from {missed} within {hours:g}h"
        )
        self._open_wait()
        self.transition(
            Step.AWAITING_MANAGER_APPROVAL,
            f"no decision from {missed} within {hours:g}h; escalated to {target}",
        )

    async def _pay(self, claim: Claim, decision: DecisionRecord, amount: Decimal) -> ClaimOutcome:
        self.transition(Step.EXECUTING, f"{decision.decision} by {decision.actor}")
        workflow_id = self._state.workflow_id
        payout_id: str | None = None
        if amount > 0:
            receipt = await workflow.execute_activity_method(
                PaymentActivities.issue_payout,
                PayoutOrder(
                    idempotency_key=f"{workflow_id}/payout",
                    claim_id=claim.claim_id,
                    payee_id=claim.claimant.id,
                    amount=amount,
                    currency=claim.currency,
                    approved_by=decision.actor,
                ),
                start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
                retry_policy=SIDE_EFFECT_RETRY,
                summary=f"Pay {money(amount)} {claim.currency} to {claim.claimant.id}",
            )
            payout_id = receipt.payout_id
        await self._notify(
            claim,
            "approved",
            f"Your claim {claim.claim_id} is approved; "
            f"we are paying {money(amount)} {claim.currency}.",
        )
        outcome = self._finish(OutcomeStatus.COMPLETED, decision, amount, payout_id)
        self.transition(Step.COMPLETED, f"paid {money(amount)} {claim.currency}")
        return outcome

    async def _reject(self, claim: Claim, decision: DecisionRecord) -> ClaimOutcome:
        await self._notify(
            claim,
            "rejected",
            f"Your claim {claim.claim_id} was not approved."
            + (f" Reason: {decision.comment}" if decision.comment else ""),
        )
        outcome = self._finish(OutcomeStatus.REJECTED, decision, Decimal(0), None)
        self.transition(Step.REJECTED, f"rejected by {decision.actor}")
        return outcome

    async def _notify(self, claim: Claim, kind: str, body: str) -> None:
        await workflow.execute_activity_method(
            PaymentActivities.notify_claimant,
            ClaimantNotice(
                idempotency_key=f"{self._state.workflow_id}/notice/{kind}",
                claim_id=claim.claim_id,
                email=claim.claimant.email,
                subject=f"Claim {claim.claim_id} {kind}",
                body=body,
            ),
            start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
            retry_policy=SIDE_EFFECT_RETRY,
            summary=f"Notify claimant: {kind}",
        )

    def _finish(
        self,
        status: OutcomeStatus,
        decision: DecisionRecord,
        amount: Decimal,
        payout_id: str | None,
    ) -> ClaimOutcome:
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

    # -- human decisions -----------------------------------------------------------------

    def _receive_decision(self, kind: DecisionKind, payload: Any) -> None:
        """Validate a decision signal; anything not allowed is recorded and ignored."""
        actor = payload.get("approver") if isinstance(payload, dict) else None
        actor = actor if isinstance(actor, str) and actor.strip() else "unknown"
        try:
            message = DecisionPayload.model_validate(payload)
        except ValidationError as invalid:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}" for e in invalid.errors()
            )
            self.audit(actor, kind, AuditOutcome.REFUSED, f"invalid payload: {problems}")
            return
        refusal = self._why_not(message.approver, kind)
        if refusal is not None:
            self.audit(message.approver, kind, AuditOutcome.REFUSED, refusal)
            return
        self._decision = self._record_decision(message.approver, kind, message.comment)

    def _why_not(self, approver: str, kind: DecisionKind) -> str | None:
        if self._state.current_step is not Step.AWAITING_MANAGER_APPROVAL:
            return f"the claim is not awaiting a decision (it is {self._state.current_step})"
        if self._decision is not None:
            return f"already decided: {self._decision.decision} by {self._decision.actor}"
        routing = self._state.context.routing
        assert self._policy is not None
        assert routing is not None
        return refusal_reason(
            self._policy,
            approver_name=approver,
            approving=kind is DecisionKind.APPROVE,
            payout_amount=routing.proposed_payout,
            escalation_level=self._escalation_level,
            submitted_by=self._state.context.claim.submitted_by,
        )

    def _record_decision(self, actor: str, kind: DecisionKind, comment: str) -> DecisionRecord:
        decision = DecisionRecord(at=workflow.now(), actor=actor, decision=kind, comment=comment)
        self._state.context.previous_decisions.append(decision)
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

    def publish(self) -> None:
        """Mirror where the claim is into search attributes and the UI's current details."""
        state = self._state
        wait = state.pending_actions[0] if state.pending_actions else None
        assignee = wait.assignee if wait and wait.assignee else None
        # Only what changed: each upsert is a history event and a visibility write.
        current = workflow.info().typed_search_attributes
        wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
            (sa.CLAIM_STEP, str(state.current_step)),
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
        if wait is not None and wait.type is PendingActionType.RATE_LIMIT:
            details += f"\n\nRate limited by the model provider until {wait.timeout:%H:%M:%S} UTC"
        elif wait is not None:
            details += (
                f"\n\nWaiting for {assignee} ({', '.join(wait.assignee_roles)}) "
                f"until {wait.timeout:%Y-%m-%d %H:%M} UTC"
            )
        if state.context.routing and state.context.routing.reasons:
            details += "\n\nWhy: " + "; ".join(state.context.routing.reasons)
        workflow.set_current_details(details)
