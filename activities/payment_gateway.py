"""Where payouts go: the local SQLite ledger (the default) or an insurer's payments API.

The HTTP gateway pays exactly once per idempotency key however often Temporal retries:
every attempt sends the order's key as `Idempotency-Key`, so a retry after a timeout
(the gateway may have committed) is answered with the original payment. Failures that
may pass (5xx, 429, connection errors, timeouts) raise a retryable error; a refusal
(any other 4xx) raises a non-retryable `PaymentRefused` carrying the gateway's reason,
which the review hands to a person.

The ledger stays the claims' own record of what they paid: with the HTTP gateway the
payout is recorded there after the gateway confirms it (`RecordedGateway`), which is what
the nightly reconciliation compares against the gateway.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from temporalio.exceptions import ApplicationError

from activities.payments import Ledger, receipt_of
from runtime.logs import get_logger
from runtime.settings import Settings, SettingsError
from runtime.text import printable
from workflows.actions import PayoutOrder, PayoutReceipt

GATEWAY_SETTING = "CLAIMS_PAYMENT_GATEWAY"
URL_SETTING = "CLAIMS_PAYMENTS_URL"
API_KEY_SETTING = "CLAIMS_PAYMENTS_API_KEY"
GATEWAY_KINDS = ("ledger", "http")

PAYMENT_REFUSED = "PaymentRefused"
GATEWAY_UNAVAILABLE = "PaymentGatewayUnavailable"
# The gateway's reason goes into an error, the audit log and a person's inbox: bounded.
MAX_REASON = 300
# A gateway answer is small; anything bigger is not read past this.
MAX_ANSWER_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 10.0
# The timeout bounds each read; a gateway dripping a byte at a time would never trip it.
# The whole exchange is bounded too, by this many timeouts.
EXCHANGE_TIMEOUTS = 3
# No payout has 16 digits before the point: an amount with more is a gateway's error, and
# formatting one ("1e999999999") would take the memory of a billion digits.
MAX_DIGITS = 15
# Statuses that may pass: the same order is sent again under the same key.
_RETRYABLE_4XX = {408, 425, 429}

log = get_logger(__name__)


@dataclass(frozen=True)
class GatewayPayment:
    """One payment as a gateway holds it: no payee, no names, only what reconciles."""

    payment_id: str
    idempotency_key: str
    claim_id: str
    amount: Decimal
    currency: str
    paid_at: datetime


class PaymentGateway(Protocol):
    """Pays an order once per idempotency key and answers what it has paid."""

    @property
    def name(self) -> str:
        """A short name for logs: "ledger" or "http"."""

    async def pay(self, order: PayoutOrder) -> PayoutReceipt:
        """Pay, or return the payment already made under the order's key."""

    async def status(self, idempotency_key: str) -> GatewayPayment | None:
        """The payment made under `idempotency_key`, or None if there is none."""

    async def payments(self, since: datetime) -> list[GatewayPayment]:
        """Every payment made at or after `since`, oldest first."""


def _reason(text: str) -> str:
    """A gateway's words, safe to print and bounded."""
    text = printable(" ".join(text.split()))
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def refused(claim_id: str, status: int, reason: str) -> ApplicationError:
    """The non-retryable refusal the review hands to a person."""
    return ApplicationError(
        f"the payment gateway refused the payout for claim {claim_id} (HTTP {status}): "
        f"{_reason(reason) or 'no reason given'}",
        _reason(reason) or "no reason given",
        type=PAYMENT_REFUSED,
        non_retryable=True,
    )


def unavailable(claim_id: str, what: str) -> ApplicationError:
    """A retryable failure: Temporal sends the same order again under the same key."""
    return ApplicationError(
        f"the payment gateway did not confirm the payout for claim {claim_id}: {what}; "
        "it is retried under the same idempotency key, so it is paid at most once",
        type=GATEWAY_UNAVAILABLE,
        non_retryable=False,
    )


# -- the ledger ---------------------------------------------------------------------------

_SELECT = "SELECT payout_id, idempotency_key, claim_id, amount, currency, paid_at FROM payouts"


def _payment(row: tuple[str, ...]) -> GatewayPayment:
    payout_id, key, claim_id, amount, currency, paid_at = row
    return GatewayPayment(
        payment_id=payout_id,
        idempotency_key=key,
        claim_id=claim_id,
        amount=Decimal(amount),
        currency=currency,
        paid_at=datetime.fromisoformat(paid_at),
    )


