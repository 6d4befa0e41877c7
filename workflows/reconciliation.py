"""What a reconciliation of payouts found: the claims' record against the gateway's.

Pure data, so the nightly sweep's workflow can read it. Entries name a claim, its payout
key and two amounts, never a payee or a name.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

RECONCILE_PAYOUTS = "reconcile_payouts"
# The widest window a sweep may ask for, in days.
MAX_SINCE_DAYS = 366


class ReconciliationEntry(BaseModel):
    """One payout the two sides disagree on; `ours`/`theirs` as "120.50 USD", or None."""

    claim_id: str
    idempotency_key: str
    ours: str | None
    theirs: str | None


class ReconciliationReport(BaseModel):
    """Payouts from `since` to `until`, matched by idempotency key."""

    gateway: str
    since: datetime
    until: datetime
    matched: int = 0
    # Paid in the claims' record, unknown to the gateway: money the claimant may lack.
    missing_at_gateway: list[ReconciliationEntry] = Field(default_factory=list)
    # Paid by the gateway, unknown to the claims: money that left without a claim.
    unknown_at_gateway: list[ReconciliationEntry] = Field(default_factory=list)
    amount_mismatch: list[ReconciliationEntry] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Every payout on both sides, for the same amount."""
        return not (self.missing_at_gateway or self.unknown_at_gateway or self.amount_mismatch)

    def summary(self) -> str:
        """One line for a log or a digest."""
        return (
            f"{self.matched} matched, {len(self.missing_at_gateway)} missing at {self.gateway}, "
            f"{len(self.unknown_at_gateway)} unknown to the claims, "
            f"{len(self.amount_mismatch)} with another amount"
        )
