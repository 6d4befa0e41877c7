"""Side effects: the payout and the notice to the claimant, each exactly once.

A claim is paid at most once, whatever workflow or idempotency key carries its order:
the ledger keeps one payout per claim id (a unique index), and an order for a claim
already paid returns that payout. Notices are keyed by their idempotency key. Both live
in a SQLite ledger, so a retried activity, a worker crash between "paid" and "reported",
a replay or a second workflow for the same claim never pays or writes twice.

Only a `ClaimReviewWorkflow` may run these activities: a what-if run never executes.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from temporalio import activity
from temporalio.exceptions import ApplicationError

from runtime.datadir import DataPathError, ensure_writable_file, sqlite_refusals
from runtime.settings import WORKFLOW_TYPE
from workflows.actions import Notice, NoticeReceipt, PayoutOrder, PayoutReceipt

if TYPE_CHECKING:
    from activities.payment_gateway import PaymentGateway

LEDGER_SETTING = "CLAIMS_LEDGER_DB"
# 1: payouts keyed by idempotency key, one approver. 2: one payout per claim id (unique
# index), every approver as a JSON list. 3: notices carry their delivery (status, attempts,
# last error, next attempt, lease) for the relay in activities.notice_delivery.
SCHEMA_VERSION = 3

_TABLES = """
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
# Delivery columns of the outbox, added to a ledger of any earlier version (ALTER TABLE):
# pending -> sent, or failed for good; a leased row is being delivered by one relay.
_DELIVERY_COLUMNS = {
    "status": "TEXT NOT NULL DEFAULT 'pending'",
    "attempts": "INTEGER NOT NULL DEFAULT 0",
    "last_error": "TEXT",
    "next_attempt_at": "TEXT",
    "lease_owner": "TEXT",
    "lease_until": "TEXT",
    "mail_sent_at": "TEXT",
    "chat_sent_at": "TEXT",
    "delivered_at": "TEXT",
}
_DUE_NOTICES = "CREATE INDEX IF NOT EXISTS notices_due ON notices (status, next_attempt_at)"
# Notices written before delivery existed were never meant to reach anyone; sending weeks
# of stale reminders on upgrade would be worse than not sending them.
NOT_DELIVERED_BEFORE_V3 = "written before notice delivery existed; not sent"
_ONE_PAYOUT_PER_CLAIM = (
    "CREATE UNIQUE INDEX IF NOT EXISTS payouts_one_per_claim ON payouts (claim_id)"
)
_PAYOUT_OF_CLAIM = (
    "SELECT payout_id, idempotency_key, claim_id, amount, currency, approved_by, paid_at "
    "FROM payouts WHERE claim_id = ?"
)
_INSERT_PAYOUT = (
    "INSERT INTO payouts (payout_id, idempotency_key, claim_id, amount, currency, "
    "approved_by, paid_at, payee_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)

WHAT_IF_CANNOT_EXECUTE = "WhatIfCannotExecute"
PAYOUT_KEY_CONFLICT = "PayoutKeyConflict"


class LedgerError(DataPathError):
    """The ledger file cannot be used as it is; the message says what to fix."""


@dataclass(frozen=True)
class PayoutRecord:
    """One payout as the ledger holds it."""

    payout_id: str
    idempotency_key: str
    claim_id: str
    amount: Decimal
    currency: str
    approved_by: list[str]
    paid_at: datetime


def _record(row: tuple[str, ...]) -> PayoutRecord:
    payout_id, key, claim_id, amount, currency, approved_by, paid_at = row
    return PayoutRecord(
        payout_id=payout_id,
        idempotency_key=key,
        claim_id=claim_id,
        amount=Decimal(amount),
        currency=currency,
        approved_by=[str(name) for name in json.loads(approved_by)],
        paid_at=datetime.fromisoformat(paid_at),
    )


class Ledger:
    """The payments ledger and the outbox of customer notices."""

    def __init__(self, path: Path) -> None:
        self.path = path
        ensure_writable_file(path, "ledger database", LEDGER_SETTING)
        with self._refusals(), self._transaction() as db:
            self._migrate(db)

    def _refusals(self) -> AbstractContextManager[None]:
        return sqlite_refusals(self.path, "ledger database", LEDGER_SETTING)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, its failures in plain words: the outbox relay's too."""
        with self._refusals(), self._transaction() as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once so concurrent payers queue, never interleave."""
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _migrate(self, db: sqlite3.Connection) -> None:
        """Bring any earlier ledger to this schema, or refuse to start if it cannot be."""
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise LedgerError(
                f"the ledger database {self.path} has schema version {version}, newer than "
                f"this program's {SCHEMA_VERSION}; run the newer program or set "
                f"{LEDGER_SETTING} to another file"
            )
        for statement in _TABLES.split(";"):
            if statement.strip():
                db.execute(statement)
        if version < 2:
            db.execute("UPDATE payouts SET approved_by = json_array(approved_by)")
        present = {str(row[1]) for row in db.execute("PRAGMA table_info(notices)")}
        for column, declaration in _DELIVERY_COLUMNS.items():
            if column not in present:
                db.execute(f"ALTER TABLE notices ADD COLUMN {column} {declaration}")
        if version < 3:
            db.execute(
                "UPDATE notices SET status = 'skipped', last_error = ?",
                (NOT_DELIVERED_BEFORE_V3,),
            )
        db.execute(_DUE_NOTICES)
        paid_twice = [
            str(claim_id)
            for (claim_id,) in db.execute(
                "SELECT claim_id FROM payouts GROUP BY claim_id HAVING COUNT(*) > 1 "
                "ORDER BY claim_id"
            )
        ]
        if paid_twice:
            raise LedgerError(
                f"the ledger database {self.path} holds more than one payout for claim(s) "
                f"{', '.join(paid_twice)}; nothing was changed. Reconcile those payouts "
                f"(keep one row per claim in the payouts table) before starting again"
            )
        db.execute(_ONE_PAYOUT_PER_CLAIM)
        # Written on every start: it is also the proof that the file is writable now,
        # not at the first payout.
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def pay(self, order: PayoutOrder) -> PayoutReceipt:
        """Record the payout for `order.claim_id`, or return the one already made for it."""
        with self._refusals(), self._transaction() as db:
            existing = db.execute(_PAYOUT_OF_CLAIM, (order.claim_id,)).fetchone()
            if existing is not None:
                return receipt_of(_record(existing), already_paid=True)
            other = db.execute(
                "SELECT claim_id FROM payouts WHERE idempotency_key = ?",
                (order.idempotency_key,),
            ).fetchone()
            if other is not None:
                raise ApplicationError(
                    f"payout key {order.idempotency_key!r} already paid claim {other[0]}, "
                    f"not {order.claim_id}; nothing was paid",
                    type=PAYOUT_KEY_CONFLICT,
                    non_retryable=True,
                )
            record = PayoutRecord(
                payout_id=f"PAY-{uuid.uuid4().hex[:12]}",
                idempotency_key=order.idempotency_key,
                claim_id=order.claim_id,
                amount=order.amount,
                currency=order.currency,
                approved_by=list(order.approved_by),
                paid_at=datetime.now(UTC),
            )
            db.execute(
                _INSERT_PAYOUT,
                (
                    record.payout_id,
                    record.idempotency_key,
                    record.claim_id,
                    f"{record.amount:.2f}",
                    record.currency,
                    json.dumps(record.approved_by),
                    record.paid_at.isoformat(),
                    order.payee_id,
                ),
            )
        return receipt_of(record, already_paid=False)

    def send(self, notice: Notice) -> NoticeReceipt:
        """Put the notice in the outbox (pending, due now) once per idempotency key."""
        with self._refusals(), self._transaction() as db:
            inserted = db.execute(
                "INSERT OR IGNORE INTO notices (idempotency_key, notice_id, claim_id, "
                "recipient, subject, body, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads, its failures in plain words."""
        with self._refusals(), closing(sqlite3.connect(self.path, timeout=30)) as db:
            yield db

    def notices_for(self, claim_id: str) -> list[tuple[str, str]]:
        """(recipient, subject) of every notice for a claim, oldest first."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT recipient, subject FROM notices WHERE claim_id = ? ORDER BY rowid",
                (claim_id,),
            ).fetchall()
        return [(str(r), str(s)) for r, s in rows]

    def payouts_for(self, claim_id: str) -> list[tuple[str, str]]:
        """(payout_id, amount) of every payout made for a claim; for audits and tests."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT payout_id, amount FROM payouts WHERE claim_id = ? ORDER BY paid_at",
                (claim_id,),
            ).fetchall()
        return [(str(p), str(a)) for p, a in rows]

    def payout_of(self, claim_id: str) -> PayoutRecord | None:
        """The payout made for a claim, with everyone who approved it; None if unpaid."""
        with self.reading() as db:
            row = db.execute(_PAYOUT_OF_CLAIM, (claim_id,)).fetchone()
        return None if row is None else _record(row)


