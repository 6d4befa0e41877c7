"""The state document: everything a claim review knows, rebuilt from history by replay.

Field names follow the external contract (`workflow_id`, `current_step`, `context`,
`pending_actions`, `llm_state`). Every change of step goes through `transition`, which
is the only place `version` moves, so a version always names one point in history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from workflows.claim import Claim, Money, SupportingDocument
from workflows.evidence import ClaimAssessment, Evidence, LlmCallRecord
from workflows.routing import RoutingDecision


class Step(StrEnum):
    INTAKE = "intake"
    GATHERING_EVIDENCE = "gathering_evidence"
    ASSESSING = "assessing"
    ROUTING = "routing"
    AWAITING_MANAGER_APPROVAL = "awaiting_manager_approval"
    AWAITING_DOCUMENTS = "awaiting_documents"
    EXECUTING = "executing"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (Step.COMPLETED, Step.REJECTED, Step.CANCELLED)


# Every unfinished step may also move to itself: a change within the step (an escalation,
# an edit, a reassignment) is a new version too. Cancelling is possible until money moves.
_CANCELLABLE = frozenset({Step.CANCELLED})
ALLOWED_TRANSITIONS: dict[Step, frozenset[Step]] = {
    Step.INTAKE: frozenset({Step.ASSESSING, Step.REJECTED}) | _CANCELLABLE,
    # The agent loop alternates: a model turn, then the tools it asked for.
    Step.GATHERING_EVIDENCE: frozenset({Step.ASSESSING, Step.ROUTING}) | _CANCELLABLE,
    Step.ASSESSING: frozenset({Step.GATHERING_EVIDENCE, Step.ROUTING}) | _CANCELLABLE,
    Step.ROUTING: frozenset({Step.EXECUTING, Step.AWAITING_MANAGER_APPROVAL}) | _CANCELLABLE,
    Step.AWAITING_MANAGER_APPROVAL: frozenset(
        {Step.EXECUTING, Step.REJECTED, Step.AWAITING_DOCUMENTS, Step.ASSESSING}
    )
    | _CANCELLABLE,
    # Documents asked for after a refused payout go back to the manager who asked.
    Step.AWAITING_DOCUMENTS: frozenset({Step.ASSESSING, Step.AWAITING_MANAGER_APPROVAL})
    | _CANCELLABLE,
    # A payout the payment gateway refused goes back to a person (payment-refused-to-person).
    Step.EXECUTING: frozenset({Step.COMPLETED, Step.AWAITING_MANAGER_APPROVAL}),
    Step.COMPLETED: frozenset(),
    Step.REJECTED: frozenset(),
    Step.CANCELLED: frozenset(),
}


class InvalidTransitionError(ValueError):
    """A step change the review process does not allow; a bug, never user input."""


class PendingActionType(StrEnum):
    WAIT_FOR_APPROVAL = "wait_for_approval"
    WAIT_FOR_DOCUMENTS = "wait_for_documents"
    OPERATOR_PAUSE = "operator_pause"
    RATE_LIMIT = "rate_limit"
    # The review policy cannot be read (a bad approvers file): the claim waits for a fix.
    CONFIGURATION = "configuration"

    @property
    def needs_a_person(self) -> bool:
        return self not in (PendingActionType.RATE_LIMIT, PendingActionType.CONFIGURATION)


class PendingAction(BaseModel):
    """A wait, explicit: what resumes it, who is expected to act, and when it times out."""

    type: PendingActionType
    timeout: datetime
    created_at: datetime
    trigger: str
    assignee: str = ""
    assignee_roles: list[str] = Field(default_factory=list)
    escalation_level: int = 0
    on_timeout: str = ""
    # An interrupt of higher priority than the wait pre-empts it.
    priority: int = 50
    reminders_at: list[datetime] = Field(default_factory=list)
    reminders_sent: list[datetime] = Field(default_factory=list)
    detail: str = ""

    @property
    def next_reminder(self) -> datetime | None:
        return next((r for r in self.reminders_at if r not in self.reminders_sent), None)


class Transition(BaseModel):
    version: int
    from_step: Step | None
    to_step: Step
    at: datetime
    reason: str
    history_length: int


class RunRecord(BaseModel):
    """One Temporal run of the review: a long review continues as new and keeps its versions.

    `history_length` in a transition counts events of the run that made it; the run with
    the greatest `first_version` at or below a version holds that version.
    """

    run_id: str
    first_version: int
    started_at: datetime


class AuditOutcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    RECORDED = "recorded"


class AuditEntry(BaseModel):
    """Who did what, and whether it was allowed. Refusals are kept, not dropped."""

    at: datetime
    version: int
    actor: str
    action: str
    outcome: AuditOutcome
    detail: str = ""
    # The key whose signature the workflow verified; None for an unsigned action.
    verified_by: str | None = None


class DecisionKind(StrEnum):
    AUTO_APPROVE = "auto_approve"
    APPROVE = "approve"
    REJECT = "reject"
    ESCALATE = "escalate"
    CANCEL = "cancel"


class DecisionRecord(BaseModel):
    at: datetime
    actor: str
    decision: DecisionKind
    comment: str = ""


class ToolCallRecord(BaseModel):
    """One tool call as the trace keeps it: arguments and a summary of the result."""

    name: str
    arguments: dict[str, Any]
    result_summary: str
    duration_ms: float
    error: str | None = None
    at: datetime


class ReasoningStep(BaseModel):
    at: datetime
    turn: int = 0
    call: LlmCallRecord
    assessment: ClaimAssessment | None = None


class LlmState(BaseModel):
    reasoning_trace: list[ReasoningStep] = Field(default_factory=list)
    tool_call_history: list[ToolCallRecord] = Field(default_factory=list)


class ProposalEdit(BaseModel):
    at: datetime
    version: int
    actor: str
    changes: dict[str, tuple[str, str]]
    comment: str = ""


class ProposedActions(BaseModel):
    """What the agent will do once approved; a person may edit it first."""

    payout_amount: Money
    currency: str
    payee_id: str
    customer_message: str
    revision: int = 1
    edits: list[ProposalEdit] = Field(default_factory=list)
    approvals: list[str] = Field(default_factory=list)
    # True when no tool established what the policy pays (the model failed before the
    # coverage check): a person sets the payout, and a second person confirms it.
    unverified: bool = False


class InformationRequest(BaseModel):
    at: datetime
    requested_by: str
    what: str
    from_whom: str
    fulfilled_at: datetime | None = None


class ClaimContext(BaseModel):
    claim_amount: Money
    currency: str
    supporting_docs: list[SupportingDocument]
    previous_decisions: list[DecisionRecord] = Field(default_factory=list)
    claim: Claim
    evidence: Evidence | None = None
    assessment: ClaimAssessment | None = None
    routing: RoutingDecision | None = None
    proposal: ProposedActions | None = None
    information_requests: list[InformationRequest] = Field(default_factory=list)
    # New information from staff (interrupts), given to every later assessment.
    notes: list[str] = Field(default_factory=list)


class OutcomeStatus(StrEnum):
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    # A dry run (what-if fork) that reached a human gate and stopped there.
    NEEDS_HUMAN = "needs_human"


class ClaimOutcome(BaseModel):
    """The workflow result, as the external contract names it."""

    claim_id: str
    status: OutcomeStatus
    decided_by: str
    payout_amount: Money
    currency: str
    decided_at: datetime
    reason: str = ""
    payout_id: str | None = None


class ClaimState(BaseModel):
    workflow_id: str
    current_step: Step
    version: int
    started_at: datetime
    context: ClaimContext
    pending_actions: list[PendingAction] = Field(default_factory=list)
    llm_state: LlmState = Field(default_factory=LlmState)
    transitions: list[Transition] = Field(default_factory=list)
    audit_log: list[AuditEntry] = Field(default_factory=list)
    outcome: ClaimOutcome | None = None
    assignee: str | None = None
    paused: bool = False
    # Every run of this review, oldest first; one entry until the review continues as new.
    runs: list[RunRecord] = Field(default_factory=list)
    # Refused actions past the audit log's limit, counted instead of listed.
    refusals_not_listed: int = 0
    # Nonces of accepted signed actions still inside the signature window: nonce -> issued-at.
    signed_nonces: dict[str, datetime] = Field(default_factory=dict)

    def run_holding(self, version: int) -> RunRecord | None:
        """The run whose history holds `version`, if the state knows its runs."""
        holding = [r for r in self.runs if r.first_version <= version]
        return holding[-1] if holding else None

    @classmethod
    def begin(
        cls, claim: Claim, *, workflow_id: str, at: datetime, history_length: int
    ) -> ClaimState:
        """A new review at version 1, standing at intake."""
        state = cls(
            workflow_id=workflow_id,
            current_step=Step.INTAKE,
            version=0,
            started_at=at,
            context=ClaimContext(
                claim_amount=claim.amount,
                currency=claim.currency,
                supporting_docs=list(claim.documents),
                claim=claim,
            ),
        )
        state.transitions.append(
            Transition(
                version=1,
                from_step=None,
                to_step=Step.INTAKE,
                at=at,
                reason="claim received",
                history_length=history_length,
            )
        )
        state.version = 1
        return state

    def transition(self, to: Step, *, reason: str, at: datetime, history_length: int) -> Transition:
        """Move to `to`, bump the version and record why; refuses moves the process forbids."""
        within_step = to is self.current_step and not to.is_final
        if not within_step and to not in ALLOWED_TRANSITIONS[self.current_step]:
            raise InvalidTransitionError(f"cannot move from {self.current_step} to {to}")
        self.version += 1
        record = Transition(
            version=self.version,
            from_step=self.current_step,
            to_step=to,
            at=at,
            reason=reason,
            history_length=history_length,
        )
        self.transitions.append(record)
        self.current_step = to
        return record

    def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        outcome: AuditOutcome,
        detail: str = "",
        verified_by: str | None = None,
    ) -> AuditEntry:
        entry = AuditEntry(
            at=at,
            version=self.version,
            actor=actor,
            action=action,
            outcome=outcome,
            detail=detail,
            verified_by=verified_by,
        )
        self.audit_log.append(entry)
        return entry

    @property
    def awaiting_human(self) -> bool:
        return any(a.type.needs_a_person for a in self.pending_actions)
