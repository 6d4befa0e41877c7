"""Who may decide what: the review policy and the approver directory.

The policy is read by an activity at the start of each review, so the rules a claim
was judged by are in its history and replay identically even after the file changes.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from signals.signing import SignatureError, public_key, public_key_id
from workflows.claim import Money, money
from workflows.people import PersonName, person_key

DEFAULT_AUTO_APPROVAL_LIMIT = Decimal(1000)
DEFAULT_MIN_AUTO_APPROVAL_CONFIDENCE = 0.8
DEFAULT_APPROVAL_TIMEOUT_HOURS = 72
DEFAULT_AGENT_STEP_BUDGET = 8
DEFAULT_HISTORY_BUDGET_EVENTS = 5_000
DEFAULT_HISTORY_BUDGET_BYTES = 4 * 1024 * 1024


class Role(StrEnum):
    ADJUSTER = "adjuster"
    CLAIMS_MANAGER = "claims_manager"
    DIRECTOR = "director"


class Approver(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: PersonName = Field(min_length=1, max_length=64)
    role: Role
    approval_limit: Money
    # Where notices reach this person (optional: a policy without them still validates;
    # the notice relay then has nowhere to deliver a reminder addressed to them).
    email: str | None = Field(
        default=None, max_length=254, pattern=r"^[^\s@<>(),;:\"\[\]\\]{1,64}@[A-Za-z0-9.-]{1,253}$"
    )
    chat: str | None = Field(default=None, max_length=80, pattern=r"^[A-Za-z0-9._-]{1,80}$")


class EscalationLevel(BaseModel):
    """One rung of the approval ladder: the queue a waiting claim is assigned to."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    roles: list[Role] = Field(min_length=1)


DEFAULT_ESCALATION_LADDER = (
    EscalationLevel(name="approvers", roles=[Role.ADJUSTER, Role.CLAIMS_MANAGER, Role.DIRECTOR]),
    EscalationLevel(name="senior-approvers", roles=[Role.CLAIMS_MANAGER, Role.DIRECTOR]),
)


# The owner of the console's key, which signs for whichever person signed in to it.
CONSOLE_KEY_OWNER = "console"


class TrustedKey(BaseModel):
    """A public key whose signatures the review accepts.

    `owner` is a person of the directory (a personal key: it signs only their actions) or
    "console" (the console's key: it signs for the person who signed in). A retired key
    signs nothing new; what it signed before stays verifiable.
    """

    model_config = ConfigDict(frozen=True)

    key_id: str = Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]{16}$")
    public_key: str = Field(min_length=40, max_length=60)
    owner: PersonName = Field(min_length=1, max_length=64)
    retired: bool = False

    @classmethod
    def of(cls, public_key: str, *, owner: str) -> TrustedKey:
        """A trusted key from its public half, its id derived from it."""
        return cls(key_id=public_key_id(public_key), public_key=public_key, owner=owner)

    @model_validator(mode="after")
    def _id_matches_key(self) -> TrustedKey:
        try:
            actual = public_key_id(self.public_key)
            public_key(self.public_key)
        except (ValueError, SignatureError):
            raise ValueError("public_key must be 32 bytes of Ed25519, in base64") from None
        if actual != self.key_id:
            raise ValueError(f"key_id {self.key_id} does not match its public key ({actual})")
        return self


