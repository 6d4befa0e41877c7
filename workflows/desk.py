"""The desk where people act on a claim: their checks, their waits, and the pause hold.

`ReviewDesk` owns what people have asked of a review: the decision, a request for
information, documents that arrived, a pre-empting interrupt, a cancel, the escalation
level. It checks every action the same way for every channel (signal, update, validator),
applies the accepted ones, and runs the waits for people: approval with reminders and
escalation, documents with a reminder and a deadline, and the operator's pause hold. It
talks to the workflow through `DeskHost`, as the agent loop does through `ReviewHost`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from signals.messages import (
        PAYLOADS,
        ROLLED_BACK,
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
        RolledBackPayload,
        SubmitDocumentPayload,
        edit_changes,
    )
    from workflows.authority import ReviewPolicy
    from workflows.claim import money
    from workflows.human_actions import refusal
    from workflows.metrics import record_human_wait
    from workflows.review_book import AGENT_ACTOR, ReviewBook
    from workflows.review_input import claimed_actor, problems
    from workflows.routing import RoutingDecision
    from workflows.signed_actions import SignatureCheck, check_signature, remember_nonce
    from workflows.state import (
        AuditOutcome,
        DecisionKind,
        DecisionRecord,
        InformationRequest,
        PendingAction,
        PendingActionType,
        ProposalEdit,
        Step,
    )

# Signed decisions, and operator actions only for the roles the policy grants them;
# reviews that began before replay without them.
PATCH_SIGNED_ACTIONS = "signed-actions"
# A review that reaches the approval gate continues as new there, so the wait (days,
# weeks) rests on a history of a few events: every later wake-up (an approval, a
# reminder, an escalation, a query on a worker that no longer caches the claim) replays
# that, not the whole assessment. Reviews that reached the gate before it wait on in the
# run they were in. Asked of the SDK directly, at the gate: never through
# `ReviewBook.patched`, whose one-patch marker would answer it for reviews begun before.
PATCH_REST_AT_GATE = "rest-at-approval-gate"
APPROVAL_PRIORITY = 50
DOCUMENTS_PRIORITY = 30
# Rollbacks one review records; each is a line of the audit log carried into later runs.
MAX_ROLLBACKS = 20


class Reassess(StrEnum):
    """Why a human wait ended without a decision: the agent looks again."""

    DOCUMENTS = "documents"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"


class DeskHost(Protocol):
    """What the desk needs from the workflow that runs it."""

    async def send(self, *, key: str, recipient: str, subject: str, body: str) -> None:
        """A reminder or an escalation notice, once per key."""

    def history_too_long(self) -> bool: ...

    async def continue_as_new(self, why: str = "") -> None:
        """Hand the review to a new run; returns only if the state was too large to carry.

        `why` is the reason the transition records; empty: the history grew too long.
        """


class ReviewDesk:
    """People's side of one review; its state is rebuilt by replay like the workflow's."""

    def __init__(self, book: ReviewBook, host: DeskHost) -> None:
        self._book = book
        self._host = host
        self.policy: ReviewPolicy | None = None
        self.escalation_level = 0
        self.decision: DecisionRecord | None = None
        self.info_request: InformationRequest | None = None
        self.documents_arrived = False
        self.preempted_by: str | None = None
        self.restart_assessment = False
        self.cancel: CancelPayload | None = None
        # Findings for the next assessment (intake's, and information never received).
        self.findings: list[str] = []
        self.signed_actions = book.patched(PATCH_SIGNED_ACTIONS)

    async def checkpoint(self) -> None:
        """Hold here while an operator has paused the claim; the hold has a time limit."""
        if not self._book.state.paused or self.cancel is not None:
            return
        assert self.policy is not None
        now = workflow.now()
        hold = PendingAction(
            type=PendingActionType.OPERATOR_PAUSE,
            timeout=now + timedelta(hours=self.policy.max_pause_hours),
            created_at=now,
            trigger="signal or update: resume | cancel",
            assignee=self._book.state.assignee or "",
            on_timeout="resume automatically",
        )
        self._book.state.pending_actions.append(hold)
        self._book.publish()
        try:
            await workflow.wait_condition(
                lambda: not self._book.state.paused or self.cancel is not None,
                timeout=hold.timeout - now,
                timeout_summary="operator pause limit",
            )
        except TimeoutError:
            self._book.state.paused = False
            self._book.transition(
                self._book.state.current_step,
                f"pause expired after {self.policy.max_pause_hours:g}h; resumed automatically",
            )
        except asyncio.CancelledError:
            # An interrupt cancelled the assessment that was holding here. (Not `finally`:
            # a workflow dropped while holding, at the end of a replay, must not publish.)
            self._release(hold)
            raise
        self._release(hold)

    def _release(self, hold: PendingAction) -> None:
        self._book.state.pending_actions.remove(hold)
        self._book.publish()

    async def resume_wait(self) -> DecisionRecord | Reassess:
        """A continued run picks up the human wait the previous run was in, deadline and all."""
        if self._book.state.current_step is Step.AWAITING_DOCUMENTS:
            return await self._wait_for_documents(self._book.state.pending_actions[0])
        return await self.await_decision(None)

    async def await_decision(
        self, routing: RoutingDecision | None, *, rest: bool = False
    ) -> DecisionRecord | Reassess:
        """Wait for an authorised decision; remind, escalate, and handle whatever comes.

        `routing` None: a continued run goes on with the wait it carried. `rest`: on
        reaching the gate, continue as new so the wait rests on a short history (the
        review's own gate; a wait inside a payout keeps its run, to go on with the payout).
        """
        if routing is not None:
            # A continued run keeps what its handlers took before this point.
            self.decision = None
            self._open_approval_wait()
            self._book.transition(
                Step.AWAITING_MANAGER_APPROVAL, "needs a human: " + "; ".join(routing.reasons)
            )
            if (
                rest
                and self._book.hardened
                and workflow.patched(PATCH_REST_AT_GATE)
                and not self._approval_wait_over()
            ):
                await self._host.continue_as_new("resting at the approval gate")
        while True:
            wait = self._book.state.pending_actions[0]
            reminder = wait.next_reminder
            wake_at = min(reminder, wait.timeout) if reminder else wait.timeout
            try:
                await workflow.wait_condition(
                    lambda: self._approval_wait_over() or self._host.history_too_long(),
                    timeout=max(wake_at - workflow.now(), timedelta(0)),
                    timeout_summary="approval reminder"
                    if wake_at != wait.timeout
                    else f"approval deadline, level {self.escalation_level}",
                )
            except TimeoutError:
                if reminder is not None and workflow.now() >= reminder:
                    await self._remind(wait, reminder)
                else:
                    await self._escalate()
                continue
            if not self._approval_wait_over():
                await self._host.continue_as_new()
                continue  # the state was too large to carry: this run waits on
            self._book.state.pending_actions.clear()
            if self.cancel is not None:
                return Reassess.CANCELLED
            if self.decision is not None:
                return self.decision
            if self.info_request is not None:
                return await self._await_documents(self.info_request)
            self.preempted_by = None
            return Reassess.INTERRUPTED

    def _approval_wait_over(self) -> bool:
        return any(
            (
                self.decision is not None,
                self.info_request is not None,
                self.preempted_by is not None,
                self.cancel is not None,
            )
        )

    def _open_approval_wait(self) -> None:
        assert self.policy is not None
        level = self.policy.level(self.escalation_level)
        now = workflow.now()
        at_top = self.escalation_level >= self.policy.top_level
        next_level = level if at_top else self.policy.level(self.escalation_level + 1)
        self._book.state.pending_actions = [
            PendingAction(
                type=PendingActionType.WAIT_FOR_APPROVAL,
                timeout=now + timedelta(hours=self.policy.approval_timeout_hours),
                created_at=now,
                trigger="signal or update: approve | reject | edit | request_info",
                assignee=self._book.state.assignee or level.name,
                assignee_roles=[str(r) for r in level.roles],
                escalation_level=self.escalation_level,
                on_timeout=f"escalate to {next_level.name} and keep waiting",
                priority=APPROVAL_PRIORITY,
                reminders_at=[now + timedelta(hours=h) for h in self.policy.reminder_hours],
            )
        ]

    async def _remind(self, wait: PendingAction, due: datetime) -> None:
        wait.reminders_sent.append(due)
        number = len(wait.reminders_sent)
        claim_id = self._book.state.context.claim.claim_id
        await self._host.send(
            key=f"reminder/{wait.type}/{self.escalation_level}/{number}",
            recipient=wait.assignee,
            subject=f"Reminder {number}: claim {claim_id} is waiting for you",
            body=f"Claim {claim_id} has waited since {wait.created_at:%Y-%m-%d %H:%M} UTC; "
            f"it times out at {wait.timeout:%Y-%m-%d %H:%M} UTC ({wait.on_timeout}).",
        )
        self._book.audit(
            AGENT_ACTOR, "remind", AuditOutcome.RECORDED, f"reminder {number}: {wait.assignee}"
        )

    async def _escalate(self) -> None:
        assert self.policy is not None
        missed = self._book.state.pending_actions[0].assignee
        self.escalation_level = min(self.escalation_level + 1, self.policy.top_level)
        hours = self.policy.approval_timeout_hours
        self._book.record_decision(
            AGENT_ACTOR, DecisionKind.ESCALATE, f"no decision from {missed} within {hours:g}h"
        )
        self._book.state.assignee = None
        self._open_approval_wait()
        target = self._book.state.pending_actions[0].assignee
        self._book.transition(
            Step.AWAITING_MANAGER_APPROVAL,
            f"no decision from {missed} within {hours:g}h; escalated to {target}",
        )
        claim_id = self._book.state.context.claim.claim_id
        await self._host.send(
            key=f"escalation/{self.escalation_level}/{len(self._book.state.transitions)}",
            recipient=target,
            subject=f"Escalated: claim {claim_id} needs a decision",
            body=f"Claim {claim_id} got no decision from {missed} within {hours:g}h.",
        )

    async def _await_documents(self, request: InformationRequest) -> Reassess:
        """Wait for what was asked for; a reminder halfway, a finding if it never comes."""
        assert self.policy is not None
        self.info_request = None
        now = workflow.now()
        timeout = timedelta(hours=self.policy.documents_timeout_hours)
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
        self._book.state.pending_actions = [wait]
        self._book.transition(
            Step.AWAITING_DOCUMENTS,
            f"{request.requested_by} asked {request.from_whom} for: {request.what}",
        )
        return await self._wait_for_documents(wait)

    async def _wait_for_documents(self, wait: PendingAction) -> Reassess:
        assert self.policy is not None

        def arrived_or_stopped() -> bool:
            return (
                self.documents_arrived or self.cancel is not None or self.preempted_by is not None
            )

        while True:
            reminder = wait.next_reminder
            wake_at = reminder or wait.timeout
            try:
                await workflow.wait_condition(
                    lambda: arrived_or_stopped() or self._host.history_too_long(),
                    timeout=max(wake_at - workflow.now(), timedelta(0)),
                    timeout_summary="documents reminder" if reminder else "documents deadline",
                )
            except TimeoutError:
                if reminder is not None:
                    await self._remind(wait, reminder)
                    continue
                self.findings.append(
                    f"requested information not received within "
                    f"{self.policy.documents_timeout_hours:g}h: {wait.detail}"
                )
                break
            if not arrived_or_stopped():
                await self._host.continue_as_new()
                continue  # the state was too large to carry: this run waits on
            break
        self._book.state.pending_actions.clear()
        self.preempted_by = None
        if self.cancel is not None:
            return Reassess.CANCELLED
        return Reassess.DOCUMENTS

    def _check(
        self, action: HumanAction, args: Sequence[Any]
    ) -> tuple[Message, SignatureCheck] | tuple[str, str]:
        """The validated message and its signature, or (actor, why not) — the same test
        for every channel.

        Every handler takes any arguments (`temporal workflow signal` can send several
        `--input`s) and refuses what it cannot use, so no message can fail a workflow task.
        """
        payload = args[0] if args else None
        actor = claimed_actor(payload)
        if len(args) > 1:
            return actor, (
                f"invalid payload: {len(args)} inputs; send one JSON object, for example "
                '{"approver": "maria"}'
            )
        fields = payload
        if self.signed_actions and isinstance(payload, dict):
            fields = {k: v for k, v in payload.items() if k != "signature"}
        try:
            message = PAYLOADS[action].model_validate(fields)
        except ValidationError as invalid:
            return actor, "invalid payload: " + problems(invalid)
        signature = SignatureCheck()
        if self.signed_actions and self.policy is not None:
            signature = check_signature(
                payload,
                policy=self.policy,
                claim_id=self._book.state.context.claim.claim_id,
                action=str(action),
                actor=message.actor,
                version=self._book.state.version,
                now=workflow.now(),
                used_nonces=self._book.state.signed_nonces,
            )
            if signature.refused is not None:
                return message.actor, signature.refused
        refused = refusal(
            action,
            message,
            state=self._book.state,
            policy=self.policy,
            escalation_level=self.escalation_level,
            decided=self.decision is not None,
            hardened=self._book.hardened,
            operator_roles=self.signed_actions,
        )
        return (message.actor, refused) if refused is not None else (message, signature)

    def signal(self, action: HumanAction, args: Sequence[Any]) -> None:
        checked = self._check(action, args)
        if isinstance(checked[0], str):
            self._book.audit(checked[0], action, AuditOutcome.REFUSED, str(checked[1]))
            return
        self._apply(action, *checked)

    def validate(self, action: HumanAction, args: Sequence[Any]) -> None:
        """Refuse before the update reaches history; the caller gets the reason."""
        checked = self._check(action, args)
        if isinstance(checked[0], str):
            raise ApplicationError(str(checked[1]), type="ActionRefused", non_retryable=True)

    def update(self, action: HumanAction, args: Sequence[Any]) -> ActionAccepted:
        # Checked again: another update may have won the race since the validator ran.
        checked = self._check(action, args)
        if isinstance(checked[0], str):
            self._book.audit(checked[0], action, AuditOutcome.REFUSED, str(checked[1]))
            raise ApplicationError(str(checked[1]), type="ActionRefused", non_retryable=True)
        detail = self._apply(action, *checked)
        return ActionAccepted(
            action=action,
            version=self._book.state.version,
            current_step=self._book.state.current_step,
            detail=detail,
        )

    def rolled_back(self, args: Sequence[Any]) -> None:
        """Record a rollback in the audit log: who reset the claim, to which version, why.

        `claims rollback` sends this to the new run right after the reset. The reset has
        happened by then, so it is recorded whatever the sender's role, and it is no new
        version: the claim stands where it stood at the version rolled back to. The same
        signal sent by hand to a run that no reset made is refused, so no one can write a
        rollback that never happened into a claim's audit log.
        """
        payload = args[0] if args else None
        refused: str | None = None
        info = workflow.info()
        if len(args) != 1:
            refused = f"invalid payload: {len(args)} inputs; send one JSON object"
        elif info.original_execution_run_id in ("", info.run_id):
            refused = (
                "this run was not made by a rollback; `claims rollback` records its own rollbacks"
            )
        elif sum(1 for e in self._book.state.audit_log if e.action == ROLLED_BACK) >= MAX_ROLLBACKS:
            refused = f"the claim has recorded {MAX_ROLLBACKS} rollbacks, the most it keeps"
        if refused is None:
            try:
                message = RolledBackPayload.model_validate(payload)
            except ValidationError as invalid:
                refused = "invalid payload: " + problems(invalid)
        if refused is not None:
            self._book.audit(claimed_actor(payload), ROLLED_BACK, AuditOutcome.REFUSED, refused)
            return
        self._book.audit(
            message.operator,
            ROLLED_BACK,
            AuditOutcome.ACCEPTED,
            f"claims rollback to version {message.to_version}: {message.reason}",
        )

    def _apply(self, action: HumanAction, message: Message, signature: SignatureCheck) -> str:
        """Carry out an accepted action; each one is a new version, with who and why."""
        if signature.nonce is not None and signature.issued_at is not None:
            remember_nonce(
                self._book.state.signed_nonces, signature.nonce, signature.issued_at, workflow.now()
            )
        detail = self._carry_out(action, message)
        self._book.audit(message.actor, action, AuditOutcome.ACCEPTED, detail)
        if signature.key_id is not None:
            # Accepted actions are always listed, so the entry just written is this one's.
            self._book.state.audit_log[-1].verified_by = signature.key_id
        self._book.transition(
            self._book.state.current_step, f"{action} by {message.actor}: {detail}"
        )
        return detail

    def _carry_out(self, action: HumanAction, message: Message) -> str:
        context = self._book.state.context
        if isinstance(message, DecisionPayload):
            return self._decide(action, message)
        if isinstance(message, EditPayload):
            return self._edit(message)
        if isinstance(message, RequestInfoPayload):
            self.documents_arrived = False
            self.info_request = InformationRequest(
                at=workflow.now(),
                requested_by=message.requested_by,
                what=message.what,
                from_whom=message.from_whom,
            )
            context.information_requests.append(self.info_request)
            return f"asked {message.from_whom} for: {message.what}"
        if isinstance(message, SubmitDocumentPayload):
            context.supporting_docs.append(message.document)
            # Asked for if a request is open, even one whose wait has not begun yet.
            open_requests = [r for r in context.information_requests if r.fulfilled_at is None]
            asked = bool(open_requests)
            for request in open_requests:
                request.fulfilled_at = workflow.now()
            self.documents_arrived = self.documents_arrived or asked
            doc = message.document
            return f"{doc.kind} {doc.doc_id} " + ("as requested" if asked else "added unasked")
        if isinstance(message, CancelPayload):
            self.cancel = message
            return message.reason
        if isinstance(message, ReassignPayload):
            self._book.state.assignee = message.assignee
            for wait in self._book.state.pending_actions:
                if wait.type.needs_a_person:
                    wait.assignee = message.assignee
            self._book.publish()
            return f"assigned to {message.assignee}" + (
                f" ({message.reason})" if message.reason else ""
            )
        if isinstance(message, InterruptPayload):
            return self._interrupt(message)
        assert isinstance(message, OperatorPayload)
        self._book.state.paused = action is HumanAction.PAUSE
        self._book.publish()
        return message.reason

    def _decide(self, action: HumanAction, message: DecisionPayload) -> str:
        assert self.policy is not None
        wait = next(iter(self._book.state.pending_actions), None)
        if wait is not None:
            record_human_wait(workflow.now() - wait.created_at, str(action))
        proposal = self._book.state.context.proposal
        assert proposal is not None
        if action is HumanAction.REJECT:
            self.decision = self._book.record_decision(
                message.approver, DecisionKind.REJECT, message.comment
            )
            return message.comment or "rejected"
        proposal.approvals.append(message.approver)
        needs_two = proposal.payout_amount > self.policy.four_eyes_above
        unverified = self._book.hardened and proposal.unverified and proposal.payout_amount > 0
        if (needs_two or unverified) and len(proposal.approvals) < 2:
            why = (
                f"over {money(self.policy.four_eyes_above)}"
                if needs_two
                else "with no coverage check behind the amount"
            )
            return (
                f"first approval of {money(proposal.payout_amount)}; {why} a second "
                "approver must confirm"
            )
        self.decision = self._book.record_decision(
            message.approver, DecisionKind.APPROVE, message.comment
        )
        return message.comment or f"approved {money(proposal.payout_amount)}"

    def _edit(self, message: EditPayload) -> str:
        proposal = self._book.state.context.proposal
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
                version=self._book.state.version + 1,
                actor=message.approver,
                changes=changes,
                comment=message.comment,
            )
        )
        return "; ".join(f"{k}: {old} -> {new}" for k, (old, new) in changes.items()) or "no change"

    def _interrupt(self, message: InterruptPayload) -> str:
        self._book.state.context.notes.append(f"{message.operator}: {message.information}")
        if self._book.state.current_step in (Step.INTAKE, Step.ASSESSING, Step.GATHERING_EVIDENCE):
            self.restart_assessment = True
            return "assessment restarts with the new information"
        wait = next((w for w in self._book.state.pending_actions if w.type.needs_a_person), None)
        if wait is not None and message.priority > wait.priority:
            self.preempted_by = message.operator
            return (
                f"priority {message.priority} pre-empts the {wait.type} (priority {wait.priority})"
            )
        return "kept for the next assessment"
