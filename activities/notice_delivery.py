"""The notice relay: delivers what the outbox holds by email and chat, retrying with backoff.

Why a relay over the outbox and not a delivery activity inside each claim: `send_notice`
already writes every notice once, in the same ledger as the payouts, and a claim goes on
as soon as its notice is in the outbox. Delivering from here changes no command of any
running claim (so no patch, no replay risk), and a dead mail server or an address that
refuses mail can never hold a claim back: the claim has moved on; only the notice's row
says "failed". Retries are ours, visible in the row (attempts, last error, next attempt)
and in `claims outbox` / `claims show`.

Several relays may run (one per worker). Each takes due rows with a lease in one SQLite
write transaction, so no two send the same row at the same time; a relay that dies while
holding a lease lets it lapse, and the next one tries again.

What is guaranteed, honestly: at-least-once. A relay that crashes after the SMTP server
took the message but before the row says so sends it again once its lease lapses. Each
resend carries the same Message-ID (derived from the notice id), so the receiving side
or a person can recognise the duplicate; email and chat are tracked separately, so a
retry of one never resends the other once that one is recorded. Each failing attempt
waits twice as long as the one before (capped), and after `max_attempts` the notice is
`failed` for good.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.chat import ChatSettings, chat_text, post_chat
from activities.mail import DeliveryError, MailSettings, build_message, send_mail
from activities.payments import Ledger
from activities.review_policy import load_review_policy_file
from runtime.errors import UserFacingError
from runtime.logs import get_logger
from runtime.settings import Settings
from runtime.text import printable
from workflows.authority import Approver, ReviewPolicy

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
MAIL = "mail"
CHAT = "chat"
POLL_SECONDS = 2.0
BATCH = 20
MAX_ERROR = 300

log = get_logger("claims.notices")


@dataclass(frozen=True)
class RetryPolicy:
    """Ten attempts, 3 minutes apart at first, doubling up to 8 hours: about 21 hours."""

    max_attempts: int = 10
    first_delay: timedelta = timedelta(minutes=3)
    longest_delay: timedelta = timedelta(hours=8)
    # How long one relay holds a row it is delivering before another may take it.
    lease: timedelta = timedelta(minutes=2)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        delay: timedelta = self.first_delay * (2 ** max(attempts - 1, 0))
        return min(delay, self.longest_delay)


@dataclass(frozen=True)
class OutboxRow:
    """One notice and how its delivery stands."""

    notice_id: str
    claim_id: str
    recipient: str
    subject: str
    body: str
    created_at: str
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: str | None
    mail_sent_at: str | None
    chat_sent_at: str | None
    delivered_at: str | None


_SELECT = (
    "SELECT notice_id, claim_id, recipient, subject, body, sent_at, status, attempts, "
    "last_error, next_attempt_at, mail_sent_at, chat_sent_at, delivered_at FROM notices "
)
_DUE = (
    _SELECT + "WHERE status = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
    "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY rowid LIMIT ?"
)
_OF_CLAIM = _SELECT + "WHERE claim_id = ? ORDER BY rowid DESC LIMIT ?"
_ALL = _SELECT + "ORDER BY rowid DESC LIMIT ?"
_MARK_CHANNEL = {
    MAIL: "UPDATE notices SET mail_sent_at = ? WHERE notice_id = ?",
    CHAT: "UPDATE notices SET chat_sent_at = ? WHERE notice_id = ?",
}


def _row(values: tuple[object, ...]) -> OutboxRow:
    (nid, cid, rcpt, subj, body, created, status, attempts, err, nxt, mail, chat, done) = values
    return OutboxRow(
        notice_id=str(nid),
        claim_id=str(cid),
        recipient=str(rcpt),
        subject=str(subj),
        body=str(body),
        created_at=str(created),
        status=str(status),
        attempts=int(str(attempts)),
        last_error=None if err is None else str(err),
        next_attempt_at=None if nxt is None else str(nxt),
        mail_sent_at=None if mail is None else str(mail),
        chat_sent_at=None if chat is None else str(chat),
        delivered_at=None if done is None else str(done),
    )


def stamp(moment: datetime) -> str:
    """A UTC time as the ledger stores it (fixed width, so text order is time order)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


