"""Orders to act: the side effects the workflow asks for once a decision is made."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator

from workflows.claim import Money


def _as_list(value: object) -> object:
    """Orders recorded before four-eyes approval name one approver as a plain string."""
    return [value] if isinstance(value, str) else value


class PayoutOrder(BaseModel):
    """Pay once per claim: the ledger keeps one payout per claim id, whatever the key.

    The idempotency key (`claim/<claim_id>/payout`) still names the order, so a retried
    or replayed order is recognised as the same one.
    """

    idempotency_key: str
    claim_id: str
    payee_id: str
    amount: Money
    currency: str
    # Everyone who approved, in order: four eyes means two names.
    approved_by: Annotated[list[str], BeforeValidator(_as_list)]


class PayoutReceipt(BaseModel):
    payout_id: str
    idempotency_key: str
    amount: Money
    currency: str
    paid_at: datetime
    already_paid: bool


class Notice(BaseModel):
    """A message to a claimant or to staff; sent once per idempotency key."""

    idempotency_key: str
    claim_id: str
    recipient: str
    subject: str
    body: str


class NoticeReceipt(BaseModel):
    notice_id: str
    already_sent: bool
