"""The ledger pays a claim at most once, keeps every approver, and only for a claim review."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import (
    PAYOUT_KEY_CONFLICT,
    SCHEMA_VERSION,
    WHAT_IF_CANNOT_EXECUTE,
    Ledger,
    LedgerError,
    PaymentActivities,
)
from runtime.datadir import DataPathError
from runtime.settings import WORKFLOW_TYPE
from workflows.actions import Notice, PayoutOrder

# The ledger schema as it was before payouts were keyed by claim id.
SCHEMA_V1 = """
CREATE TABLE payouts (
    idempotency_key TEXT PRIMARY KEY,
    payout_id TEXT NOT NULL UNIQUE,
    claim_id TEXT NOT NULL,
    payee_id TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    approved_by TEXT NOT NULL,
    paid_at TEXT NOT NULL
);
CREATE TABLE notices (
    idempotency_key TEXT PRIMARY KEY,
    notice_id TEXT NOT NULL UNIQUE,
    claim_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    sent_at TEXT NOT NULL
);
"""


def order(claim_id: str = "X", key: str | None = None, **changes: Any) -> PayoutOrder:
    fields: dict[str, Any] = {
        "idempotency_key": key or f"claim/{claim_id}/payout",
        "claim_id": claim_id,
        "payee_id": "C-1",
        "amount": Decimal("1250.00"),
        "currency": "USD",
        "approved_by": ["maria"],
    }
    return PayoutOrder(**(fields | changes))


def review_env(workflow_type: str = WORKFLOW_TYPE) -> ActivityEnvironment:
    """An activity environment whose activity was scheduled by `workflow_type`."""
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_type=workflow_type)
    return env


def old_ledger(path: Path, *rows: tuple[str, str, str]) -> Path:
    """A ledger written by the earlier schema: (idempotency key, claim id, approver) rows."""
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA_V1)
        for n, (key, claim_id, approver) in enumerate(rows):
            db.execute(
                "INSERT INTO payouts VALUES (?, ?, ?, 'C-1', '100.00', 'USD', ?, ?)",
                (key, f"PAY-old{n}", claim_id, approver, f"2026-01-0{n + 1}T00:00:00+00:00"),
            )
    return path


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.db")


def test_a_claim_under_a_second_key_is_not_paid_again(ledger: Ledger) -> None:
    """A second workflow for the same claim gets the first payout back, marked already paid."""
    first = ledger.pay(order("X", key="claim-X/payout"))
    second = ledger.pay(order("X", key="claim-X-resubmitted/payout", amount=Decimal("900")))

    assert (False, True) == (first.already_paid, second.already_paid)
    assert (first.payout_id, "claim-X/payout", Decimal("1250.00")) == (
        second.payout_id,
        second.idempotency_key,
        second.amount,
    )
    assert [(first.payout_id, "1250.00")] == ledger.payouts_for("X")


def test_concurrent_orders_for_one_claim_pay_once(ledger: Ledger) -> None:
    """Orders racing from several workers under different keys leave one payout."""
    orders = [order("X", key=f"claim-X-{n}/payout") for n in range(8)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(ledger.pay, orders))

    assert 1 == sum(not r.already_paid for r in receipts)
    assert 1 == len({r.payout_id for r in receipts})
    assert 1 == len(ledger.payouts_for("X"))


def test_a_key_that_paid_another_claim_is_refused(ledger: Ledger) -> None:
    """A reused key must not hide a payout for a different claim, nor make one."""
    ledger.pay(order("X", key="k"))

    with pytest.raises(ApplicationError) as refused:
        ledger.pay(order("Y", key="k"))

    assert (PAYOUT_KEY_CONFLICT, True) == (refused.value.type, refused.value.non_retryable)
    assert [] == ledger.payouts_for("Y")


def test_a_four_eyes_payout_keeps_both_approvers(ledger: Ledger) -> None:
    """A payout approved by two people records both, in order."""
    ledger.pay(order("X", approved_by=["maria", "sam"]))

    payout = ledger.payout_of("X")

    assert payout is not None
    assert ["maria", "sam"] == payout.approved_by


def test_an_order_recorded_with_one_approver_name_still_reads() -> None:
    """Histories recorded before four-eyes approval carry `approved_by` as a string."""
    recorded = {**order().model_dump(mode="json"), "approved_by": "maria"}

    assert ["maria"] == PayoutOrder.model_validate(recorded).approved_by


def test_an_earlier_ledger_is_migrated_and_keeps_its_payouts(tmp_path: Path) -> None:
    """Old rows keep their approver, now as a list, and their claim is not paid again."""
    path = old_ledger(tmp_path / "ledger.db", ("claim-X/payout", "X", "maria"))

    ledger = Ledger(path)
    again = ledger.pay(order("X"))

    payout = ledger.payout_of("X")
    assert payout is not None
    assert (["maria"], "PAY-old0", True) == (
        payout.approved_by,
        again.payout_id,
        again.already_paid,
    )
    with sqlite3.connect(path) as db:
        assert (SCHEMA_VERSION,) == db.execute("PRAGMA user_version").fetchone()


def test_reopening_a_migrated_ledger_changes_nothing(tmp_path: Path) -> None:
    """Migration runs once: approvers are not wrapped in a list a second time."""
    path = old_ledger(tmp_path / "ledger.db", ("claim-X/payout", "X", "maria"))
    Ledger(path)

    payout = Ledger(path).payout_of("X")

    assert payout is not None
    assert ["maria"] == payout.approved_by


def test_an_earlier_ledger_that_paid_a_claim_twice_is_refused(tmp_path: Path) -> None:
    """The operator learns which file and which claims; the file is left as it was."""
    path = old_ledger(
        tmp_path / "ledger.db",
        ("claim-X/payout", "X", "maria"),
        ("claim-X-again/payout", "X", "sam"),
        ("claim-Y/payout", "Y", "maria"),
    )

    with pytest.raises(LedgerError) as refused:
        Ledger(path)

    assert str(path) in str(refused.value)
    assert "claim(s) X;" in str(refused.value)
    with sqlite3.connect(path) as db:
        assert (0,) == db.execute("PRAGMA user_version").fetchone()
        assert ("maria",) == db.execute(
            "SELECT approved_by FROM payouts WHERE claim_id = 'Y'"
        ).fetchone()


def test_a_ledger_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    """A ledger whose schema is newer than this program is refused."""
    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(LedgerError, match="newer than this program"):
        Ledger(path)


async def test_a_repeated_payout_activity_pays_once(ledger: Ledger) -> None:
    """Retries and replays reuse the idempotency key; the ledger keeps one payout."""
    payments = PaymentActivities(ledger)
    env = review_env()

    first = await env.run(payments.issue_payout, order())
    second = await env.run(payments.issue_payout, order())

    assert (False, True, first.payout_id) == (
        first.already_paid,
        second.already_paid,
        second.payout_id,
    )


NOTICE = Notice(idempotency_key="k", claim_id="X", recipient="a@b.c", subject="s", body="b")


@pytest.mark.parametrize(
    ("activity", "argument"),
    [
        (lambda p: p.issue_payout, order()),
        (lambda p: p.send_notice, NOTICE),
    ],
    ids=["issue_payout", "send_notice"],
)
@pytest.mark.parametrize("workflow_type", ["ClaimWhatIfWorkflow", "SomethingElse", "test"])
async def test_side_effects_refuse_anything_but_a_claim_review(
    ledger: Ledger,
    activity: Callable[[PaymentActivities], Any],
    argument: Any,
    workflow_type: str,
) -> None:
    """A what-if (or any other workflow) cannot pay or send, whatever its input says."""
    payments = PaymentActivities(ledger)

    with pytest.raises(ApplicationError) as refused:
        await review_env(workflow_type).run(activity(payments), argument)

    assert (WHAT_IF_CANNOT_EXECUTE, True) == (refused.value.type, refused.value.non_retryable)
    assert "a what-if run never executes side effects" in str(refused.value)
    assert ([], []) == (ledger.payouts_for("X"), ledger.notices_for("X"))


def test_a_read_only_ledger_is_refused_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own read-only refusal becomes a message naming the file and the setting."""
    path = tmp_path / "ledger.db"
    Ledger(path)
    connect = sqlite3.connect

    def read_only(database: Path, **options: Any) -> Any:
        return connect(f"file:{database}?mode=ro", uri=True, **options)

    monkeypatch.setattr(sqlite3, "connect", read_only)

    with pytest.raises(DataPathError) as refused:
        Ledger(path)

    message = str(refused.value)
    assert f"the ledger database {path} is read-only" in message
    assert "CLAIMS_LEDGER_DB" in message


def test_a_ledger_under_a_regular_file_is_refused(tmp_path: Path) -> None:
    """A ledger path below a regular file is refused, naming that file."""
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")

    with pytest.raises(DataPathError) as refused:
        Ledger(blocker / "ledger.db")

    assert f"{blocker} is a file, not a directory" in str(refused.value)


def test_a_ledger_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """A ledger path that is a directory is refused."""
    with pytest.raises(DataPathError, match="is a directory, not a file"):
        Ledger(tmp_path)


def test_a_ledger_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    """A ledger file that is not SQLite is refused as such."""
    path = tmp_path / "ledger.db"
    path.write_text(json.dumps({"not": "sqlite"}) * 200)

    with pytest.raises(DataPathError, match="is not a SQLite database"):
        Ledger(path)
