"""A person's action from a console form, sent to the claim as the contract's update.

`build_payload` turns the form's fields into the action's payload (the signed-in person
as the actor, the version the page showed as `expected_version`); `send_action` sends it.
The form names fields; only the ones the action takes are read, and the claim's own
validation has the last word on every value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from temporalio.client import Client

from console.signing_key import ConsoleKey
from runtime.errors import UserFacingError
from signals.client import act
from signals.messages import ActionAccepted, HumanAction
from workflows.authority import Approver
from workflows.state import ClaimState

# Longest text any payload field takes (interrupt information); longer is refused here.
MAX_FIELD_LENGTH = 4000
MOVED_ON = "has moved on"


class FormError(UserFacingError):
    """A form field the person must correct; nothing was sent."""


@dataclass(frozen=True)
class Field:
    form: str  # the form's field name
    payload: str  # the payload's key
    required: bool = False
    kind: str = "text"  # text, money, priority or flag


_COMMENT = Field("comment", "comment")
_REASON = Field("reason", "reason")
_CONFIRM_ZERO = Field("confirm_zero_payout", "confirm_zero_payout", kind="flag")
FIELDS: dict[HumanAction, tuple[Field, ...]] = {
    HumanAction.APPROVE: (_COMMENT, _CONFIRM_ZERO),
    HumanAction.REJECT: (Field("comment", "comment", required=True),),
    HumanAction.EDIT: (
        Field("payout_amount", "payout_amount", kind="money"),
        Field("customer_message", "customer_message"),
        _COMMENT,
    ),
    HumanAction.REQUEST_INFO: (
        Field("what", "what", required=True),
        Field("from_whom", "from_whom"),
    ),
    HumanAction.PAUSE: (_REASON,),
    HumanAction.RESUME: (_REASON,),
    HumanAction.CANCEL: (Field("reason", "reason", required=True),),
    HumanAction.REASSIGN: (Field("assignee", "assignee", required=True), _REASON),
    HumanAction.INTERRUPT: (
        Field("information", "information", required=True),
        Field("priority", "priority", kind="priority"),
    ),
}
ACTOR_FIELD = {
    HumanAction.APPROVE: "approver",
    HumanAction.REJECT: "approver",
    HumanAction.EDIT: "approver",
    HumanAction.REQUEST_INFO: "requested_by",
}
LABELS = {
    "comment": "Comment",
    "confirm_zero_payout": "Yes, close it without paying (payout 0.00)",
    "payout_amount": "New payout amount",
    "customer_message": "New message to the claimant",
    "what": "What is missing",
    "from_whom": "From whom",
    "reason": "Reason",
    "assignee": "Hand to (a person in the directory)",
    "information": "New information",
    "priority": "Priority (0-100; above the wait's priority interrupts it)",
}


def _value(field: Field, raw: str) -> Any:
    if field.kind == "flag":
        return raw in {"on", "true", "yes", "1"}
    if field.kind == "money":
        try:
            amount = Decimal(raw.replace(",", ""))
        except InvalidOperation:
            raise FormError(f"{LABELS[field.form]}: {raw!r} is not an amount") from None
        if not amount.is_finite():
            raise FormError(f"{LABELS[field.form]}: give a finite amount such as 1250.00")
        return float(amount)  # a JSON number: the claim refuses amounts sent as text
    if field.kind == "priority":
        if not raw.isdigit() or len(raw) > 3:
            raise FormError(f"{LABELS[field.form]}: give a whole number from 0 to 100")
        return int(raw)
    return raw


def build_payload(
    action: HumanAction,
    person: Approver,
    form: Mapping[str, str],
    expected_version: int,
) -> dict[str, Any]:
    """The action's payload from the form: the person acts, at the version they saw."""
    payload: dict[str, Any] = {
        ACTOR_FIELD.get(action, "operator"): person.name,
        "expected_version": expected_version,
    }
    for field in FIELDS[action]:
        raw = form.get(field.form, "")
        if len(raw) > MAX_FIELD_LENGTH:
            raise FormError(f"{LABELS[field.form]}: at most {MAX_FIELD_LENGTH} characters")
        raw = raw.strip()
        if not raw:
            if field.required:
                raise FormError(f"{LABELS[field.form]}: this field is required")
            continue
        payload[field.payload] = _value(field, raw)
    return payload


def edit_preview(state: ClaimState, payload: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field, now, after) for what an edit would change; nothing is sent."""
    proposal = state.context.proposal
    if proposal is None:
        raise FormError("there is no proposal to edit yet")
    changes = []
    if "payout_amount" in payload:
        after = Decimal(str(payload["payout_amount"]))
        if after != proposal.payout_amount:
            changes.append(("Payout", f"{proposal.payout_amount:,.2f}", f"{after:,.2f}"))
    message = payload.get("customer_message")
    if message is not None and message != proposal.customer_message:
        changes.append(("Message to the claimant", proposal.customer_message, message))
    if not changes:
        raise FormError("this edit changes nothing; change the payout or the message")
    return changes


async def send_action(
    client: Client,
    claim_id: str,
    action: HumanAction,
    person: Approver,
    form: Mapping[str, str],
    expected_version: int,
    *,
    signing_key: ConsoleKey | None = None,
    now: datetime | None = None,
) -> ActionAccepted:
    """Send what the person did, signed by the console when it has a key.

    ActionRefused carries the claim's reason when it refuses.
    """
    payload = build_payload(action, person, form, expected_version)
    if signing_key is not None:
        payload = signing_key.sign(
            payload, claim_id=claim_id, action=str(action), now=now or datetime.now(UTC)
        )
    return await act(client, claim_id, action, payload)
