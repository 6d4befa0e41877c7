"""Whether a person may take an action on a claim now: one place, pure, testable.

Signals, updates and their validators all ask `refusal`; an action it refuses never
changes the claim (signals record the refusal in the audit log, updates answer it).
"""

from __future__ import annotations

from decimal import Decimal

from signals.messages import (
    DecisionPayload,
    EditPayload,
    EmptyEditError,
    HumanAction,
    InterruptPayload,
    Message,
    OperatorPayload,
    ReassignPayload,
    SubmitDocumentPayload,
    edit_changes,
)
from workflows.authority import ReviewPolicy, operator_refusal, refusal_reason
from workflows.claim import MAX_DOCUMENTS, money
from workflows.state import AuditOutcome, ClaimState, Step

# Staff notes each later assessment reads; past this, fold what you know into one note.
MAX_NOTES = 20
# Edits of one proposal; each keeps its diff, so the state a review carries stays small.
MAX_EDITS = 20
# Requests for information, and operator actions (pause, resume, reassign) on one review:
# each is a version with its reason, carried into every later run of the review.
MAX_INFORMATION_REQUESTS = 10
MAX_OPERATOR_ACTIONS = 50
OPERATOR_ACTIONS = {HumanAction.PAUSE, HumanAction.RESUME, HumanAction.REASSIGN}

DECISION_ACTIONS = {HumanAction.APPROVE, HumanAction.REJECT, HumanAction.EDIT}
NOT_WHILE_PAYING = {
    HumanAction.PAUSE,
    HumanAction.CANCEL,
    HumanAction.INTERRUPT,
    HumanAction.REQUEST_INFO,
}


def refusal(
    action: HumanAction,
    message: Message,
    *,
    state: ClaimState,
    policy: ReviewPolicy | None,
    escalation_level: int,
    decided: bool,
    hardened: bool = True,
    operator_roles: bool = False,
) -> str | None:
    """Why `message` may not be acted on now, or None if it may.

    `hardened` is False only while replaying reviews that began before these rules
    (bounded documents and notes, no unconfirmed zero payouts, unverified payouts
    capped at the claimed amount); they keep the rules they started with. Likewise
    `operator_roles` (operator actions only for the roles the policy grants them) is
    True for reviews that began under the signed-actions rules.
    """
    if policy is None:
        return "the claim is still starting; try again in a moment"
    if message.expected_version is not None and message.expected_version != state.version:
        return (
            f"the claim has moved on: it is at version {state.version}, not "
            f"{message.expected_version}; look at it again and retry"
        )
    step = state.current_step
    if step.is_final:
        return f"the claim is already {step}"
    if step is Step.EXECUTING and action in NOT_WHILE_PAYING:
        return "the claim is executing its payout; it can no longer be stopped"
    if hardened:
        limited = _count_refusal(action, state)
        if limited is not None:
            return limited
    if action in DECISION_ACTIONS or action is HumanAction.REQUEST_INFO:
        return _decision_refusal(
            action, message, state, policy, escalation_level, decided, hardened
        )
    if action is HumanAction.SUBMIT_DOCUMENT:
        assert isinstance(message, SubmitDocumentPayload)
        doc_id = message.document.doc_id
        if any(d.doc_id == doc_id for d in state.context.supporting_docs):
            return f"document {doc_id} is already on file"
        if hardened and len(state.context.supporting_docs) >= MAX_DOCUMENTS:
            return (
                f"the claim already has {MAX_DOCUMENTS} documents on file, the most it can "
                "hold; send a single document that bundles the rest"
            )
        return None
    if hardened and isinstance(message, InterruptPayload) and len(state.context.notes) >= MAX_NOTES:
        return (
            f"the claim already carries {MAX_NOTES} staff notes, the most it can hold; "
            "cancel and restart the review with the information summarised"
        )
    return _operator_refusal(action, message, state, policy, by_role=operator_roles)