class ReviewPolicy(BaseModel):
    """The rules in force for one review."""

    model_config = ConfigDict(frozen=True)

    auto_approval_limit: Money = DEFAULT_AUTO_APPROVAL_LIMIT
    min_auto_approval_confidence: float = Field(
        default=DEFAULT_MIN_AUTO_APPROVAL_CONFIDENCE, ge=0, le=1
    )
    approval_timeout_hours: float = Field(default=DEFAULT_APPROVAL_TIMEOUT_HOURS, gt=0)
    # Model turns the agent may take before the claim goes to a person as it stands.
    agent_step_budget: int = Field(default=DEFAULT_AGENT_STEP_BUDGET, ge=1, le=50)
    # Hours into each approval wait at which the assignees are reminded.
    reminder_hours: list[float] = Field(default_factory=lambda: [24.0, 48.0])
    # Payouts above this need approvals from two different people.
    four_eyes_above: Money = Decimal(10_000)
    # How long a claim waits for requested information (a reminder goes out halfway).
    documents_timeout_hours: float = Field(default=14 * 24, gt=0)
    # How long an operator pause holds before the claim resumes by itself.
    max_pause_hours: float = Field(default=7 * 24, gt=0)
    # A waiting claim continues as new (carrying its whole state) once its history passes
    # either budget, well below Temporal's limits (10,240 events / 10 MB warn, 50 MB end).
    history_budget_events: int = Field(default=DEFAULT_HISTORY_BUDGET_EVENTS, ge=100, le=40_000)
    history_budget_bytes: int = Field(
        default=DEFAULT_HISTORY_BUDGET_BYTES, ge=64 * 1024, le=40 * 1024 * 1024
    )
    approvers: list[Approver] = Field(min_length=1)
    # Level 0 is the first wait; each timeout moves the claim one rung up.
    escalation_ladder: list[EscalationLevel] = Field(
        default_factory=lambda: list(DEFAULT_ESCALATION_LADDER), min_length=1
    )

    # Signed decisions: when on, an action without a valid signature is refused.
    require_signed_actions: bool = False
    keys: list[TrustedKey] = Field(default_factory=list, max_length=100)
    # Who may pause, resume, cancel, reassign and interrupt; every role unless narrowed.
    operator_roles: list[Role] = Field(default_factory=lambda: list(Role), min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> ReviewPolicy:
        names = [a.name for a in self.approvers]
        if len(names) != len(set(names)):
            raise ValueError("approver names must be unique")
        if CONSOLE_KEY_OWNER in names:
            # The console's key signs for anyone; no person may own keys under its name.
            raise ValueError(f'"{CONSOLE_KEY_OWNER}" is reserved for the console\'s key')
        key_ids = [k.key_id for k in self.keys]
        if len(key_ids) != len(set(key_ids)):
            raise ValueError("key ids must be unique")
        for key in self.keys:
            if key.owner != CONSOLE_KEY_OWNER and self.find(key.owner) is None:
                raise ValueError(
                    f"key {key.key_id} belongs to '{key.owner}', who is not in the approver "
                    'directory (a key is owned by an approver or by "console")'
                )
        return self

    def trusted_key(self, key_id: str) -> TrustedKey | None:
        return next((k for k in self.keys if k.key_id == key_id), None)

    def find(self, name: str) -> Approver | None:
        """The approver with this identity ("Maria" finds maria)."""
        key = person_key(name)
        return next((a for a in self.approvers if a.name == key), None)

    def level(self, index: int) -> EscalationLevel:
        return self.escalation_ladder[min(index, self.top_level)]

    @property
    def top_level(self) -> int:
        return len(self.escalation_ladder) - 1


def refusal_reason(
    policy: ReviewPolicy,
    *,
    approver_name: str,
    approving: bool,
    payout_amount: Money,
    escalation_level: int,
    submitted_by: str,
) -> str | None:
    """Why this person may not decide (approve, reject, edit, ask for information) now."""
    approver = policy.find(approver_name)
    if approver is None:
        return f"'{approver_name}' is not in the approver directory"
    if person_key(approver_name) == person_key(submitted_by):
        return f"'{approver_name}' submitted this claim and cannot decide it"
    level = policy.level(escalation_level)
    if approver.role not in level.roles:
        roles = ", ".join(level.roles)
        return (
            f"'{approver_name}' is a {approver.role}; the claim is escalated to "
            f"{level.name}, which needs one of: {roles}"
        )
    if approving and payout_amount > approver.approval_limit:
        return (
            f"payout {money(payout_amount)} exceeds {approver_name}'s approval limit "
            f"of {money(approver.approval_limit)}"
        )
    return None


def operator_refusal(policy: ReviewPolicy, name: str, *, by_role: bool = False) -> str | None:
    """Operators (pause, resume, cancel, reassign, interrupt) are people in the directory,
    and (`by_role`, for reviews under the signed-actions rules) of a role it grants them.
    """
    approver = policy.find(name)
    if approver is None:
        return f"'{name}' is not in the approver directory, so cannot operate on claims"
    if by_role and approver.role not in policy.operator_roles:
        roles = ", ".join(policy.operator_roles)
        return (
            f"'{name}' is a {approver.role}; operator actions (pause, resume, cancel, reassign, "
            f"interrupt) are for: {roles}"
        )
    return None