def ledger_payments(ledger: Ledger, since: datetime) -> list[GatewayPayment]:
    """The ledger's payouts at or after `since`, oldest first (read only)."""
    with closing(sqlite3.connect(f"file:{ledger.path}?mode=ro", uri=True, timeout=30)) as db:
        rows = db.execute(_SELECT + " ORDER BY paid_at").fetchall()
    payments = [_payment(row) for row in rows]
    return [p for p in payments if p.paid_at >= since]


def ledger_payment(ledger: Ledger, idempotency_key: str) -> GatewayPayment | None:
    """The ledger's payout under `idempotency_key`, if any (read only)."""
    with closing(sqlite3.connect(f"file:{ledger.path}?mode=ro", uri=True, timeout=30)) as db:
        row = db.execute(_SELECT + " WHERE idempotency_key = ?", (idempotency_key,)).fetchone()
    return None if row is None else _payment(row)


class LedgerGateway:
    """The SQLite ledger as the payment system: pays once per claim id, locally."""

    name = "ledger"

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    async def pay(self, order: PayoutOrder) -> PayoutReceipt:
        return await asyncio.to_thread(self.ledger.pay, order)

    async def status(self, idempotency_key: str) -> GatewayPayment | None:
        return await asyncio.to_thread(ledger_payment, self.ledger, idempotency_key)

    async def payments(self, since: datetime) -> list[GatewayPayment]:
        return await asyncio.to_thread(ledger_payments, self.ledger, since)


# -- the payments API ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """A gateway's answer, its body read no further than MAX_ANSWER_BYTES."""

    status_code: int
    reason_phrase: str
    content: bytes


def _body(response: _Answer) -> dict[str, Any]:
    """The answer as a JSON object; anything else (HTML, a list, too big, too deep) as empty."""
    if len(response.content) > MAX_ANSWER_BYTES:
        return {}
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def _other_payment(order: PayoutOrder, held: Mapping[str, Any]) -> str | None:
    """What the payment a gateway holds under the order's key says that the order does not.

    A key answered "already processed" for another claim or amount (two claims' keys that
    a gateway folds together, or a key reused) is not this order's payment.
    """
    key = _text(held, "idempotency_key")
    if key and key != order.idempotency_key:
        return "another idempotency key"
    claim_id = _text(held, "claim_id")
    if claim_id and claim_id != order.claim_id:
        return f"claim {printable(claim_id)[:64]}"
    if held.get("amount") is not None:
        try:
            amount = Decimal(str(held.get("amount")))
        except InvalidOperation:
            amount = Decimal("NaN")
        if not amount.is_finite() or amount != order.amount:
            return f"an amount of {printable(str(held.get('amount')))[:40]}"
    currency = _text(held, "currency")
    if currency and currency.upper() != order.currency.upper():
        return f"currency {printable(currency)[:10]}"
    return None


