"""The nightly reconciliation: the claims' record of payouts against the gateway's.

The ledger is what the claims paid; the gateway is where the money went. Payouts are
matched by idempotency key. A payout one side lists in the window and the other does not
is looked up by key before it is reported, so one recorded just across the window's edge
(the gateway pays before the ledger records) is not a false alarm.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.payment_gateway import (
    GatewayPayment,
    PaymentGateway,
    ledger_payment,
    ledger_payments,
)
from activities.payments import Ledger
from runtime.logs import get_logger
from workflows.reconciliation import (
    MAX_SINCE_DAYS,
    RECONCILE_PAYOUTS,
    ReconciliationEntry,
    ReconciliationReport,
)

BAD_WINDOW = "BadReconciliationWindow"

log = get_logger(__name__)


def _shown(payment: GatewayPayment | None) -> str | None:
    return None if payment is None else f"{payment.amount:.2f} {payment.currency}"


def _entry(
    key: str, ours: GatewayPayment | None, theirs: GatewayPayment | None
) -> ReconciliationEntry:
    either = ours or theirs
    assert either is not None
    return ReconciliationEntry(
        claim_id=either.claim_id,
        idempotency_key=key,
        ours=_shown(ours),
        theirs=_shown(theirs),
    )


def _same(ours: GatewayPayment, theirs: GatewayPayment) -> bool:
    return ours.amount == theirs.amount and ours.currency.upper() == theirs.currency.upper()


class ReconciliationActivities:
    """Compares the ledger with the gateway; holds no state of its own."""

    def __init__(self, ledger: Ledger, gateway: PaymentGateway) -> None:
        self._ledger = ledger
        self._gateway = gateway

    @activity.defn(name=RECONCILE_PAYOUTS)
    async def reconcile_payouts(self, since_days: int) -> ReconciliationReport:
        """Payouts of the last `since_days` days on both sides, and where they differ."""
        if isinstance(since_days, bool) or not isinstance(since_days, int):
            raise ApplicationError(
                f"since_days must be a whole number of days, not {type(since_days).__name__}",
                type=BAD_WINDOW,
                non_retryable=True,
            )
        if not 1 <= since_days <= MAX_SINCE_DAYS:
            raise ApplicationError(
                f"since_days={since_days} is out of range; use 1 to {MAX_SINCE_DAYS}",
                type=BAD_WINDOW,
                non_retryable=True,
            )
        until = datetime.now(UTC)
        since = until - timedelta(days=since_days)
        ours = {
            p.idempotency_key: p
            for p in await asyncio.to_thread(ledger_payments, self._ledger, since)
        }
        theirs = {p.idempotency_key: p for p in await self._gateway.payments(since)}
        report = ReconciliationReport(gateway=self._gateway.name, since=since, until=until)
        for key in sorted(ours.keys() | theirs.keys()):
            mine, their = ours.get(key), theirs.get(key)
            if their is None:
                their = await self._gateway.status(key)
            if mine is None:
                mine = await asyncio.to_thread(ledger_payment, self._ledger, key)
            if their is None:
                report.missing_at_gateway.append(_entry(key, mine, None))
            elif mine is None:
                report.unknown_at_gateway.append(_entry(key, None, their))
            elif _same(mine, their):
                report.matched += 1
            else:
                report.amount_mismatch.append(_entry(key, mine, their))
            activity.heartbeat()
        log.info(
            "payouts reconciled",
            gateway=report.gateway,
            matched=report.matched,
            missing_at_gateway=len(report.missing_at_gateway),
            unknown_at_gateway=len(report.unknown_at_gateway),
            amount_mismatch=len(report.amount_mismatch),
        )
        return report
