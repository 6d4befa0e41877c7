"""ClaimReviewWorkflow: the claim-review agent as a durable, resumable state machine.

intake -> (assessing <-> gathering_evidence: the agent loop of `workflows.agent`)
-> routing -> [awaiting_manager_approval <-> awaiting_documents] -> executing
-> completed; or -> rejected; or -> cancelled. The model recommends; the rules in
`workflows.routing` and the people in `workflows.authority` decide.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

# The agent loop is workflow code too: imported inside the sandbox, so it is checked.
from workflows.agent import AgentOutcome, ClaimAgent

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.claim_registry import ClaimRegistry
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
    from workflows.claim import Claim, Claimant, ClaimCategory, money, workflow_id_for
    from workflows.continuation import CarriedReview
    from workflows.evidence import ClaimAssessment, ReviewedClaim
    from workflows.human_actions import refusal
    from workflows.intake import intake_findings
    from workflows.options import ReviewOptions, WhatIfRequest
    from workflows.people import control_characters
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
        RunRecord,
        Step,
    )

AGENT_ACTOR = "claim-review-agent"
TEMPORAL_CANCELLATION = "operator unknown (Temporal cancellation)"

POLICY_TIMEOUT = timedelta(seconds=30)
POLICY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# A policy that cannot be read is waited for, not failed on: a fixed file lets it go on.
POLICY_ATTEMPTS_PER_WAIT = RetryPolicy(maximum_attempts=2, maximum_interval=timedelta(seconds=2))
POLICY_WAIT_FIRST = timedelta(seconds=10)
POLICY_WAIT_LONGEST = timedelta(minutes=5)
# Payout and notices are idempotent, so they retry until the ledger answers.
SIDE_EFFECT_TIMEOUT = timedelta(seconds=30)
SIDE_EFFECT_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
APPROVAL_PRIORITY = 50
PATCH_REJECTED_BEFORE_NOTICE = "rejected-before-notice"
PATCH_RESTING_STEPS = "search-attribute-resting-steps"
# Everything that arrives is untrusted: bounded, normalised, audited, continued as new.
PATCH_UNTRUSTED_INPUT = "untrusted-input"
DOCUMENTS_PRIORITY = 30
# The audit log lists this many refusals; later ones are counted (see ClaimState).
MAX_LISTED_REFUSALS = 100
MAX_AUDIT_DETAIL = 300
MAX_TRANSITION_REASON = 300
# Well under the embedded server's 512 KiB payload limit (runtime.devserver).
MAX_CARRIED_BYTES = 384 * 1024
KNOWN_ACTIONS = ", ".join(HumanAction)


class Reassess(StrEnum):
    """Why a human wait ended without a decision: the agent looks again."""

    DOCUMENTS = "documents"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


@workflow.defn
class ClaimReviewWorkflow:
    """Review one claim: gather evidence, assess with the model, route, wait for people, pay."""

    @workflow.init
    def __init__(self, *args: Any) -> None:
        """Take any input without raising: a wrong one fails the review in `run`, clearly."""
        info = workflow.info()
        self._options = ReviewOptions()
        self._input_problem: str | None = None
        claim, carried = self._read_input(args)
        # Reviews that began before the untrusted-input rules replay with the old ones.
        self._hardened = workflow.patched(PATCH_UNTRUSTED_INPUT)
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
        self._agent_task: asyncio.Task[AgentOutcome] | None = None
        self._execution: asyncio.Task[ClaimOutcome] | None = None
        self._carry_refused = False
        if carried is not None:
            self._resume_from(carried)
        elif self._hardened:
            self._state.runs.append(
                RunRecord(run_id=info.run_id, first_version=1, started_at=workflow.now())
            )

    def _read_input(self, args: Sequence[Any]) -> tuple[Claim, CarriedReview | None]:
        """The claim (and a continued run's carried state), or a placeholder and the problem.

        The state document needs a claim even for a review that is about to fail, so an
        unusable input gets a placeholder that is never reviewed.
        """
        carried: CarriedReview | None = None
        try:
            if not args:
                raise ValueError("no input: start the review with the claim as one JSON object")
            if len(args) > 2:
                raise ValueError(
                    f"{len(args)} inputs: start the review with the claim as one JSON object"
                )
            claim = args[0] if isinstance(args[0], Claim) else Claim.model_validate(args[0])
            if len(args) == 2:
                carried = CarriedReview.model_validate(args[1])
                _check_carried(claim, carried)
            return claim, carried
        except ValidationError as invalid:
            self._input_problem = "the claim is not valid: " + _problems(invalid)
        except ValueError as wrong:
            self._input_problem = str(wrong)
        return _PLACEHOLDER_CLAIM, None

    def _resume_from(self, carried: CarriedReview) -> None:
        """A continued run: the review goes on where the previous run stopped."""
        info = workflow.info()
        self._state = carried.state
        self._policy = carried.policy
        self._escalation_level = carried.escalation_level
        self._findings = list(carried.findings)
        self._documents_arrived = carried.documents_arrived
        self._state.runs.append(
            RunRecord(
                run_id=info.run_id, first_version=self._state.version + 1, started_at=workflow.now()
            )
        )

    @workflow.run
    async def run(self, *args: Any) -> ClaimOutcome:
        """Review the claim in `args[0]`; a continued run also gets the carried review."""
        claim = self._state.context.claim
        if self._input_problem is not None:
            raise ApplicationError(self._input_problem, type="InvalidClaim", non_retryable=True)
        expected_id = workflow_id_for(claim.claim_id)
        if self._hardened and workflow.info().cron_schedule:
            raise ApplicationError(
                f"claim {claim.claim_id} was started with a cron schedule; a review runs once. "
                "Start it with `claims start`",
                type="ScheduledReview",
                non_retryable=True,
            )
        if self._hardened and workflow.info().workflow_id != expected_id:
            # The ledger pays a claim id once anyway; this says so before anything runs.
            raise ApplicationError(
                f"claim {claim.claim_id} is reviewed under workflow id {expected_id}, not "
                f"{workflow.info().workflow_id}; start it with `claims start`",
                type="WrongWorkflowId",
                non_retryable=True,
            )
        return await self._review_until_cancelled(claim, resuming=len(args) == 2)

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
            reason += f": {_printable_name(given)}"
        if self._execution is not None:
            # Decided and executing: the payout is not stopped halfway.
            self.audit(
                TEMPORAL_CANCELLATION,
                HumanAction.CANCEL,
                AuditOutcome.REFUSED,
                f"{reason}, but the claim is executing its decision; it can no longer be stopped",
            )
            outcome = await self._execution
        elif self._state.outcome is not None:
            outcome = self._state.outcome
        else:
            if self._agent_task is not None and not self._agent_task.done():
                self._agent_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ActivityError):
                    await self._agent_task
            self.audit(TEMPORAL_CANCELLATION, HumanAction.CANCEL, AuditOutcome.ACCEPTED, reason)
            outcome = await self._cancelled(TEMPORAL_CANCELLATION, reason)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _review(self, claim: Claim, *, resuming: bool = False) -> ClaimOutcome:
        self.publish()
        if resuming:
            self.transition(
                self._state.current_step,
                f"continued as new from run {workflow.info().continued_run_id}",
            )
        else:
            self._policy = _with_overrides(
                await self._load_policy(), self._options.policy_overrides
            )
            self._findings = intake_findings(claim, today=workflow.now().date())
            await self._register(claim)
        a_person_is_involved = resuming
        while True:
            if resuming:
                resuming = False
                waited = await self._resume_wait()
            else:
                result = await self._assess()
                if result is None:
                    return await self._cancelled_by_operator()
                routing = self._route(result)
                if routing.auto_approve and not a_person_is_involved:
                    decision = self._record_decision(
                        AGENT_ACTOR, DecisionKind.AUTO_APPROVE, "within auto-approval rules"
                    )
                    break
                a_person_is_involved = True
                if self._dry_run:
                    return await self._stop_at_human_gate(routing)
                waited = await self._await_decision(routing)
            if waited is Reassess.CANCELLED:
                return await self._cancelled_by_operator()
            if isinstance(waited, DecisionRecord):
                decision = waited
                break

        await self.checkpoint()
        if self._cancel is not None:
            return await self._cancelled_by_operator()
        if self._hardened:
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

    async def _load_policy(self) -> ReviewPolicy:
        """The review policy; while it cannot be read, the claim waits visibly for a fix."""
        if not self._hardened:
            return await workflow.execute_activity_method(
                ReviewPolicyActivities.load_review_policy,
                start_to_close_timeout=POLICY_TIMEOUT,
                retry_policy=POLICY_RETRY,
                summary="Load review policy and approver directory",
            )
        wait: PendingAction | None = None
        pause = POLICY_WAIT_FIRST
        while True:
            try:
                policy = await workflow.execute_activity_method(
                    ReviewPolicyActivities.load_review_policy,
                    start_to_close_timeout=POLICY_TIMEOUT,
                    retry_policy=POLICY_ATTEMPTS_PER_WAIT,
                    summary="Load review policy and approver directory",
                )
            except ActivityError as failure:
                if self._cancellation_requested():
                    raise
                problem = str(failure.cause or failure)
                now = workflow.now()
                if wait is None:
                    self.audit(AGENT_ACTOR, "load_policy", AuditOutcome.RECORDED, problem)
                else:
                    self._state.pending_actions.remove(wait)
                wait = PendingAction(
                    type=PendingActionType.CONFIGURATION,
                    timeout=now + pause,
                    created_at=wait.created_at if wait else now,
                    trigger="timer: read the approvers file again",
                    assignee="operators",
                    on_timeout="read the approvers file again; keep waiting while it is invalid",
                    detail=problem,
                )
                self._state.pending_actions.append(wait)
                self.publish()
                await workflow.sleep(pause, summary="waiting for a valid review policy")
                pause = min(pause * 2, POLICY_WAIT_LONGEST)
                continue
            if wait is not None:
                self._state.pending_actions.remove(wait)
                self.audit(AGENT_ACTOR, "load_policy", AuditOutcome.RECORDED, "review policy read")
                self.publish()
            return policy

    async def _register(self, claim: Claim) -> None:
        """Put the claim in the claim history the duplicate search reads (not for what-ifs)."""
        if not self._hardened or self._dry_run:
            return
        await workflow.execute_activity_method(
            ClaimRegistry.register_reviewed_claim,
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
        return self._hardened and workflow.cancellation_reason() is not None

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
        task = self._agent_task = asyncio.create_task(agent.run())
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
            staff_notes=context.notes if self._hardened else (),
        )
        context.routing = routing
        context.proposal = self._propose(routing, result.assessment)
        if self._hardened and result.evidence.coverage is None:
            context.proposal.unverified = True
        return routing

    def _propose(
        self, routing: RoutingDecision, assessment: ClaimAssessment | None
    ) -> ProposedActions:
        """What the agent would do if approved: pay this much, and tell the claimant this."""
        claim = self._state.context.claim
        amount = routing.proposed_payout
        message = assessment.customer_message if assessment else ""
        if self._hardened and amount <= 0:
            # Never announce a payment of zero; a person sets the amount or closes the claim.
            message = _no_payment_message(claim)
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

    async def _resume_wait(self) -> DecisionRecord | Reassess:
        """A continued run picks up the human wait the previous run was in, deadline and all."""
        if self._state.current_step is Step.AWAITING_DOCUMENTS:
            return await self._wait_for_documents(self._state.pending_actions[0])
        return await self._await_decision(None)

    def _history_too_long(self) -> bool:
        """Time to continue as new: Temporal suggests it, or a budget of the policy is spent."""
        if not self._hardened or self._policy is None or self._carry_refused:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._policy.history_budget_events
            or info.get_current_history_size() >= self._policy.history_budget_bytes
        )

    async def _continue_as_new(self) -> None:
        """Hand the whole review to a fresh run; only from a human wait, never mid-decision."""
        assert self._policy is not None
        await workflow.wait_condition(workflow.all_handlers_finished)
        info = workflow.info()
        carried = CarriedReview(
            state=self._state,
            policy=self._policy,
            escalation_level=self._escalation_level,
            findings=self._findings,
            documents_arrived=self._documents_arrived,
        )
        size = len(carried.model_dump_json())
        if size > MAX_CARRIED_BYTES:
            # Carrying it would fail every workflow task on the server's payload limit;
            # better to keep this run going (and say so once) than to wedge the claim.
            if not self._carry_refused:
                self._carry_refused = True
                self.audit(
                    AGENT_ACTOR,
                    "continue_as_new",
                    AuditOutcome.RECORDED,
                    f"history budget reached, but the state ({size // 1024} KiB) is too large "
                    "to carry into a new run; this run goes on",
                )
            return
        self.transition(
            self._state.current_step,
            f"continuing as new after {info.get_current_history_length()} events "
            f"({info.get_current_history_size() // 1024} KiB of history)",
        )
        carried.state = self._state
        workflow.continue_as_new(args=[self._state.context.claim, carried])

    async def _await_decision(self, routing: RoutingDecision | None) -> DecisionRecord | Reassess:
        """Wait for an authorised decision; remind, escalate, and handle whatever comes.

        `routing` None: a continued run goes on with the wait it carried.
        """
        if routing is not None:
            # A continued run keeps what its handlers took before this point.
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
                    lambda: self._approval_wait_over() or self._history_too_long(),
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
            if not self._approval_wait_over():
                await self._continue_as_new()
                continue  # the state was too large to carry: this run waits on
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
        return await self._wait_for_documents(wait)

    async def _wait_for_documents(self, wait: PendingAction) -> Reassess:
        assert self._policy is not None

        def arrived_or_stopped() -> bool:
            return (
                self._documents_arrived
                or self._cancel is not None
                or self._preempted_by is not None
            )

        while True:
            reminder = wait.next_reminder
            wake_at = reminder or wait.timeout
            try:
                await workflow.wait_condition(
                    lambda: arrived_or_stopped() or self._history_too_long(),
                    timeout=max(wake_at - workflow.now(), timedelta(0)),
                    timeout_summary="documents reminder" if reminder else "documents deadline",
                )
            except TimeoutError:
                if reminder is not None:
                    await self._remind(wait, reminder)
                    continue
                self._findings.append(
                    f"requested information not received within "
                    f"{self._policy.documents_timeout_hours:g}h: {wait.detail}"
                )
                break
            if not arrived_or_stopped():
                await self._continue_as_new()
                continue  # the state was too large to carry: this run waits on
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
        if amount > 0 and self._dry_run:
            self.audit(
                AGENT_ACTOR, "payout", AuditOutcome.RECORDED, f"dry run: would pay {money(amount)}"
            )
        elif amount > 0:
            # One payout per claim id, whatever workflow carries the claim.
            key = f"claim/{claim.claim_id}/payout"
            approvers = list(proposal.approvals) or [decision.actor]
            receipt = await workflow.execute_activity_method(
                PaymentActivities.issue_payout,
                PayoutOrder(
                    idempotency_key=key if self._hardened else f"{self._state.workflow_id}/payout",
                    claim_id=claim.claim_id,
                    payee_id=proposal.payee_id,
                    amount=amount,
                    currency=proposal.currency,
                    approved_by=approvers if self._hardened else [decision.actor],
                ),
                start_to_close_timeout=SIDE_EFFECT_TIMEOUT,
                retry_policy=SIDE_EFFECT_RETRY,
                summary=f"Pay {money(amount)} {claim.currency} to {proposal.payee_id}",
            )
            payout_id = receipt.payout_id
        zero = self._hardened and amount <= 0
        await self._send(
            key="notice/approved",
            recipient=claim.claimant.email,
            subject=f"Claim {claim.claim_id} " + ("closed" if zero else "approved"),
            body=_no_payment_message(claim) if zero else proposal.customer_message,
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

    async def _cancelled_by_operator(self) -> ClaimOutcome:
        assert self._cancel is not None
        return await self._cancelled(self._cancel.operator, self._cancel.reason)

    async def _cancelled(self, actor: str, reason: str) -> ClaimOutcome:
        decision = self._record_decision(actor, DecisionKind.CANCEL, reason)
        self._state.pending_actions.clear()
        outcome = self._finish(OutcomeStatus.CANCELLED, decision, Decimal(0), None)
        self.transition(Step.CANCELLED, f"cancelled by {decision.actor}: {decision.comment}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcome

    async def _send(self, *, key: str, recipient: str, subject: str, body: str) -> None:
        if self._dry_run:
            self.audit(
                AGENT_ACTOR, "notice", AuditOutcome.RECORDED, f"dry run: would send {subject}"
            )
            return
        await workflow.execute_activity_method(
            PaymentActivities.send_notice,
            Notice(
                idempotency_key=(
                    f"claim/{self._state.context.claim.claim_id}/{key}"
                    if self._hardened
                    else f"{self._state.workflow_id}/{key}"
                ),
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
    def approve(self, *args: Any) -> None:
        """Approve the proposed actions: `{"approver": ..., "comment": ...}`."""
        self._signal(HumanAction.APPROVE, args)

    @workflow.signal
    def reject(self, *args: Any) -> None:
        """Reject the claim: `{"approver": ..., "comment": ...}`."""
        self._signal(HumanAction.REJECT, args)

    @workflow.signal
    def edit(self, *args: Any) -> None:
        """Change the proposed payout or message: `{"approver", "payout_amount", ...}`."""
        self._signal(HumanAction.EDIT, args)

    @workflow.signal
    def request_info(self, *args: Any) -> None:
        """Ask for more: `{"requested_by", "what", "from_whom"}`."""
        self._signal(HumanAction.REQUEST_INFO, args)

    @workflow.signal
    def submit_document(self, *args: Any) -> None:
        """A document arrives: `{"submitted_by", "document": {doc_id, kind, uri}}`."""
        self._signal(HumanAction.SUBMIT_DOCUMENT, args)

    @workflow.signal
    def pause(self, *args: Any) -> None:
        """Hold the agent after the step in flight: `{"operator", "reason"}`."""
        self._signal(HumanAction.PAUSE, args)

    @workflow.signal
    def resume(self, *args: Any) -> None:
        """Let a paused agent go on: `{"operator"}`."""
        self._signal(HumanAction.RESUME, args)

    @workflow.signal
    def cancel(self, *args: Any) -> None:
        """End the review without executing anything: `{"operator", "reason"}`."""
        self._signal(HumanAction.CANCEL, args)

    @workflow.signal
    def reassign(self, *args: Any) -> None:
        """Hand the claim to a person: `{"operator", "assignee"}`."""
        self._signal(HumanAction.REASSIGN, args)

    @workflow.signal
    def interrupt(self, *args: Any) -> None:
        """New information; the assessment restarts: `{"operator", "information", "priority"}`."""
        self._signal(HumanAction.INTERRUPT, args)

    @workflow.update(name="approve")
    def approve_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.APPROVE, args)

    @approve_update.validator
    def _validate_approve(self, *args: Any) -> None:
        self._validate(HumanAction.APPROVE, args)

    @workflow.update(name="reject")
    def reject_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.REJECT, args)

    @reject_update.validator
    def _validate_reject(self, *args: Any) -> None:
        self._validate(HumanAction.REJECT, args)

    @workflow.update(name="edit")
    def edit_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.EDIT, args)

    @edit_update.validator
    def _validate_edit(self, *args: Any) -> None:
        self._validate(HumanAction.EDIT, args)

    @workflow.update(name="request_info")
    def request_info_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.REQUEST_INFO, args)

    @request_info_update.validator
    def _validate_request_info(self, *args: Any) -> None:
        self._validate(HumanAction.REQUEST_INFO, args)

    @workflow.update(name="submit_document")
    def submit_document_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.SUBMIT_DOCUMENT, args)

    @submit_document_update.validator
    def _validate_submit_document(self, *args: Any) -> None:
        self._validate(HumanAction.SUBMIT_DOCUMENT, args)

    @workflow.update(name="pause")
    def pause_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.PAUSE, args)

    @pause_update.validator
    def _validate_pause(self, *args: Any) -> None:
        self._validate(HumanAction.PAUSE, args)

    @workflow.update(name="resume")
    def resume_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.RESUME, args)

    @resume_update.validator
    def _validate_resume(self, *args: Any) -> None:
        self._validate(HumanAction.RESUME, args)

    @workflow.update(name="cancel")
    def cancel_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.CANCEL, args)

    @cancel_update.validator
    def _validate_cancel(self, *args: Any) -> None:
        self._validate(HumanAction.CANCEL, args)

    @workflow.update(name="reassign")
    def reassign_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.REASSIGN, args)

    @reassign_update.validator
    def _validate_reassign(self, *args: Any) -> None:
        self._validate(HumanAction.REASSIGN, args)

    @workflow.update(name="interrupt")
    def interrupt_update(self, *args: Any) -> ActionAccepted:
        return self._update(HumanAction.INTERRUPT, args)

    @interrupt_update.validator
    def _validate_interrupt(self, *args: Any) -> None:
        self._validate(HumanAction.INTERRUPT, args)

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """A signal no handler knows (`aprove`) is recorded as refused, never silently lost."""
        payload: Any = None
        with contextlib.suppress(Exception):
            payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        self.audit(
            _claimed_actor(payload),
            _printable_name(name),
            AuditOutcome.REFUSED,
            f"unknown signal {_printable_name(name)!r}; the actions are: {KNOWN_ACTIONS}",
        )

    @workflow.update(dynamic=True)
    def unknown_update(self, name: str, args: Sequence[RawValue]) -> None:
        """Never runs: the validator refuses every unknown update, naming the known ones."""
        raise _unknown_update(name)

    @unknown_update.validator
    def _validate_unknown_update(self, name: str, args: Sequence[RawValue]) -> None:
        raise _unknown_update(name)

    def _check(self, action: HumanAction, args: Sequence[Any]) -> Message | tuple[str, str]:
        """The validated message, or (actor, why not) — the same test for every channel.

        Every handler takes any arguments (`temporal workflow signal` can send several
        `--input`s) and refuses what it cannot use, so no message can fail a workflow task.
        """
        payload = args[0] if args else None
        actor = _claimed_actor(payload)
        if len(args) > 1:
            return actor, (
                f"invalid payload: {len(args)} inputs; send one JSON object, for example "
                '{"approver": "maria"}'
            )
        try:
            message = PAYLOADS[action].model_validate(payload)
        except ValidationError as invalid:
            return actor, "invalid payload: " + _problems(invalid)
        refused = refusal(
            action,
            message,
            state=self._state,
            policy=self._policy,
            escalation_level=self._escalation_level,
            decided=self._decision is not None,
            hardened=self._hardened,
        )
        return (message.actor, refused) if refused is not None else message

    def _signal(self, action: HumanAction, args: Sequence[Any]) -> None:
        checked = self._check(action, args)
        if isinstance(checked, tuple):
            self.audit(checked[0], action, AuditOutcome.REFUSED, checked[1])
            return
        self._apply(action, checked)

    def _validate(self, action: HumanAction, args: Sequence[Any]) -> None:
        """Refuse before the update reaches history; the caller gets the reason."""
        checked = self._check(action, args)
        if isinstance(checked, tuple):
            raise ApplicationError(checked[1], type="ActionRefused", non_retryable=True)

    def _update(self, action: HumanAction, args: Sequence[Any]) -> ActionAccepted:
        # Checked again: another update may have won the race since the validator ran.
        checked = self._check(action, args)
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
        unverified = self._hardened and proposal.unverified and proposal.payout_amount > 0
        if (needs_two or unverified) and len(proposal.approvals) < 2:
            why = (
                f"over {money(self._policy.four_eyes_above)}"
                if needs_two
                else "with no coverage check behind the amount"
            )
            return (
                f"first approval of {money(proposal.payout_amount)}; {why} a second "
                "approver must confirm"
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
        if self._hardened and len(reason) > MAX_TRANSITION_REASON:
            reason = reason[: MAX_TRANSITION_REASON - 1] + "…"
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
        """Record who did what. Past a limit, refusals are counted instead of listed.

        Refused messages cost their sender nothing, so a flood of them must not grow the
        state without bound; accepted actions are always listed.
        """
        if self._hardened:
            detail = detail[:MAX_AUDIT_DETAIL]
            refused = [e for e in self._state.audit_log if e.outcome is AuditOutcome.REFUSED]
            if outcome is AuditOutcome.REFUSED and len(refused) >= MAX_LISTED_REFUSALS:
                self._state.refusals_not_listed += 1
                return
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
        elif wait is not None and wait.type is PendingActionType.CONFIGURATION:
            details += (
                f"\n\nWaiting for a valid review policy (next try {wait.timeout:%H:%M:%S} UTC): "
                f"{wait.detail}"
            )
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
    async def run(self, request: WhatIfRequest) -> ClaimOutcome:
        return await self._review(request.claim)

    @property
    def _dry_run(self) -> bool:
        return True


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


def _check_carried(claim: Claim, carried: CarriedReview) -> None:
    """A second input is accepted only from this review's own continue-as-new.

    Its last run record must name the run this one continues: run ids are made by the
    server when a run starts, so no input written before then (a start with two inputs,
    a cron or retry run repeating that input) can name it.
    """
    info = workflow.info()
    runs = carried.state.runs
    if (
        info.continued_run_id is None
        or info.cron_schedule
        or not runs
        or runs[-1].run_id != info.continued_run_id
        or carried.state.workflow_id != info.workflow_id
        or carried.state.context.claim != claim
    ):
        raise ValueError(
            "2 inputs: start the review with the claim as one JSON object (a second input "
            "is only taken from the review's own continue-as-new)"
        )


def _claimed_actor(payload: Any) -> str:
    """Who the payload says acts, for the audit line of a payload that does not validate."""
    if isinstance(payload, dict):
        for field in ("approver", "operator", "requested_by", "submitted_by"):
            value = payload.get(field)
            if isinstance(value, str) and value.strip():
                return _printable_name(value)
    return "unknown"


def _printable_name(text: str) -> str:
    """A name someone typed, safe to keep and show: control characters replaced, bounded."""
    bad = {chr(int(code[2:], 16)) for code in control_characters(text)}
    return "".join("\ufffd" if c in bad else c for c in text.strip()[:64]) or "unknown"


def _problems(invalid: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
        for e in invalid.errors(include_url=False)
    )


def _unknown_update(name: str) -> ApplicationError:
    return ApplicationError(
        f"unknown update {_printable_name(name)!r}; the actions are: {KNOWN_ACTIONS}",
        type="ActionRefused",
        non_retryable=True,
    )


def _no_payment_message(claim: Claim) -> str:
    return (
        f"Your claim {claim.claim_id} has been reviewed and closed; no payment is made "
        "under it. Reply to this message if you have questions."
    )


# Stands in for an unusable input, so the state document exists while the review fails.
_PLACEHOLDER_CLAIM = Claim(
    claim_id="invalid-input",
    policy_number="none",
    claimant=Claimant(id="none", name="none", email="invalid-input@invalid.example"),
    amount=Decimal("0.01"),
    currency="USD",
    incident_date=date(1970, 1, 1),
    category=ClaimCategory.EXPENSE,
    description="This review refused its input; see its failure.",
    submitted_by="none",
)
