"""Orders to act: the side effects the workflow asks for once a decision is made."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from workflows.claim import Money


class PayoutOrder(BaseModel):
    """Pay once: the idempotency key makes a retried or replayed order a no-op."""

    idempotency_key: str
    claim_id: str
    payee_id: str
    amount: Money
    currency: str
    approved_by: str


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
