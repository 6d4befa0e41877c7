"""The notice relay against a real local SMTP server (aiosmtpd) and a local chat webhook.

Each relay pass is driven directly with the time it should believe, so backoff and
leases are tested without waiting for them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.chat import ChatSettings
from activities.mail import MailSettings, MailSettingsError, MailSink, sink_files
from activities.notice_delivery import (
    FAILED,
    PENDING,
    SENT,
    Outbox,
    OutboxRow,
    Relay,
    RetryPolicy,
)
from activities.payments import Ledger
from runtime.ports import free_port
from runtime.settings import EXAMPLES_DIR
from tests.helpers import eventually
from tests.timeskipping.conftest import (  # noqa: F401  (fixtures of the time-skipping tests)
    WaitForPerson,
    claims_worker,
    reviewing,
    time_env,
    time_server,
    waiting_claim,
)
from workflows.actions import Notice
from workflows.authority import ReviewPolicy
from workflows.claim_review import ClaimReviewWorkflow

APPROVERS = EXAMPLES_DIR / "approvers.toml"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
NO_WAIT = RetryPolicy(max_attempts=3, first_delay=timedelta(minutes=1))


class Crash(BaseException):
    """A relay dying on the spot (not an error it could catch)."""


class ChatReceiver:
    """A local webhook answering from a script of status codes (then 200), recording posts."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.posts: list[dict[str, object]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(json.loads(body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    """A real SMTP server on a free port, writing what it receives to tmp_path/mail."""
    server = MailSink(tmp_path / "mail").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chat() -> Iterator[ChatReceiver]:
    """A local chat webhook that answers 200."""
    receiver = ChatReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    """An empty outbox in a fresh ledger."""
    return Outbox(tmp_path / "ledger.db")


def put(outbox: Outbox, key: str, recipient: str, subject: str = "Reminder") -> str:
    """Write a notice as the send_notice activity does; its notice id."""
    notice = Notice(
        idempotency_key=key, claim_id="CLM-1", recipient=recipient, subject=subject, body="b"
    )
    return Ledger(outbox.path).send(notice).notice_id


def relay(
    outbox: Outbox,
    mail: MailSettings,
    chat: ChatReceiver | None = None,
    retry: RetryPolicy = NO_WAIT,
) -> Relay:
    """A relay over `outbox` with these channels."""
    return Relay(
        outbox,
        mail=mail,
        chat=ChatSettings(chat.url if chat else None),
        approvers_file=APPROVERS,
        retry=retry,
    )


def status(outbox: Outbox, notice_id: str) -> tuple[str, int]:
    """(status, attempts) of one notice."""
    row = next(r for r in outbox.rows() if r.notice_id == notice_id)
    return row.status, row.attempts


async def test_each_notice_is_delivered_once_however_often_the_relay_runs(
    outbox: Outbox, sink: MailSink, chat: ChatReceiver
) -> None:
    """A claimant notice by email, a queue reminder by email to its people and by chat."""
    claimant = put(outbox, "k1", "ada@example.com", "Claim CLM-1 approved")
    queue = put(outbox, "k2", "senior-approvers", "Reminder 1: claim CLM-1 is waiting for you")
    running = relay(outbox, sink.settings(), chat)
    for minutes in range(3):
        await running.deliver_due(START + timedelta(minutes=minutes))

    reminder = message_from_bytes(sink_files(sink.directory, queue)[0].read_bytes())
    assert [1, 1] == [len(sink_files(sink.directory, n)) for n in (claimant, queue)]
    assert "maria@example.com, lee@example.com, dana@example.com" == reminder["To"]
    assert [(SENT, 1), (SENT, 1)] == [status(outbox, n) for n in (claimant, queue)]
    assert ["<@maria> <@lee> <@dana> *Reminder 1: claim CLM-1 is waiting for you*\nb"] == [
        p["text"] for p in chat.posts
    ]


async def test_a_failed_attempt_is_retried_after_its_backoff_and_sent_once(
    outbox: Outbox, sink: MailSink
) -> None:
    """The SMTP server is down for the first attempt: retried only once the backoff passed."""
    notice = put(outbox, "k1", "ada@example.com")
    down = MailSettings(host="127.0.0.1", port=free_port())
    await relay(outbox, down).deliver_due(START)
    failed_once = next(r for r in outbox.rows() if r.notice_id == notice)
    up = relay(outbox, sink.settings())
    too_early = await up.deliver_due(START + timedelta(seconds=30))
    await up.deliver_due(START + timedelta(minutes=1, seconds=1))
    await up.deliver_due(START + timedelta(minutes=5))

    assert (PENDING, 1, "SMTP server unreachable (ConnectionRefusedError)") == (
        failed_once.status,
        failed_once.attempts,
        failed_once.last_error,
    )
    assert 0 == too_early
    assert ((SENT, 2), 1) == (status(outbox, notice), len(sink_files(sink.directory, notice)))


async def test_chat_retry_does_not_send_the_email_again(outbox: Outbox, sink: MailSink) -> None:
    """Chat answers 503 first: the retry posts to chat again and leaves the sent email alone."""
    notice = put(outbox, "k1", "maria")
    flaky = ChatReceiver([503])
    try:
        running = relay(outbox, sink.settings(), flaky)
        await running.deliver_due(START)
        await running.deliver_due(START + timedelta(minutes=2))
    finally:
        flaky.stop()

    assert (SENT, 2) == status(outbox, notice)
    assert (1, 2) == (len(sink_files(sink.directory, notice)), len(flaky.posts))


async def test_a_relay_killed_between_send_and_mark_sends_at_most_twice_with_one_id(
    outbox: Outbox, sink: MailSink
) -> None:
    """The relay dies after SMTP took the message; another takes over once the lease lapses."""
    notice = put(outbox, "k1", "ada@example.com")

    class DiesAfterSending(Outbox):
        def mark_channel(self, notice_id: str, channel: str, now: datetime) -> None:
            raise Crash

    with pytest.raises(Crash):
        await relay(DiesAfterSending(outbox.path), sink.settings()).deliver_due(START)
    other = relay(outbox, sink.settings())
    while_leased = await other.deliver_due(START + timedelta(minutes=1))
    await other.deliver_due(START + NO_WAIT.lease + timedelta(seconds=1))
    await other.deliver_due(START + timedelta(hours=1))

    ids = {message_from_bytes(f.read_bytes())["Message-ID"] for f in sink.directory.iterdir()}
    assert 0 == while_leased
    assert (2, 1) == (len(sink_files(sink.directory, notice)), len(ids))
    assert (SENT, 1) == status(outbox, notice)


async def test_a_slow_relay_never_sends_a_row_another_relay_took_after_its_lease(
    outbox: Outbox, sink: MailSink
) -> None:
    """Relay A leases two rows; its first send outlasts the lease and relay B takes both.

    B sends them; A, back from its slow send, finds the second row is no longer its own.
    """
    first = put(outbox, "k1", "ada@example.com")
    second = put(outbox, "k2", "bob@example.com")
    later = relay(outbox, sink.settings())

    class Slow(Relay):
        async def _deliver(
            self, row: OutboxRow, policy: ReviewPolicy | None, now: datetime
        ) -> None:
            await super()._deliver(row, policy, now)
            if row.notice_id == first:
                await later.deliver_due(START + NO_WAIT.lease + timedelta(seconds=1))

    slow = Slow(
        outbox, mail=sink.settings(), chat=ChatSettings(), approvers_file=APPROVERS, retry=NO_WAIT
    )
    await slow.deliver_due(START)

    assert [1, 1] == [len(sink_files(sink.directory, n)) for n in (first, second)]
    assert [(SENT, 1), (SENT, 1)] == [status(outbox, n) for n in (first, second)]


async def test_permanent_failures_end_failed_at_once(
    outbox: Outbox, sink: MailSink, chat: ChatReceiver
) -> None:
    """Someone unknown, or a chat hook that answers 404, ends `failed` after one attempt."""
    unknown = put(outbox, "k1", "nobody")
    gone = ChatReceiver([404])
    try:
        chat_only = put(outbox, "k2", "maria")
        await relay(outbox, sink.settings(), gone).deliver_due(START)
    finally:
        gone.stop()
    rows = {r.notice_id: r for r in outbox.rows()}

    assert [(FAILED, 1), (FAILED, 1)] == [status(outbox, n) for n in (unknown, chat_only)]
    assert "is neither an email address nor a person" in (rows[unknown].last_error or "")
    assert "chat webhook answered 404" == rows[chat_only].last_error


async def test_an_unreachable_server_fails_for_good_after_the_last_attempt(
    outbox: Outbox,
) -> None:
    """Three attempts (this policy's cap), each after its backoff; then `failed`, no more."""
    notice = put(outbox, "k1", "ada@example.com")
    down = relay(outbox, MailSettings(host="127.0.0.1", port=free_port()))
    for hours in range(5):
        await down.deliver_due(START + timedelta(hours=hours))

    assert (FAILED, 3) == status(outbox, notice)


@pytest.mark.parametrize(
    ("recipient", "subject"),
    [
        ("ada@example.com\r\nBcc: eve@example.com", "Claim approved"),
        ("ada@example.com, eve@example.com", "Claim approved"),
        # A trailing line break would end the header block: Subject and the rest in the body.
        ("ada@example.com\n", "Claim approved"),
        ("ada@example.com", "Claim approved\r\nBcc: eve@example.com"),
        ("ada@example.com", "Claim approved\nX-Evil: 1"),
        ("ada@example.com", "x" * 5_000),
    ],
)
async def test_header_injection_is_refused(
    outbox: Outbox, sink: MailSink, recipient: str, subject: str
) -> None:
    """A line break, a list or an oversized subject never reaches the SMTP server."""
    notice = put(outbox, "k1", recipient, subject)
    await relay(outbox, sink.settings()).deliver_due(START)

    assert ((FAILED, 1), []) == (status(outbox, notice), list(sink.directory.iterdir()))


def test_a_sender_address_with_a_line_break_is_refused_at_start() -> None:
    """CLAIMS_MAIL_FROM ending in a line break is no address: refused, naming the variable."""
    with pytest.raises(MailSettingsError) as refused:
        MailSettings.from_env({"CLAIMS_MAIL_FROM": "claims@example.com\n"})
    assert "CLAIMS_MAIL_FROM" in str(refused.value)


async def test_a_claim_waiting_24_hours_sends_a_reminder_email_to_the_sink(
    time_env: WorkflowEnvironment,  # noqa: F811
    waiting_claim: WaitForPerson,  # noqa: F811
    sink: MailSink,
) -> None:
    """Time-skipped to hour 25 of the wait, the relay delivers the reminder as an .eml."""
    async with waiting_claim("CLM-1002") as (review, _):
        await time_env.sleep(timedelta(hours=25))
        await eventually(review.state, lambda s: bool(s.pending_actions[0].reminders_sent))
        outbox = Outbox(review.settings.ledger_db)
        running = Relay(
            outbox,
            mail=sink.settings(),
            chat=ChatSettings(),
            approvers_file=review.settings.approvers_file,
        )
        await running.deliver_due()
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        await review.handle.result()

    (reminder,) = [r for r in outbox.rows() if r.subject.startswith("Reminder 1")]
    (mail,) = sink_files(sink.directory, reminder.notice_id)
    received = message_from_bytes(mail.read_bytes())
    assert (SENT, f"Reminder 1: claim {review.claim.claim_id} is waiting for you") == (
        reminder.status,
        received["Subject"],
    )


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (["outbox"], 0, "MSG-"),
        (["outbox", "CLM-1"], 0, "pending"),
        (["outbox", "CLM-404"], 0, "No notices for CLM-404"),
        (["outbox", "CLM\n1\x1b[31m"], 2, "is not a claim id"),
        (["outbox", "C" * 5_000], 2, "is not a claim id"),
        (["outbox", "--limit", "0"], 2, "--limit"),
        (["outbox", "--limit", "many"], 2, "--limit"),
    ],
)
def test_claims_outbox_lists_notices_and_refuses_wrong_input(
    tmp_path: Path, args: list[str], code: int, says: str
) -> None:
    """`claims outbox` lists notices with their status; a wrong argument is refused in words."""
    from typer.testing import CliRunner

    from cli.main import app

    outbox = Outbox(tmp_path / "ledger.db")
    put(outbox, "k1", "ada@example.com", "Claim CLM-1 approved")
    result = CliRunner().invoke(app, args, env={"CLAIMS_DATA_DIR": str(tmp_path), "COLUMNS": "200"})
    assert (code, True) == (result.exit_code, says in result.output)