class Outbox:
    """The ledger's notices table as the relay and `claims outbox` see it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ledger = Ledger(path)  # brings the file to the schema with delivery columns

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._ledger.write() as db:
            yield db

    def lease_due(self, owner: str, now: datetime, lease: timedelta, limit: int) -> list[OutboxRow]:
        """Take up to `limit` due rows for `owner` until now + lease, in one transaction."""
        at = stamp(now)
        with self._write() as db:
            rows = db.execute(
                _DUE,
                (PENDING, at, at, limit),
            ).fetchall()
            db.executemany(
                "UPDATE notices SET lease_owner = ?, lease_until = ? WHERE notice_id = ?",
                [(owner, stamp(now + lease), r[0]) for r in rows],
            )
        return [_row(r) for r in rows]

    def renew_lease(
        self, notice_id: str, owner: str, now: datetime, lease: timedelta
    ) -> OutboxRow | None:
        """The row as it is now, its lease extended, if `owner` still holds it; else None.

        A batch is leased at once but delivered one row after another: a slow SMTP server
        can outlast the lease of the last rows, and another relay may have taken them since.
        """
        with self._write() as db:
            taken = db.execute(
                "UPDATE notices SET lease_until = ? WHERE notice_id = ? AND lease_owner = ? "
                "AND status = ?",
                (stamp(now + lease), notice_id, owner, PENDING),
            ).rowcount
            row = db.execute(_SELECT + "WHERE notice_id = ?", (notice_id,)).fetchone()
        return _row(row) if taken and row is not None else None

    def mark_channel(self, notice_id: str, channel: str, now: datetime) -> None:
        """Record that one channel (mail or chat) took the notice."""
        with self._write() as db:
            db.execute(_MARK_CHANNEL[channel], (stamp(now), notice_id))

    def mark_sent(self, notice_id: str, now: datetime) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE notices SET status = ?, delivered_at = ?, attempts = attempts + 1, "
                "last_error = NULL, next_attempt_at = NULL, lease_owner = NULL, "
                "lease_until = NULL WHERE notice_id = ?",
                (SENT, stamp(now), notice_id),
            )

    def mark_failure(
        self, notice_id: str, error: DeliveryError, now: datetime, retry: RetryPolicy
    ) -> str:
        """Count a failed attempt; the row's new status (pending again, or failed for good)."""
        with self._write() as db:
            found = db.execute(
                "SELECT attempts FROM notices WHERE notice_id = ?", (notice_id,)
            ).fetchone()
            attempts = (int(found[0]) if found else 0) + 1
            final = error.permanent or attempts >= retry.max_attempts
            status = FAILED if final else PENDING
            db.execute(
                "UPDATE notices SET status = ?, attempts = ?, last_error = ?, "
                "next_attempt_at = ?, lease_owner = NULL, lease_until = NULL "
                "WHERE notice_id = ?",
                (
                    status,
                    attempts,
                    printable(error.reason)[:MAX_ERROR],
                    None if final else stamp(now + retry.delay(attempts)),
                    notice_id,
                ),
            )
        return status

    def rows(self, claim_id: str | None = None, limit: int = 200) -> list[OutboxRow]:
        """Notices, newest first, of one claim or of all."""
        query, args = (_OF_CLAIM, (claim_id, limit)) if claim_id else (_ALL, (limit,))
        with self._ledger.reading() as db:
            rows = db.execute(query, args).fetchall()
        return [_row(r) for r in rows]


@dataclass(frozen=True)
class Destinations:
    """Where one notice goes: email addresses, and chat handles for staff."""

    emails: list[str]
    chat_handles: list[str]
    staff: bool


def resolve(recipient: str, policy: ReviewPolicy | None) -> Destinations:
    """A claimant's address as is; a person or a queue through the approver directory.

    A queue ("approvers") is every person whose role its escalation level lists.
    Raises a permanent DeliveryError when the recipient is neither.
    """
    if "@" in recipient:
        return Destinations(emails=[recipient], chat_handles=[], staff=False)
    people: list[Approver] = []
    if policy is not None:
        person = policy.find(recipient)
        if person is not None:
            people = [person]
        else:
            level = next((lv for lv in policy.escalation_ladder if lv.name == recipient), None)
            if level is not None:
                people = [a for a in policy.approvers if a.role in level.roles]
    if not people:
        raise DeliveryError(
            f"recipient {printable(recipient)[:64]!r} is neither an email address nor a person "
            "or queue of the approver directory",
            permanent=True,
        )
    emails = [a.email for a in people if a.email]
    handles = [a.chat for a in people if a.chat]
    if not emails and not handles:
        raise DeliveryError(
            f"nobody under {printable(recipient)[:64]!r} has an email or chat in the approver "
            "directory; add them to the approvers file",
            permanent=True,
        )
    return Destinations(emails=emails, chat_handles=handles, staff=True)