def _decision_refusal(
    action: HumanAction,
    message: Message,
    state: ClaimState,
    policy: ReviewPolicy,
    escalation_level: int,
    decided: bool,
    hardened: bool,
) -> str | None:
    if state.current_step is not Step.AWAITING_MANAGER_APPROVAL:
        return f"the claim is not awaiting a decision (it is {state.current_step})"
    if decided:
        return "a decision has already been taken"
    proposal = state.context.proposal
    assert proposal is not None
    amount = proposal.payout_amount
    if isinstance(message, EditPayload):
        if hardened and len(proposal.edits) >= MAX_EDITS:
            return (
                f"the proposal has been edited {MAX_EDITS} times, the most it keeps; approve "
                "or reject it, or cancel and restart the review"
            )
        try:
            changes = edit_changes(message)
        except EmptyEditError as empty:
            return str(empty)
        new_amount = changes.get("payout_amount", amount)
        assert isinstance(new_amount, Decimal)
        if hardened and proposal.unverified:
            claimed = state.context.claim_amount
            if new_amount > claimed:
                return (
                    f"payout {money(new_amount)} is more than the claimed "
                    f"{money(claimed)} {proposal.currency}"
                )
        else:
            payable = state.context.evidence.payable_amount if state.context.evidence else amount
            if new_amount > max(payable, proposal.payout_amount):
                return (
                    f"payout {money(new_amount)} is more than the policy pays "
                    f"({money(payable)} {proposal.currency})"
                )
        amount = new_amount
    if action is HumanAction.APPROVE and message.actor in proposal.approvals:
        return f"{message.actor} has already approved; the second approval must be someone else's"
    if hardened and action is HumanAction.APPROVE and amount <= 0:
        assert isinstance(message, DecisionPayload)
        if not message.confirm_zero_payout:
            how = (
                "no tool established what the policy pays, so set the payout with `edit` "
                f"(up to the claimed {money(state.context.claim_amount)})"
                if proposal.unverified
                else "edit the payout first"
            )
            return (
                f"the proposed payout is {money(amount)}: {how}, reject the claim, or approve "
                "with confirm_zero_payout=true to close it without paying anything"
            )
    return refusal_reason(
        policy,
        approver_name=message.actor,
        approving=action in {HumanAction.APPROVE, HumanAction.EDIT},
        payout_amount=amount,
        escalation_level=escalation_level,
        submitted_by=state.context.claim.submitted_by,
    )


def _operator_refusal(
    action: HumanAction,
    message: Message,
    state: ClaimState,
    policy: ReviewPolicy,
    *,
    by_role: bool,
) -> str | None:
    refused = operator_refusal(policy, message.actor, by_role=by_role)
    if refused is not None:
        return refused
    if action is HumanAction.PAUSE and state.paused:
        return "the claim is already paused"
    if action is HumanAction.RESUME:
        assert isinstance(message, OperatorPayload)
        if not state.paused:
            return "the claim is not paused"
    if isinstance(message, ReassignPayload) and policy.find(message.assignee) is None:
        return f"'{message.assignee}' is not in the approver directory"
    return None


def _count_refusal(action: HumanAction, state: ClaimState) -> str | None:
    """Actions that may repeat are bounded, so no sender can grow the review without end."""
    if action is HumanAction.REQUEST_INFO:
        if len(state.context.information_requests) >= MAX_INFORMATION_REQUESTS:
            return (
                f"the claim has had {MAX_INFORMATION_REQUESTS} requests for information, the "
                "most it keeps; decide with what is on file, or cancel and restart the review"
            )
    elif action in OPERATOR_ACTIONS:
        taken = sum(
            1
            for e in state.audit_log
            if e.action in OPERATOR_ACTIONS and e.outcome is AuditOutcome.ACCEPTED
        )
        if taken >= MAX_OPERATOR_ACTIONS:
            return (
                f"the claim has had {MAX_OPERATOR_ACTIONS} pauses, resumes and reassignments, "
                "the most it keeps; decide it, or cancel and restart the review"
            )
    return None
