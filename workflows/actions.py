"""Messages for the activities the workflow calls: questions to tools, orders to act."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from workflows.claim import Claim, Money
from workflows.evidence import PolicyRecord


class PolicyQuery(BaseModel):
    policy_number: str


class CoverageQuery(BaseModel):
    claim: Claim
    policy: PolicyRecord


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


class ClaimantNotice(BaseModel):
    idempotency_key: str
    claim_id: str
    email: str
    subject: str
    body: str


class NoticeReceipt(BaseModel):
    notice_id: str
    already_sent: bool