class Relay:
    """Delivers due notices from one outbox; `deliver_due` is one pass."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        mail: MailSettings,
        chat: ChatSettings,
        approvers_file: Path,
        retry: RetryPolicy | None = None,
        owner: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.mail = mail
        self.chat = chat
        self.approvers_file = approvers_file
        self.retry = retry or RetryPolicy()
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._policy: ReviewPolicy | None = None

    def _directory(self) -> ReviewPolicy | None:
        """The approver directory as it is now; the last good one if the file broke."""
        try:
            self._policy = load_review_policy_file(self.approvers_file)
        except UserFacingError as error:
            log.warning("approver directory unreadable; using the last one read", error=str(error))
        return self._policy

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Deliver every due notice once; how many rows were attempted."""
        at = now or datetime.now(UTC)
        rows = await asyncio.to_thread(
            self.outbox.lease_due, self.owner, at, self.retry.lease, BATCH
        )
        if rows:
            policy = await asyncio.to_thread(self._directory)
            for row in rows:
                moment = now or datetime.now(UTC)
                current = await asyncio.to_thread(
                    self.outbox.renew_lease, row.notice_id, self.owner, moment, self.retry.lease
                )
                if current is None:
                    continue  # our lease lapsed and another relay has the row now
                await self._deliver(current, policy, moment)
        return len(rows)

    async def _deliver(self, row: OutboxRow, policy: ReviewPolicy | None, now: datetime) -> None:
        try:
            where = resolve(row.recipient, policy)
            if not where.emails and not self.chat.enabled:
                raise DeliveryError("chat is off: set CLAIMS_CHAT_WEBHOOK_URL", permanent=False)
            if where.emails and row.mail_sent_at is None:
                if not self.mail.enabled:
                    raise DeliveryError("email is off: set CLAIMS_SMTP_HOST", permanent=False)
                message = build_message(
                    notice_id=row.notice_id,
                    mail_from=self.mail.mail_from,
                    to=where.emails,
                    subject=row.subject,
                    body=row.body,
                )
                await send_mail(self.mail, message)
                await asyncio.to_thread(self.outbox.mark_channel, row.notice_id, MAIL, now)
            if where.staff and self.chat.enabled and row.chat_sent_at is None:
                text = chat_text(handles=where.chat_handles, subject=row.subject, body=row.body)
                await post_chat(self.chat, text, row.notice_id)
                await asyncio.to_thread(self.outbox.mark_channel, row.notice_id, CHAT, now)
        except DeliveryError as error:
            status = await asyncio.to_thread(
                self.outbox.mark_failure, row.notice_id, error, now, self.retry
            )
            log.warning(
                "notice not delivered",
                notice_id=row.notice_id,
                claim_id=row.claim_id,
                status=status,
                permanent=error.permanent,
            )  # the reason may name the recipient: it stays in the row, not in the log
            return
        await asyncio.to_thread(self.outbox.mark_sent, row.notice_id, now)
        log.info("notice delivered", notice_id=row.notice_id, claim_id=row.claim_id)


def relay_from_env(settings: Settings, env: Mapping[str, str] | None = None) -> Relay:
    """The relay the settings and CLAIMS_SMTP_* / CLAIMS_CHAT_WEBHOOK_URL describe."""
    env = os.environ if env is None else env
    return Relay(
        Outbox(settings.ledger_db),
        mail=MailSettings.from_env(env),
        chat=ChatSettings.from_env(env),
        approvers_file=settings.approvers_file,
    )


async def run_relay(
    settings: Settings, stop: asyncio.Event, *, env: Mapping[str, str] | None = None
) -> None:
    """Deliver notices until `stop` is set; off (idle) when neither email nor chat is set."""
    relay = relay_from_env(settings, env)
    if not relay.mail.enabled and not relay.chat.enabled:
        log.info("notice delivery off: set CLAIMS_SMTP_HOST or CLAIMS_CHAT_WEBHOOK_URL")
        await stop.wait()
        return
    log.info("notice relay started", mail_on=relay.mail.enabled, chat_on=relay.chat.enabled)
    while not stop.is_set():
        try:
            attempted = await relay.deliver_due()
        except Exception as error:  # a locked or broken ledger: say so, try again later
            log.warning("notice relay pass failed", error=printable(str(error))[:MAX_ERROR])
            attempted = 0
        if attempted == 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=POLL_SECONDS)
    log.info("notice relay stopped")
