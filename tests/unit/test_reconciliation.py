"""The reconciliation report: the ledger's payouts against a gateway's, by idempotency key."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payment_gateway import GatewayPayment, LedgerGateway
from activities.payments import Ledger
from activities.reconciliation import BAD_WINDOW, ReconciliationActivities
from workflows.actions import PayoutOrder, PayoutReceipt
from workflows.reconciliation import ReconciliationReport


class ListedGateway:
    """A gateway that answers from a list; it pays nothing."""

    name = "fake"

    def __init__(self, *payments: GatewayPayment) -> None:
        self.held = {p.idempotency_key: p for p in payments}

    async def pay(self, order: PayoutOrder) -> PayoutReceipt:
        raise AssertionError("reconciliation never pays")

    async def status(self, idempotency_key: str) -> GatewayPayment | None:
        return self.held.get(idempotency_key)

    async def payments(self, since: datetime) -> list[GatewayPayment]:
        return [p for p in self.held.values() if p.paid_at >= since]


def paid(ledger: Ledger, claim_id: str, amount: str = "100.00") -> None:
    ledger.pay(
        PayoutOrder(
            idempotency_key=f"claim/{claim_id}/payout",
            claim_id=claim_id,
            payee_id="P-1",
            amount=Decimal(amount),
            currency="USD",
            approved_by=["maria"],
        )
    )


def theirs(claim_id: str, amount: str = "100.00", days_ago: float = 0) -> GatewayPayment:
    return GatewayPayment(
        payment_id=f"pay_{claim_id}",
        idempotency_key=f"claim/{claim_id}/payout",
        claim_id=claim_id,
        amount=Decimal(amount),
        currency="usd",
        paid_at=datetime.now(UTC) - timedelta(days=days_ago),
    )


async def reconcile(ledger: Ledger, gateway: Any, since_days: Any = 7) -> ReconciliationReport:
    activities = ReconciliationActivities(ledger, gateway)
    report: ReconciliationReport = await ActivityEnvironment().run(
        activities.reconcile_payouts, since_days
    )
    return report


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.db")


async def test_each_kind_of_difference_is_listed(ledger: Ledger) -> None:
    """Matched, missing at the gateway, unknown to the claims, another amount: each listed."""
    for claim_id in ("A", "B", "C"):
        paid(ledger, claim_id)
    gateway = ListedGateway(theirs("A"), theirs("C", "90.00"), theirs("D"))
    report = await reconcile(ledger, gateway)
    assert 1 == report.matched
    assert ["B"] == [e.claim_id for e in report.missing_at_gateway]
    assert ["D"] == [e.claim_id for e in report.unknown_at_gateway]
    assert [("100.00 USD", "90.00 usd")] == [(e.ours, e.theirs) for e in report.amount_mismatch]
    assert not report.clean


async def test_a_payment_just_across_the_window_is_found_by_key(ledger: Ledger) -> None:
    """The gateway's side of a payout lies before the window: looked up, matched."""
    paid(ledger, "A")
    report = await reconcile(ledger, ListedGateway(theirs("A", days_ago=7.5)))
    assert report.clean
    assert 1 == report.matched


async def test_old_payments_outside_the_window_are_not_reported(ledger: Ledger) -> None:
    """A gateway payment older than the window is not read, so not reported."""
    report = await reconcile(ledger, ListedGateway(theirs("Z", days_ago=30)))
    assert report.clean
    assert 0 == report.matched


async def test_the_ledger_against_itself_is_clean(ledger: Ledger) -> None:
    """With the default gateway both sides are the ledger: everything matches."""
    paid(ledger, "A")
    paid(ledger, "B", "5.10")
    report = await reconcile(ledger, LedgerGateway(ledger))
    assert (2, True) == (report.matched, report.clean)
    assert "2 matched" in report.summary()


async def test_the_report_carries_no_payee(ledger: Ledger) -> None:
    """Entries hold claim id, key and amounts only."""
    paid(ledger, "B")
    report = await reconcile(ledger, ListedGateway())
    assert "P-1" not in report.model_dump_json()


@pytest.mark.parametrize("since_days", [0, -1, 10_000, "7", 7.5, True, None])
async def test_a_wrong_window_is_refused_for_good(ledger: Ledger, since_days: Any) -> None:
    """Out of range or not a whole number: a non-retryable error naming since_days."""
    with pytest.raises(ApplicationError) as refused:
        await reconcile(ledger, ListedGateway(), since_days)
    assert (refused.value.type, refused.value.non_retryable) == (BAD_WINDOW, True)
    assert "since_days" in refused.value.message


def test_gateway_payments_are_frozen() -> None:
    """A payment read from a gateway cannot be changed by the comparison."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        theirs("A").amount = Decimal(0)  # type: ignore[misc]
