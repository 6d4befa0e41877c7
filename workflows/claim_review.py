"""ClaimReviewWorkflow: the claim-review agent as a durable, resumable state machine.

intake -> (assessing <-> gathering_evidence: the agent loop of `workflows.agent`)
-> routing -> [awaiting_manager_approval <-> awaiting_documents: the people at
`workflows.desk`] -> executing -> completed; or -> rejected; or -> cancelled. The model
recommends; the rules in `workflows.routing` and the people in `workflows.authority`
decide. Every change of step is written through `workflows.review_book`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

# The agent loop is workflow code too: imported inside the sandbox, so it is checked.
from workflows.agent import AgentOutcome, AgentUsage, ClaimAgent

with workflow.unsafe.imports_passed_through():
    from signals.messages import HumanAction
    from workflows.action_handlers import HumanActionHandlers
    from workflows.actions import Notice, PayoutOrder, PayoutReceipt
    from workflows.claim import Claim, money, workflow_id_for
    from workflows.continuation import CarriedReview
    from workflows.desk import Reassess, ReviewDesk
    from workflows.evidence import ReviewedClaim
    from workflows.handover import Handover
    from workflows.intake import intake_findings
    from workflows.options import ReviewOptions, WhatIfRequest
    from workflows.payment_refusal import (
        PATCH_PAYMENT_REFUSED_TO_PERSON,
        gateway_refusal,
        hand_to_person,
        payout_key,
    )
    from workflows.policy_wait import POLICY_TIMEOUT, load_policy, with_overrides
    from workflows.proposal import no_payment_message, propose
    from workflows.review_book import (
        AGENT_ACTOR,
        PATCH_COALESCED_SEARCH_ATTRIBUTES,
        PATCH_ONE_MARKER,
        ReviewBook,
    )
    from workflows.review_input import printable_name, read_input
    from workflows.routing import RoutingDecision, route_claim
    from workflows.state import (
        AuditOutcome,
        ClaimOutcome,
        ClaimState,
        DecisionKind,
        DecisionRecord,
        OutcomeStatus,
        RunRecord,
        Step,
    )

TEMPORAL_CANCELLATION = "operator unknown (Temporal cancellation)"

# Activities by their registered names: workflow code imports no activity module.
REGISTER_REVIEWED_CLAIM = "register_reviewed_claim"
ISSUE_PAYOUT = "issue_payout"
SEND_NOTICE = "send_notice"

# Payout and notices are idempotent, so they retry until the ledger answers.
SIDE_EFFECT_TIMEOUT = timedelta(seconds=30)
SIDE_EFFECT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
PATCH_REJECTED_BEFORE_NOTICE = "rejected-before-notice"
# Everything that arrives is untrusted: bounded, normalised, audited, continued as new.
PATCH_UNTRUSTED_INPUT = "untrusted-input"


@workflow.defn
class ClaimReviewWorkflow(HumanActionHandlers):
    """Review one claim: gather evidence, assess with the model, route, wait for people, pay."""

    @workflow.init
    def __init__(self, *args: Any) -> None:
        """Take any input without raising: a wrong one fails the review in `run`, clearly."""
        info = workflow.info()
        self._options = ReviewOptions()
        # What the model turns cost this run (not part of the state document).
        self._usage = AgentUsage()
        claim, carried, self._input_problem = read_input(args)
        # Asked first: a new review records this one marker instead of one per patch.
        implied = workflow.patched(PATCH_ONE_MARKER)
        # Reviews that began before the untrusted-input rules replay with the old ones.
        hardened = implied or workflow.patched(PATCH_UNTRUSTED_INPUT)
        state = ClaimState.begin(
            claim,
            workflow_id=info.workflow_id,
            at=workflow.now(),
            history_length=info.get_current_history_length(),
        )
        # Read once: a review upserts its search attributes one way from start to end.
        coalesced = implied or workflow.patched(PATCH_COALESCED_SEARCH_ATTRIBUTES)
        self._book = ReviewBook(
            state, hardened=hardened, coalesced=coalesced, patches_implied=implied
        )
        self._desk = ReviewDesk(self._book, host=self)
        self._agent_task: asyncio.Task[AgentOutcome] | None = None
        self._execution: asyncio.Task[ClaimOutcome] | None = None
        self._handover = Handover(self._book, self._desk)
        if carried is not None:
            self._resume_from(carried)
        elif hardened:
            state.runs.append(
                RunRecord(run_id=info.run_id, first_version=1, started_at=workflow.now())
            )

    def _resume_from(self, carried: CarriedReview) -> None:
        """A continued run: the review goes on where the previous run stopped."""
        self._book.state = carried.state
        self._desk.policy = carried.policy
        self._desk.escalation_level = carried.escalation_level
        self._desk.findings = list(carried.findings)
        self._desk.documents_arrived = carried.documents_arrived
        self._book.state.runs.append(
            RunRecord(
                run_id=workflow.info().run_id,
                first_version=self._book.state.version + 1,
                started_at=workflow.now(),
            )
        )

    @workflow.run
    async def run(self, *args: Any) -> ClaimOutcome:
        """Review the claim in `args[0]`; a continued run also gets the carried review."""
        claim = self._book.state.context.claim
        if self._input_problem is not None:
            raise ApplicationError(self._input_problem, type="InvalidClaim", non_retryable=True)
        expected_id = workflow_id_for(claim.claim_id)
        if self._book.hardened and workflow.info().cron_schedule:
            raise ApplicationError(
                f"claim {claim.claim_id} was started with a cron schedule; a review runs once. "
                "Start it with `claims start`",
                type="ScheduledReview",
                non_retryable=True,
            )
        if self._book.hardened and workflow.info().workflow_id != expected_id:
            # The ledger pays a claim id once anyway; this says so before anything runs.
            raise ApplicationError(
                f"claim {claim.claim_id} is reviewed under workflow id {expected_id}, not "
                f"{workflow.info().workflow_id}; start it with `claims start`",
                type="WrongWorkflowId",
                non_retryable=True,
            )
        return await self._published(self._review_until_cancelled(claim, resuming=len(args) == 2))

    async def _published(self, review: Awaitable[ClaimOutcome]) -> ClaimOutcome:
        """The review, its search attributes flushed once per task and before it ends.

        The last flush comes before the run completes, fails or continues as new, as the
        upserts of an uncoalesced review did; a run dropped from the worker's cache (a
        cancelled task without a decision) writes nothing.
        """
        if not self._book.coalesced:
            return await review
        flusher = asyncio.create_task(self._book.keep_published())
        try:
            outcome = await review
        except asyncio.CancelledError:
            raise
        except BaseException:
            self._book.flush()
            raise
        finally:
            flusher.cancel()
        self._book.flush()
        return outcome

    async def _review_until_cancelled(self, claim: Claim, *, resuming: bool) -> ClaimOutcome:
        """The review; a Temporal cancellation is an operator's cancel until money moves."""
        try:
            return await self._review(claim, resuming=resuming)
        except (asyncio.CancelledError, ActivityError) as stopped:
            # An activity of the review itself (policy, registration, a reminder) that was
            # cancelled with the claim surfaces as an ActivityError.
            if not self._cancellation_requested() or (
                isinstance(stopped, ActivityError) and not isinstance(stopped.cause, CancelledError)
            ):
                raise
        given = (workflow.cancellation_reason() or "").strip()
        reason = "cancellation requested through Temporal"
        if given:
            reason += f": {printable_name(given)}"
        if self._execution is not None:
            # Decided and executing: the payout is not stopped halfway.
            self._book.audit(
                TEMPORAL_CANCELLATION,
                HumanAction.CANCEL,
                AuditOutcome.REFUSED,
                f"{reason}, but the claim is executing its decision; it can no longer be stopped",
            )
            outcome = await self._execution
        elif self._book.state.outcome is not None:
            outcome = self._book.state.outcome
        else:
            if self._agent_task is not None and not self._agent_task.done():
                self._agent_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ActivityError):
                    await self._agent_task
            self._book.audit(
                TEMPORAL_CANCELLATION, HumanAction.CANCEL, AuditOutcome.ACCEPTED, reason
            )
            outcome = await self._cancelled(TEMPORAL_CANCELLATION, reason)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _review(self, claim: Claim, *, resuming: bool = False) -> ClaimOutcome:
        self._book.publish()
        if resuming:
            self._book.transition(
                self._book.state.current_step,
                f"continued as new from run {workflow.info().continued_run_id}",
            )
        else:
            self._desk.policy = with_overrides(
                await load_policy(self._book, cancellation_requested=self._cancellation_requested),
                self._options.policy_overrides,
            )
            self._desk.findings = intake_findings(claim, today=workflow.now().date())
            await self._register(claim)
        a_person_is_involved = resuming
        while True:
            if resuming:
                resuming = False
                waited = await self._desk.resume_wait()
            else:
                result = await self._assess()
                if result is None:
                    return await self._cancelled_by_operator()
                routing = self._route(result)
                if routing.auto_approve and not a_person_is_involved:
                    decision = self._book.record_decision(
                        AGENT_ACTOR, DecisionKind.AUTO_APPROVE, "within auto-approval rules"
                    )
                    break
                a_person_is_involved = True
                if self._dry_run:
                    return await self._stop_at_human_gate(routing)
                waited = await self._desk.await_decision(routing, rest=True)
            if waited is Reassess.CANCELLED:
                return await self._cancelled_by_operator()
            if isinstance(waited, DecisionRecord):
                decision = waited
                break

        await self.checkpoint()
        if self._desk.cancel is not None:
            return await self._cancelled_by_operator()
        if self._book.hardened:
            # A Temporal cancellation from here on waits for the decision to be carried
            # out instead of cutting a payout or a notice halfway.
            self._execution = asyncio.create_task(self._execute(claim, decision))
            outcome = await asyncio.shield(self._execution)
        else:
            outcome = await self._execute(claim, decision)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _execute(self, claim: Claim, decision: DecisionRecord) -> ClaimOutcome:
        if decision.decision is DecisionKind.REJECT:
            return await self._reject(claim, decision)
        return await self._pay(claim, decision)

    def history_too_long(self) -> bool:
        return self._handover.due()

    async def continue_as_new(self, why: str = "") -> None:
        await self._handover.hand_over(why)

    async def _register(self, claim: Claim) -> None:
        """Put the claim in the claim history the duplicate search reads (not for what-ifs)."""
        if not self._book.hardened or self._dry_run:
            return
        await workflow.execute_activity(
            REGISTER_REVIEWED_CLAIM,
            ReviewedClaim.of(claim),
            start_to_close_timeout=POLICY_TIMEOUT,
            retry_policy=SIDE_EFFECT_RETRY,
            summary="Register the claim in the claim history",
        )

    @property
    def _dry_run(self) -> bool:
        """Only what-if reruns are dry runs: a property of the workflow type, not of its input."""
        return False

    def _cancellation_requested(self) -> bool:
        """Temporal asked to cancel the run (the web UI's "Request Cancellation").

        Without a cancellation reason, a cancelled task means the worker is dropping the
        run from its cache, or a replay ended: not a decision about the claim.
        """
        return self._book.hardened and workflow.cancellation_reason() is not None

    @workflow.query
    def state(self) -> ClaimState:
        """The state document of the external contract."""
        return self._book.state

    # -- the agent -----------------------------------------------------------------------

    async def _assess(self) -> AgentOutcome | None:
        """Run the agent loop; an interrupt restarts it with the new information."""
        assert self._desk.policy is not None
        while True:
            claim = self._book.state.context.claim.model_copy(
                update={"documents": list(self._book.state.context.supporting_docs)}
            )
            agent = ClaimAgent(
                claim=claim,
                state=self._book.state,
                host=self,
                step_budget=self._desk.policy.agent_step_budget,
                intake_findings=list(self._desk.findings),
                notes=list(self._book.state.context.notes),
                model=self._options.llm,
                prompt_version=self._options.prompt_version,
                recorded_evidence=self._options.recorded_evidence,
                usage=self._usage,
            )
            result = await self._run_until_interrupted(agent)
            if result is not None:
                return result
            if self._desk.cancel is not None:
                return None

    async def _run_until_interrupted(self, agent: ClaimAgent) -> AgentOutcome | None:
        """The agent's outcome, or None if an interrupt or a cancel stopped it mid-step."""
        self._desk.restart_assessment = False
        task = self._agent_task = asyncio.create_task(agent.run())
        await workflow.wait_condition(
            lambda: task.done() or self._desk.restart_assessment or self._desk.cancel is not None
        )
        if task.done():
            return task.result()
        # Cancelling the task cancels the model or tool activity it is waiting on.
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, ActivityError):
            await task
        return None

    def _route(self, result: AgentOutcome) -> RoutingDecision:
        assert self._desk.policy is not None
        context = self._book.state.context
        context.evidence = result.evidence
        context.assessment = result.assessment
        self._book.transition(
            Step.ROUTING,
            "assessment received" if result.assessment else f"no assessment: {result.stop_reason}",
        )
        routing = route_claim(
            assessment=result.assessment,
            evidence=result.evidence,
            policy=self._desk.policy,
            no_assessment_because=result.stopped_because,
            staff_notes=context.notes if self._book.hardened else (),
        )
        context.routing = routing
        context.proposal = propose(
            context.claim, routing, result.assessment, hardened=self._book.hardened
        )
        if self._book.hardened and result.evidence.coverage is None:
            context.proposal.unverified = True
        return routing

    async def _pay(self, claim: Claim, decision: DecisionRecord) -> ClaimOutcome:
        proposal = self._book.state.context.proposal
        assert proposal is not None
        amount = proposal.payout_amount
        self._book.transition(Step.EXECUTING, f"{decision.decision} by {decision.actor}")
        payout_id: str | None = None
        if amount > 0 and self._dry_run:
            self._book.audit(
                AGENT_ACTOR, "payout", AuditOutcome.RECORDED, f"dry run: would pay {money(amount)}"
            )
        elif amount > 0:
            # One payout per claim id, whatever workflow carries the claim.
            # A new key only after a refusal: a claim never refused keeps its key.
            key = payout_key(claim.claim_id, self._book.state.audit_log)
            approvers = list(proposal.approvals) or [decision.actor]
            try:
                receipt = await workflow.execute_activity(
                    ISSUE_PAYOUT,
                    PayoutOrder(
                        idempotency_key=key
                        if self._book.hardened
                        else f"{self._book.state.workflow_id}/payout",
                        claim_id=claim.claim_id,
                        payee_id=proposal.payee_id,
                        amount=amount,
                        currency=proposal.currency,
                        approved_by=approvers if self._book.hardened else [decision.actor],
                    ),
                    result_type=PayoutReceipt,
                    start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
                    retry_policy=SIDE_EFFECT_RETRY,
                    summary=f"Pay {money(amount)} {claim.currency} for claim {claim.claim_id}",
                )
            except ActivityError as failed:
                # Asked only when a refusal happens: reviews that failed on one before
                # this change replay as they ran. Never through `self._book.patched`,
                # which the one-patch marker would answer for reviews that lack it.
                reason = gateway_refusal(failed)
                if reason is None or not workflow.patched(PATCH_PAYMENT_REFUSED_TO_PERSON):
                    raise
                again = await hand_to_person(self._book, self._desk, reason)
                if again is None:
                    return await self._cancelled_by_operator()
                return await self._execute(claim, again)
            payout_id = receipt.payout_id
        zero = self._book.hardened and amount <= 0
        await self.send(
            key="notice/approved",
            recipient=claim.claimant.email,
            subject=f"Claim {claim.claim_id} " + ("closed" if zero else "approved"),
            body=no_payment_message(claim) if zero else proposal.customer_message,
        )
        outcome = self._book.finish(OutcomeStatus.COMPLETED, decision, amount, payout_id)
        self._book.transition(Step.COMPLETED, f"paid {money(amount)} {claim.currency}")
        return outcome

    async def _reject(self, claim: Claim, decision: DecisionRecord) -> ClaimOutcome:
        notice = self.send(
            key="notice/rejected",
            recipient=claim.claimant.email,
            subject=f"Claim {claim.claim_id} not approved",
            body=f"Your claim {claim.claim_id} was not approved."
            + (f" Reason: {decision.comment}" if decision.comment else ""),
        )
        # Claims rejected before this change sent the notice first, and so kept looking
        # like they waited for approval while it was retried; they replay the old order.
        if self._book.patched(PATCH_REJECTED_BEFORE_NOTICE):
            outcome = self._book.finish(OutcomeStatus.REJECTED, decision, Decimal(0), None)
            self._book.transition(Step.REJECTED, f"rejected by {decision.actor}")
            await notice
            return outcome
        await notice
        outcome = self._book.finish(OutcomeStatus.REJECTED, decision, Decimal(0), None)
        self._book.transition(Step.REJECTED, f"rejected by {decision.actor}")
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
        outcome = self._book.finish(OutcomeStatus.NEEDS_HUMAN, decision, Decimal(0), None)
        self._book.transition(Step.CANCELLED, decision.comment)
        return outcome

    async def _cancelled_by_operator(self) -> ClaimOutcome:
        assert self._desk.cancel is not None
        return await self._cancelled(self._desk.cancel.operator, self._desk.cancel.reason)

    async def _cancelled(self, actor: str, reason: str) -> ClaimOutcome:
        decision = self._book.record_decision(actor, DecisionKind.CANCEL, reason)
        self._book.state.pending_actions.clear()
        outcome = self._book.finish(OutcomeStatus.CANCELLED, decision, Decimal(0), None)
        self._book.transition(Step.CANCELLED, f"cancelled by {decision.actor}: {decision.comment}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def send(self, *, key: str, recipient: str, subject: str, body: str) -> None:
        if self._dry_run:
            self._book.audit(
                AGENT_ACTOR, "notice", AuditOutcome.RECORDED, f"dry run: would send {subject}"
            )
            return
        await workflow.execute_activity(
            SEND_NOTICE,
            Notice(
                idempotency_key=(
                    f"claim/{self._book.state.context.claim.claim_id}/{key}"
                    if self._book.hardened
                    else f"{self._book.state.workflow_id}/{key}"
                ),
                claim_id=self._book.state.context.claim.claim_id,
                recipient=recipient,
                subject=subject,
                body=body,
            ),
            start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
            retry_policy=SIDE_EFFECT_RETRY,
            summary=subject,
        )

    # -- what the agent loop needs (ReviewHost) -------------------------------------------

    def transition(self, to: Step, reason: str) -> None:
        self._book.transition(to, reason)

    def audit(self, actor: str, action: str, outcome: AuditOutcome, detail: str) -> None:
        self._book.audit(actor, action, outcome, detail)

    def publish(self) -> None:
        self._book.publish()

    async def checkpoint(self) -> None:
        """Between agent steps and before executing: the operator's pause hold."""
        await self._desk.checkpoint()


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
        self._book.state.context.notes.extend(request.options.notes)
        self._book.state.transitions[0].reason = f"what-if rerun of {request.options.forked_from}"

    @workflow.run
    async def run(self, request: WhatIfRequest) -> ClaimOutcome:
        return await self._published(self._review(request.claim))

    @property
    def _dry_run(self) -> bool:
        return True
