"""Side effects: the payout and the notice to the claimant, each exactly once.

Both are keyed by an idempotency key derived from the workflow id and the action, and
stored in a SQLite ledger with that key as primary key, so a retried activity, a
worker crash between "paid" and "reported", or a replay never pays or writes twice.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from temporalio import activity

from workflows.actions import Notice, NoticeReceipt, PayoutOrder, PayoutReceipt

_SCHEMA = """
CREATE TABLE IF NOT EXISTS payouts (
    idempotency_key TEXT PRIMARY KEY,
    payout_id TEXT NOT NULL UNIQUE,
    claim_id TEXT NOT NULL,
    payee_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    paid_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
    idempotency_key TEXT PRIMARY KEY,
    notice_id TEXT NOT NULL UNIQUE,
    claim_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TEXT NOT NULL
);
"""


class Ledger:
    """The payments ledger and the outbox of customer notices."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:
                yield db
        finally:
            db.close()

    def pay(self, order: PayoutOrder) -> PayoutReceipt:
        now = datetime.now(UTC).isoformat()
        with self._connect() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO payouts VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    order.idempotency_key,
                    f"PAY-{uuid.uuid4().hex[:12]}",
                    order.claim_id,
                    order.payee_id,
                    f"{order.amount:.2f}",
                    order.currency,
                    order.approved_by,
                    now,
                ),
            ).rowcount
            payout_id, amount, currency, paid_at = db.execute(
                "SELECT payout_id, amount, currency, paid_at FROM payouts "
                "WHERE idempotency_key = ?",
                (order.idempotency_key,),
            ).fetchone()
        return PayoutReceipt(
            payout_id=payout_id,
            idempotency_key=order.idempotency_key,
            amount=Decimal(amount),
            currency=currency,
            paid_at=datetime.fromisoformat(paid_at),
            already_paid=not inserted,
        )

    def send(self, notice: Notice) -> NoticeReceipt:
        with self._connect() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO notices VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    notice.idempotency_key,
                    f"MSG-{uuid.uuid4().hex[:12]}",
                    notice.claim_id,
                    notice.recipient,
                    notice.subject,
                    notice.body,
                    datetime.now(UTC).isoformat(),
                ),
            ).rowcount
            (notice_id,) = db.execute(
                "SELECT notice_id FROM notices WHERE idempotency_key = ?",
                (notice.idempotency_key,),
            ).fetchone()
        return NoticeReceipt(notice_id=notice_id, already_sent=not inserted)

    def notices_for(self, claim_id: str) -> list[tuple[str, str]]:
        """(recipient, subject) of every notice for a claim, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT recipient, subject FROM notices WHERE claim_id = ? ORDER BY rowid",
                (claim_id,),
            ).fetchall()
        return [(str(r), str(s)) for r, s in rows]

    def payouts_for(self, claim_id: str) -> list[tuple[str, str]]:
        """(payout_id, amount) of every payout made for a claim; for audits and tests."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT payout_id, amount FROM payouts WHERE claim_id = ? ORDER BY paid_at",
                (claim_id,),
            ).fetchall()
        return [(str(p), str(a)) for p, a in rows]


class PaymentActivities:
    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @activity.defn
    async def issue_payout(self, order: PayoutOrder) -> PayoutReceipt:
        """Pay the claimant once; a repeated order returns the first payout."""
        receipt = await asyncio.to_thread(self._ledger.pay, order)
        activity.logger.info(
            "payout recorded",
            extra={"payout_id": receipt.payout_id, "already_paid": receipt.already_paid},
        )
        return receipt

    @activity.defn
    async def send_notice(self, notice: Notice) -> NoticeReceipt:
        """Put a message in the outbox once; the mail relay delivers it."""
        return await asyncio.to_thread(self._ledger.send, notice)