def _text(body: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _says_already_processed(body: Mapping[str, Any]) -> bool:
    words = " ".join(_text(body, name).lower() for name in ("status", "code", "detail", "error"))
    return "already" in words and ("processed" in words or "paid" in words)


def _when(value: object) -> datetime:
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return datetime.now(UTC)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _gateway_payment(item: object) -> GatewayPayment | None:
    """One payment from a listing; None for an entry that is not one."""
    if not isinstance(item, dict):
        return None
    payment_id = _text(item, "id", "payment_id")
    key = _text(item, "idempotency_key")
    try:
        amount = Decimal(str(item.get("amount")))
    except InvalidOperation:
        return None
    if not payment_id or not key or not amount.is_finite() or amount.adjusted() >= MAX_DIGITS:
        return None
    return GatewayPayment(
        payment_id=printable(payment_id)[:100],
        idempotency_key=printable(key)[:200],
        claim_id=printable(_text(item, "claim_id"))[:100],
        amount=amount,
        currency=printable(_text(item, "currency"))[:10],
        paid_at=_when(item.get("created_at") or item.get("paid_at")),
    )


class HttpPaymentGateway:
    """An insurer's payments API: POST /payments with an `Idempotency-Key` header.

    The API key is sent as a bearer token and appears in no log line, error or repr.
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout
        self._transport = transport

    def __repr__(self) -> str:
        return f"HttpPaymentGateway({without_credentials(self.base_url)!r})"

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
            timeout=self._timeout,
            transport=self._transport,
            follow_redirects=False,
        )

    async def _exchange(self, method: str, path: str, what: str, **sent: Any) -> _Answer:
        """One request, its answer read up to MAX_ANSWER_BYTES + 1 and within the deadline."""
        try:
            async with asyncio.timeout(self._timeout * EXCHANGE_TIMEOUTS):
                async with self._client() as client, client.stream(method, path, **sent) as got:
                    content = bytearray()
                    async for chunk in got.aiter_bytes():
                        content += chunk
                        if len(content) > MAX_ANSWER_BYTES:
                            break
                    return _Answer(got.status_code, got.reason_phrase, bytes(content))
        except (TimeoutError, httpx.TimeoutException):
            raise unavailable(what, "the request timed out") from None
        except httpx.HTTPError as failed:
            raise unavailable(what, f"{type(failed).__name__}") from None

    async def pay(self, order: PayoutOrder) -> PayoutReceipt:
        payload = {
            "claim_id": order.claim_id,
            "payee_id": order.payee_id,
            "amount": f"{order.amount:.2f}",
            "currency": order.currency,
            "reference": order.idempotency_key,
        }
        response = await self._exchange(
            "POST",
            "/payments",
            order.claim_id,
            json=payload,
            headers={"Idempotency-Key": order.idempotency_key},
        )
        body = _body(response)
        log.info(
            "payment gateway answered",
            claim_id=order.claim_id,
            http_status=response.status_code,
            gateway=self.name,
        )
        status = response.status_code
        if status in (200, 201) and not _says_already_processed(body):
            return self._receipt(order, body, status, already_paid=False)
        if status in (200, 201, 409) or (400 <= status < 500 and _says_already_processed(body)):
            return await self._original(order, body, status)
        if status >= 500 or status in _RETRYABLE_4XX:
            raise unavailable(order.claim_id, f"HTTP {status}")
        if status in (401, 403):
            raise refused(
                order.claim_id,
                status,
                f"the gateway did not accept the API key; check {API_KEY_SETTING}",
            )
        if 400 <= status < 500:
            reason = _text(body, "reason", "detail", "message", "error")
            raise refused(order.claim_id, status, reason or response.reason_phrase)
        raise unavailable(order.claim_id, f"unexpected HTTP {status}")

    def _receipt(
        self, order: PayoutOrder, body: Mapping[str, Any], status: int, *, already_paid: bool
    ) -> PayoutReceipt:
        payment = _gateway_payment({"idempotency_key": order.idempotency_key, **body})
        if payment is None:
            payment_id = _text(body, "id", "payment_id")
            if not payment_id:
                # It may have committed: the retry asks again under the same key.
                raise unavailable(order.claim_id, f"HTTP {status} without a payment id")
            paid_at = _when(body.get("created_at"))
        else:
            payment_id, paid_at = payment.payment_id, payment.paid_at
        return _order_receipt(order, printable(payment_id)[:100], paid_at, already_paid)

    async def _original(
        self, order: PayoutOrder, body: Mapping[str, Any], status: int
    ) -> PayoutReceipt:
        """The payment already made under the key: from the answer, or asked for.

        Refused (to a person) when that payment is not this order's: the claim is unpaid.
        """
        if _text(body, "id", "payment_id"):
            self._refuse_other(order, status, body)
            return self._receipt(order, body, status, already_paid=True)
        original = await self.status(order.idempotency_key)
        if original is None:
            raise unavailable(
                order.claim_id, f"HTTP {status} says already processed, but no payment is found"
            )
        self._refuse_other(
            order,
            status,
            {
                "idempotency_key": original.idempotency_key,
                "claim_id": original.claim_id,
                "amount": str(original.amount),
                "currency": original.currency,
            },
        )
        return _order_receipt(order, original.payment_id, original.paid_at, already_paid=True)

    @staticmethod
    def _refuse_other(order: PayoutOrder, status: int, held: Mapping[str, Any]) -> None:
        other = _other_payment(order, held)
        if other is not None:
            raise refused(
                order.claim_id,
                status,
                f"the gateway answers that the idempotency key {order.idempotency_key} was "
                f"already used for {other}, not this payout; nothing was paid for this claim",
            )

    async def _list(self, params: Mapping[str, str], what: str) -> list[GatewayPayment]:
        response = await self._exchange("GET", "/payments", what, params=dict(params))
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise unavailable(what, f"HTTP {response.status_code} listing payments")
        items = _body(response).get("payments")
        if not isinstance(items, list):
            raise unavailable(what, "the payments listing has no `payments` list")
        return [p for p in map(_gateway_payment, items) if p is not None]

    async def status(self, idempotency_key: str) -> GatewayPayment | None:
        found = await self._list({"idempotency_key": idempotency_key}, "lookup")
        return next((p for p in found if p.idempotency_key == idempotency_key), None)

    async def payments(self, since: datetime) -> list[GatewayPayment]:
        found = await self._list({"since": since.isoformat()}, "reconciliation")
        return sorted((p for p in found if p.paid_at >= since), key=lambda p: p.paid_at)


def without_credentials(url: str) -> str:
    """The URL as it may be shown: a user and password in it replaced by `***`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unreadable URL)"
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()