async def test_claims_outbox_json_names_the_sink_file(tmp_path: Path, sink: MailSink) -> None:
    """With --json each notice carries its status, attempts and the .eml the sink wrote."""
    from typer.testing import CliRunner

    from cli.main import app

    outbox = Outbox(tmp_path / "ledger.db")
    notice = put(outbox, "k1", "ada@example.com", "Claim CLM-1 approved")
    await relay(outbox, sink.settings()).deliver_due(START)
    result = CliRunner().invoke(app, ["outbox", "--json"], env={"CLAIMS_DATA_DIR": str(tmp_path)})

    (row,) = json.loads(result.output)
    assert (notice, SENT, 1, str(sink_files(sink.directory, notice)[0])) == (
        row["notice_id"],
        row["status"],
        row["attempts"],
        row["sink_file"],
    )


def test_notices_written_before_delivery_existed_are_not_sent_on_upgrade(tmp_path: Path) -> None:
    """A schema-2 ledger gains the delivery columns; its old notices are marked skipped."""
    import sqlite3

    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE notices (idempotency_key TEXT PRIMARY KEY, notice_id TEXT NOT NULL "
            "UNIQUE, claim_id TEXT NOT NULL, recipient TEXT NOT NULL, subject TEXT NOT NULL, "
            "body TEXT NOT NULL, sent_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO notices VALUES ('k0', 'MSG-old', 'CLM-1', 'ada@example.com', 's', 'b', "
            "'2025-01-01T00:00:00+00:00')"
        )
        db.execute("PRAGMA user_version = 2")
    db.close()
    outbox = Outbox(path)
    fresh = put(outbox, "k1", "ada@example.com")

    assert [(fresh, PENDING), ("MSG-old", "skipped")] == [
        (r.notice_id, r.status) for r in outbox.rows()
    ]
