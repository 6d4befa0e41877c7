"""What a human sends to a claim. Loose on the wire, strict in the handler.

Signals arrive as plain JSON objects (the `temporal` CLI and the web UI send whatever
is typed), so the workflow validates them itself and records refusals instead of
letting the SDK drop a payload that does not fit. Updates carry the same payloads and
answer with the new state version or a refusal.

Every payload may carry `expected_version`: if the claim has moved on since the sender
looked, the action is refused with the current version (optimistic concurrency).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from workflows.claim import Money, StrictPositiveMoney, SupportingDocument
from workflows.people import FreeText, PersonName, PlainText

# A staff name after normalisation (NFKC, case-folded, trimmed): "Maria" is maria.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.@-]{0,63}$"


class HumanAction(StrEnum):
    """Every action a person can take on a claim; the signal and update names."""

    APPROVE = "approve"
    REJECT = "reject"
    EDIT = "edit"
    REQUEST_INFO = "request_info"
    SUBMIT_DOCUMENT = "submit_document"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    REASSIGN = "reassign"
    INTERRUPT = "interrupt"


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    # The field that names who acts; each message calls it what its senders call it.
    actor_field: ClassVar[str]

    expected_version: int | None = Field(default=None, ge=1, strict=True)

    @property
    def actor(self) -> str:
        return str(getattr(self, self.actor_field))


class DecisionPayload(Message):
    """`approve` / `reject`: who decides, and why."""

    approver: PersonName = Field(pattern=NAME_PATTERN)
    comment: FreeText = Field(default="", max_length=2000)
    # Approving a payout of 0.00 closes the claim without paying: only when said so.
    confirm_zero_payout: bool = Field(default=False, strict=True)

    actor_field = "approver"


class EditPayload(Message):
    """`edit`: change the proposed payout or the customer message before they execute."""

    approver: PersonName = Field(pattern=NAME_PATTERN)
    payout_amount: StrictPositiveMoney | None = None
    customer_message: FreeText | None = Field(default=None, min_length=1, max_length=2000)
    comment: FreeText = Field(default="", max_length=2000)

    actor_field = "approver"


class RequestInfoPayload(Message):
    """`request_info`: ask for what is missing, from whom; the claim waits for documents."""

    requested_by: PersonName = Field(pattern=NAME_PATTERN)
    what: FreeText = Field(min_length=1, max_length=1000)
    from_whom: PlainText = Field(default="claimant", min_length=1, max_length=200)

    actor_field = "requested_by"


class SubmitDocumentPayload(Message):
    """`submit_document`: a document arrives, asked for or not."""

    submitted_by: PersonName = Field(min_length=1, max_length=200)
    document: SupportingDocument
    note: FreeText = Field(default="", max_length=2000)

    actor_field = "submitted_by"


class OperatorPayload(Message):
    """`pause` / `resume`: an operator holds the agent, or lets it go on."""

    operator: PersonName = Field(pattern=NAME_PATTERN)
    reason: FreeText = Field(default="", max_length=1000)

    actor_field = "operator"


class CancelPayload(Message):
    """`cancel`: end the review; nothing pending is executed."""

    operator: PersonName = Field(pattern=NAME_PATTERN)
    reason: FreeText = Field(min_length=1, max_length=1000)

    actor_field = "operator"


class ReassignPayload(Message):
    """`reassign`: hand the claim to a named person in the approver directory."""

    operator: PersonName = Field(pattern=NAME_PATTERN)
    assignee: PersonName = Field(pattern=NAME_PATTERN)
    reason: FreeText = Field(default="", max_length=1000)

    actor_field = "operator"


class InterruptPayload(Message):
    """`interrupt`: new information; the assessment restarts with it.

    An interrupt whose priority is above the priority of the claim's current wait
    pre-empts that wait; otherwise the information is kept for the next assessment.
    """

    operator: PersonName = Field(pattern=NAME_PATTERN)
    information: FreeText = Field(min_length=1, max_length=4000)
    priority: int = Field(default=50, ge=0, le=100, strict=True)

    actor_field = "operator"


PAYLOADS: dict[HumanAction, type[Message]] = {
    HumanAction.APPROVE: DecisionPayload,
    HumanAction.REJECT: DecisionPayload,
    HumanAction.EDIT: EditPayload,
    HumanAction.REQUEST_INFO: RequestInfoPayload,
    HumanAction.SUBMIT_DOCUMENT: SubmitDocumentPayload,
    HumanAction.PAUSE: OperatorPayload,
    HumanAction.RESUME: OperatorPayload,
    HumanAction.CANCEL: CancelPayload,
    HumanAction.REASSIGN: ReassignPayload,
    HumanAction.INTERRUPT: InterruptPayload,
}


# The signal `claims rollback` sends the new run right after the reset, so the claim's
# audit log says who rolled it back, to which version and why. Not a person's action on
# the claim: the reset has happened when the run receives it.
ROLLED_BACK = "rolled_back"
ROLLBACK_REASON_LIMIT = 500


class RolledBackPayload(Message):
    """`rolled_back`: who reset the claim to which version, and why (`claims rollback`)."""

    operator: PersonName = Field(pattern=NAME_PATTERN)
    reason: PlainText = Field(min_length=1, max_length=ROLLBACK_REASON_LIMIT)
    to_version: int = Field(ge=1, strict=True)

    actor_field = "operator"


class ActionAccepted(BaseModel):
    """An update's answer: the claim's version and step after the action."""

    action: HumanAction
    version: int
    current_step: str
    detail: str = ""


class EmptyEditError(ValueError):
    """An edit that changes nothing: neither the payout nor the message."""


def edit_changes(payload: EditPayload) -> dict[str, Money | str]:
    """The fields an edit sets; an edit that sets nothing is refused."""
    changes: dict[str, Money | str] = {}
    if payload.payout_amount is not None:
        changes["payout_amount"] = payload.payout_amount
    if payload.customer_message is not None:
        changes["customer_message"] = payload.customer_message
    if not changes:
        raise EmptyEditError("an edit needs payout_amount or customer_message")
    return changes