# -- choosing one -------------------------------------------------------------------------


class RecordedGateway:
    """An outside gateway whose payouts are also written to the ledger, the claims' record.

    The ledger's one-payout-per-claim rule is asked first: a claim it already holds under
    another key is not sent to the gateway again. The record is written after the gateway
    confirms, so a crash in between is retried: the gateway answers with the original
    payment and the record is written then.
    """

    def __init__(self, gateway: PaymentGateway, ledger: Ledger) -> None:
        self.gateway = gateway
        self.ledger = ledger

    @property
    def name(self) -> str:
        return self.gateway.name

    def __repr__(self) -> str:
        return f"RecordedGateway({self.gateway!r})"

    async def pay(self, order: PayoutOrder) -> PayoutReceipt:
        recorded = await asyncio.to_thread(self.ledger.payout_of, order.claim_id)
        if recorded is not None and recorded.idempotency_key != order.idempotency_key:
            return receipt_of(recorded, already_paid=True)
        receipt = await self.gateway.pay(order)
        await asyncio.to_thread(self.ledger.pay, order)
        return receipt

    async def status(self, idempotency_key: str) -> GatewayPayment | None:
        return await self.gateway.status(idempotency_key)

    async def payments(self, since: datetime) -> list[GatewayPayment]:
        return await self.gateway.payments(since)


def gateway_from_env(
    settings: Settings, env: Mapping[str, str] | None = None, *, ledger: Ledger | None = None
) -> PaymentGateway:
    """The gateway `CLAIMS_PAYMENT_GATEWAY` names (ledger if unset), checked at start."""
    env = os.environ if env is None else env
    kind = env.get(GATEWAY_SETTING, "ledger").strip().lower() or "ledger"
    if kind not in GATEWAY_KINDS:
        raise SettingsError(
            f"{GATEWAY_SETTING}={printable(kind)[:40]!r} is not a payment gateway; "
            f"use one of: {', '.join(GATEWAY_KINDS)}"
        )
    if kind == "ledger":
        return LedgerGateway(ledger or Ledger(settings.ledger_db))
    url = env.get(URL_SETTING, "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = "unset" if not url else f"{printable(without_credentials(url))[:80]!r}"
        raise SettingsError(
            f"{GATEWAY_SETTING}=http needs {URL_SETTING}, the payments API's base URL "
            f"(http:// or https://, e.g. https://payments.example.com/v1); it is {shown}"
        )
    api_key = env.get(API_KEY_SETTING, "").strip()
    if not api_key:
        raise SettingsError(
            f"{GATEWAY_SETTING}=http needs {API_KEY_SETTING}, the API key the payments "
            "API issued; it is unset"
        )
    return RecordedGateway(HttpPaymentGateway(url, api_key), ledger or Ledger(settings.ledger_db))


def _order_receipt(
    order: PayoutOrder, payment_id: str, paid_at: datetime, already_paid: bool
) -> PayoutReceipt:
    """The receipt for `order`, paid as the gateway's payment `payment_id`."""
    return PayoutReceipt(
        payout_id=payment_id,
        idempotency_key=order.idempotency_key,
        amount=order.amount,
        currency=order.currency,
        paid_at=paid_at,
        already_paid=already_paid,
    )