def receipt_of(record: PayoutRecord, *, already_paid: bool) -> PayoutReceipt:
    """The receipt for a payout on record (a repeat order gets the first one)."""
    return PayoutReceipt(
        payout_id=record.payout_id,
        idempotency_key=record.idempotency_key,
        amount=record.amount,
        currency=record.currency,
        paid_at=record.paid_at,
        already_paid=already_paid,
    )


def _only_in_a_review(action: str) -> None:
    """Refuse a side effect asked for by anything but a claim review (a what-if, say)."""
    workflow_type = activity.info().workflow_type
    if workflow_type != WORKFLOW_TYPE:
        raise ApplicationError(
            f"{action} refused: it was asked for by {workflow_type!r}, and a what-if run "
            f"never executes side effects; only a {WORKFLOW_TYPE} pays or sends notices",
            type=WHAT_IF_CANNOT_EXECUTE,
            non_retryable=True,
        )


class PaymentActivities:
    def __init__(self, ledger: Ledger, gateway: PaymentGateway | None = None) -> None:
        """Pay through `gateway` (see `activities.payment_gateway`); the ledger if None."""
        self._ledger = ledger
        self._gateway = gateway

    @activity.defn
    async def issue_payout(self, order: PayoutOrder) -> PayoutReceipt:
        """Pay the claimant once per claim; a repeated order returns the first payout."""
        _only_in_a_review("payout")
        if self._gateway is None:
            receipt = await asyncio.to_thread(self._ledger.pay, order)
        else:
            receipt = await self._gateway.pay(order)
        activity.logger.info(
            "payout recorded",
            extra={
                "gateway": self._gateway.name if self._gateway else "ledger",
                "payout_id": receipt.payout_id,
                "already_paid": receipt.already_paid,
                "paid_under_key": receipt.idempotency_key,
            },
        )
        return receipt

    @activity.defn
    async def send_notice(self, notice: Notice) -> NoticeReceipt:
        """Put a message in the outbox once; the relay (activities.notice_delivery) delivers it."""
        _only_in_a_review("notice")
        return await asyncio.to_thread(self._ledger.send, notice)
