"""The HTTP payment gateway against a local fake payments API: exactly one payment each time.

The fake keeps payments by idempotency key, as a real payments API does, and can be told
to fail, to commit and then hang past the client's timeout, or to refuse the next order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payment_gateway import (
    GATEWAY_UNAVAILABLE,
    PAYMENT_REFUSED,
    HttpPaymentGateway,
    LedgerGateway,
    RecordedGateway,
    gateway_from_env,
)
from activities.payments import Ledger
from runtime.ports import free_port
from runtime.settings import Settings, SettingsError
from tests.helpers import TEST_SERVER
from workflows.actions import PayoutOrder, PayoutReceipt
from workflows.payment_refusal import PATCH_PAYMENT_REFUSED_TO_PERSON, gateway_refusal

with workflow.unsafe.imports_passed_through():
    from tests.keys import encrypted_test_converter

API_KEY = "pk_test_" + "s3cr3t" * 4


class FakePayments:
    """What the fake API holds and will do next; shared with its handler threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.payments: dict[str, dict[str, Any]] = {}
        self.plan: list[str] = []
        self.posts = 0
        self.release = threading.Event()
        self.committed = threading.Event()

    def next_move(self) -> str:
        with self.lock:
            self.posts += 1
            return self.plan.pop(0) if self.plan else "normal"


def _handler(fake: FakePayments) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the test reads the fake's state, not its access log."""

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client gave up (the timeout case)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {API_KEY}":
                return True
            self._answer(401, {"detail": "invalid api key"})
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            query = parse_qs(urlsplit(self.path).query)
            with fake.lock:
                found = list(fake.payments.values())
            if "idempotency_key" in query:
                found = [p for p in found if p["idempotency_key"] == query["idempotency_key"][0]]
            self._answer(200, {"payments": found})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            order = json.loads(self.rfile.read(length))
            if not self._authorised():
                return
            move = fake.next_move()
            if move == "fail":
                self._answer(500, {"detail": "internal error"})
                return
            if move == "refuse":
                self._answer(422, {"reason": "payee account closed\x1b[31m" + "x" * 1000})
                return
            key = self.headers["Idempotency-Key"]
            with fake.lock:
                existing = fake.payments.get(key)
                if existing is None:
                    fake.payments[key] = {
                        "id": f"pay_{uuid.uuid4().hex[:10]}",
                        "idempotency_key": key,
                        "claim_id": order["claim_id"],
                        "amount": order["amount"],
                        "currency": order["currency"],
                        "created_at": datetime.now(UTC).isoformat(),
                    }
            if existing is not None:
                # No id in the answer: the client has to ask for the original.
                self._answer(409, {"detail": "already processed"})
                return
            fake.committed.set()
            if move == "garbage":
                garbage = b"<html>ok\x00\x1b["
                self.send_response(201)
                self.send_header("Content-Length", str(len(garbage)))
                self.end_headers()
                self.wfile.write(garbage)
                return
            if move == "hang":
                fake.release.wait(timeout=30)
                return
            self._answer(201, fake.payments[key])

    return Handler


@pytest.fixture
def fake() -> Iterator[tuple[FakePayments, str]]:
    """The fake payments API on a free port, stopped after the test."""
    state = FakePayments()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def order(claim_id: str = "CLM-1", amount: str = "120.50") -> PayoutOrder:
    return PayoutOrder(
        idempotency_key=f"claim/{claim_id}/payout",
        claim_id=claim_id,
        payee_id="P-1",
        amount=Decimal(amount),
        currency="USD",
        approved_by=["maria"],
    )


async def pay_with_retries(gateway: HttpPaymentGateway, payout: PayoutOrder) -> Any:
    """What Temporal does: the same order again after each retryable failure."""
    for _ in range(5):
        try:
            return await gateway.pay(payout)
        except ApplicationError as failed:
            if failed.non_retryable:
                raise
    raise AssertionError("never paid")


async def test_a_failure_then_a_success_pays_once(fake: tuple[FakePayments, str]) -> None:
    """A 500 is retried under the same key; the fake holds one payment, the receipt its id."""
    state, url = fake
    state.plan = ["fail"]
    gateway = HttpPaymentGateway(url, API_KEY)
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert (failed.value.type, failed.value.non_retryable) == (GATEWAY_UNAVAILABLE, False)
    receipt = await gateway.pay(order())
    assert [receipt.payout_id] == [p["id"] for p in state.payments.values()]
    assert not receipt.already_paid


async def test_a_commit_then_a_timeout_pays_once_with_the_original_id(
    fake: tuple[FakePayments, str],
) -> None:
    """The gateway commits and hangs; the client times out; the retry gets the original."""
    state, url = fake
    state.plan = ["hang"]
    gateway = HttpPaymentGateway(url, API_KEY, timeout=0.5)
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert not failed.value.non_retryable
    assert state.committed.is_set()
    receipt = await gateway.pay(order())
    state.release.set()
    assert 1 == len(state.payments)
    assert receipt.payout_id == state.payments["claim/CLM-1/payout"]["id"]
    assert receipt.already_paid


async def test_duplicates_are_answered_with_the_first_payment(
    fake: tuple[FakePayments, str],
) -> None:
    """Three orders under one key: one payment, three receipts with the same id."""
    state, url = fake
    gateway = HttpPaymentGateway(url, API_KEY)
    receipts = [await gateway.pay(order()) for _ in range(3)]
    assert 1 == len(state.payments)
    assert 1 == len({r.payout_id for r in receipts})
    assert [False, True, True] == [r.already_paid for r in receipts]


async def test_an_unreadable_success_is_retried_into_the_original(
    fake: tuple[FakePayments, str],
) -> None:
    """A 201 that is not JSON: retryable; the retry finds the payment the fake committed."""
    state, url = fake
    state.plan = ["garbage"]
    receipt = await pay_with_retries(HttpPaymentGateway(url, API_KEY), order())
    assert [receipt.payout_id] == [p["id"] for p in state.payments.values()]
    assert 2 == state.posts


async def test_a_refusal_is_not_retried_and_says_why(fake: tuple[FakePayments, str]) -> None:
    """A 422 is a non-retryable PaymentRefused with the reason, printable and bounded."""
    state, url = fake
    state.plan = ["refuse"]
    with pytest.raises(ApplicationError) as failed:
        await pay_with_retries(HttpPaymentGateway(url, API_KEY), order())
    error = failed.value
    assert (error.type, error.non_retryable) == (PAYMENT_REFUSED, True)
    assert "payee account closed" in error.message
    assert "\x1b" not in error.message
    assert len(error.message) < 500
    assert 1 == state.posts
    assert {} == state.payments


async def test_a_bad_api_key_is_refused_and_never_shown(
    fake: tuple[FakePayments, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong key is a refusal naming the setting; neither key appears anywhere."""
    state, url = fake
    wrong = "pk_live_" + "wr0ng" * 5
    caplog.set_level(logging.DEBUG)
    gateway = HttpPaymentGateway(url, wrong)
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert failed.value.type == PAYMENT_REFUSED
    assert "CLAIMS_PAYMENTS_API_KEY" in failed.value.message
    for text in (str(failed.value), repr(gateway), caplog.text):
        assert wrong not in text
        assert API_KEY not in text
    assert {} == state.payments


async def test_a_gateway_that_is_down_is_retryable() -> None:
    """Nothing listening: a retryable error, never a refusal."""
    gateway = HttpPaymentGateway(f"http://127.0.0.1:{free_port()}", API_KEY)
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert (failed.value.type, failed.value.non_retryable) == (GATEWAY_UNAVAILABLE, False)


async def test_the_claims_record_is_written_once(
    fake: tuple[FakePayments, str], tmp_path: Path
) -> None:
    """Through the HTTP gateway, the ledger records the payout once; a repeat pays nothing."""
    state, url = fake
    ledger = Ledger(tmp_path / "ledger.db")
    gateway = RecordedGateway(HttpPaymentGateway(url, API_KEY), ledger)
    first = await gateway.pay(order())
    again = await gateway.pay(order())
    other_key = order().model_copy(update={"idempotency_key": "wf-1/payout"})
    third = await gateway.pay(other_key)
    assert first.payout_id == again.payout_id
    assert third.already_paid
    assert 1 == len(state.payments)
    assert 1 == len(ledger.payouts_for("CLM-1"))


async def test_listing_and_status(fake: tuple[FakePayments, str]) -> None:
    """`payments(since)` and `status(key)` read back what was paid; an unknown key is None."""
    _, url = fake
    gateway = HttpPaymentGateway(url, API_KEY)
    await gateway.pay(order("CLM-1"))
    await gateway.pay(order("CLM-2", "5.00"))
    since = datetime.now(UTC) - timedelta(days=1)
    listed = await gateway.payments(since)
    assert ["CLM-1", "CLM-2"] == sorted(p.claim_id for p in listed)
    found = await gateway.status("claim/CLM-2/payout")
    assert found is not None
    assert found.amount == Decimal("5.00")
    assert await gateway.status("claim/nope/payout") is None


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"CLAIMS_PAYMENT_GATEWAY": "stripe"}, "CLAIMS_PAYMENT_GATEWAY"),
        ({"CLAIMS_PAYMENT_GATEWAY": "http"}, "CLAIMS_PAYMENTS_URL"),
        (
            {"CLAIMS_PAYMENT_GATEWAY": "http", "CLAIMS_PAYMENTS_URL": "ftp://x"},
            "CLAIMS_PAYMENTS_URL",
        ),
        (
            {"CLAIMS_PAYMENT_GATEWAY": "http", "CLAIMS_PAYMENTS_URL": "https://pay.example"},
            "CLAIMS_PAYMENTS_API_KEY",
        ),
        ({"CLAIMS_PAYMENT_GATEWAY": "\x1b[2J" + "x" * 500}, "CLAIMS_PAYMENT_GATEWAY"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], names: str, tmp_path: Path) -> None:
    """Each wrong setting is refused at start, naming the variable, printably."""
    settings = Settings.from_env({"CLAIMS_DATA_DIR": str(tmp_path)})
    with pytest.raises(SettingsError) as refused:
        gateway_from_env(settings, env)
    assert names in str(refused.value)
    assert "\x1b" not in str(refused.value)
    assert len(str(refused.value)) < 400


def test_the_ledger_is_the_default_and_http_takes_the_key(tmp_path: Path) -> None:
    """Unset means the ledger; `http` with URL and key builds a gateway that hides the key."""
    settings = Settings.from_env({"CLAIMS_DATA_DIR": str(tmp_path)})
    assert isinstance(gateway_from_env(settings, {}), LedgerGateway)
    gateway = gateway_from_env(
        settings,
        {
            "CLAIMS_PAYMENT_GATEWAY": " HTTP ",
            "CLAIMS_PAYMENTS_URL": "https://pay.example/v1/",
            "CLAIMS_PAYMENTS_API_KEY": API_KEY,
        },
    )
    assert isinstance(gateway, RecordedGateway)
    assert isinstance(gateway.gateway, HttpPaymentGateway)
    assert "https://pay.example/v1" in repr(gateway)
    assert API_KEY not in repr(gateway)


# -- through Temporal: a real activity retry, and a refusal as the workflow sees it ------

PAYMENTS_URL: dict[str, str] = {}


@activity.defn(name="pay_through_gateway")
async def pay_through_gateway(payout: PayoutOrder) -> PayoutReceipt:
    """What `issue_payout` does with the HTTP gateway, against the fake on this test's port."""
    gateway = HttpPaymentGateway(PAYMENTS_URL["url"], API_KEY, timeout=0.5)
    return await RecordedGateway(gateway, Ledger(Path(PAYMENTS_URL["ledger"]))).pay(payout)


@workflow.defn(name="PayOnce", sandboxed=False)
class PayOnce:
    """Pays one order the way a review does; a refusal comes back as its reason."""

    @workflow.run
    async def run(self, payout: PayoutOrder) -> str:
        """The payment id, or `refused: <reason>` for a refusal the workflow caught."""
        try:
            receipt = await workflow.execute_activity(
                pay_through_gateway,
                payout,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=50)),
            )
        except ActivityError as failed:
            reason = gateway_refusal(failed)
            if reason is None or not workflow.patched(PATCH_PAYMENT_REFUSED_TO_PERSON):
                raise
            return f"refused: {reason}"
        return receipt.payout_id


@pytest.fixture
async def temporal(
    fake: tuple[FakePayments, str], tmp_path: Path
) -> AsyncIterator[tuple[Client, FakePayments]]:
    """A time-skipping server and a worker for PayOnce, paying into the fake."""
    state, url = fake
    PAYMENTS_URL.update(url=url, ledger=str(tmp_path / "ledger.db"))
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER),
        data_converter=encrypted_test_converter(),
    )
    try:
        async with Worker(
            env.client,
            task_queue="payments",
            workflows=[PayOnce],
            activities=[pay_through_gateway],
        ):
            yield env.client, state
    finally:
        await env.shutdown()


async def test_temporal_retries_a_commit_then_timeout_into_one_payment(
    temporal: tuple[Client, FakePayments], tmp_path: Path
) -> None:
    """Failure, then commit-and-hang, then success: Temporal's retries make one payment."""
    client, state = temporal
    state.plan = ["fail", "hang"]
    paid = await client.execute_workflow(
        PayOnce.run, order(), id=f"pay-{uuid.uuid4().hex}", task_queue="payments"
    )
    state.release.set()
    assert [paid] == [p["id"] for p in state.payments.values()]
    assert 1 == len(Ledger(tmp_path / "ledger.db").payouts_for("CLM-1"))


async def test_temporal_does_not_retry_a_refusal_and_the_workflow_reads_why(
    temporal: tuple[Client, FakePayments],
) -> None:
    """A 422 reaches the workflow after one attempt, with the gateway's printable reason."""
    client, state = temporal
    state.plan = ["refuse"]
    answer = await client.execute_workflow(
        PayOnce.run, order(), id=f"pay-{uuid.uuid4().hex}", task_queue="payments"
    )
    assert answer.startswith("refused: the payment gateway refused the payout for claim CLM-1")
    assert "payee account closed" in answer
    assert 1 == state.posts


def _answering(status: int, body: Any, listed: list[dict[str, Any]] | None = None) -> Any:
    """A transport whose POST answers `status` with `body` and whose listing holds `listed`."""

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"payments": listed or []})
        return (
            httpx.Response(status, content=body)
            if isinstance(body, bytes)
            else (httpx.Response(status, json=body))
        )

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    ("body", "listed"),
    [
        # The answer names the payment: another claim's.
        ({"id": "pay_other", "claim_id": "CLM-2", "amount": "120.50", "currency": "USD"}, None),
        # The answer names the payment: the same claim, another amount.
        ({"id": "pay_other", "claim_id": "CLM-1", "amount": "99.00"}, None),
        # No id: the payment listed under the key is another claim's.
        (
            {"detail": "already processed"},
            [
                {
                    "id": "pay_other",
                    "idempotency_key": "claim/CLM-1/payout",
                    "claim_id": "clm-1",
                    "amount": "120.50",
                    "currency": "USD",
                }
            ],
        ),
    ],
)
async def test_an_already_processed_answer_for_another_payment_is_not_a_payout(
    body: dict[str, Any], listed: list[dict[str, Any]] | None
) -> None:
    """A 409 whose payment is another claim's or amount is refused: this claim is unpaid."""
    gateway = HttpPaymentGateway(
        "http://pay.test", API_KEY, transport=_answering(409, body, listed)
    )
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert (failed.value.type, failed.value.non_retryable) == (PAYMENT_REFUSED, True)
    assert "already used for" in failed.value.message


async def test_an_already_processed_answer_for_this_payment_is_its_receipt() -> None:
    """A 409 naming this order's claim and amount is the original payment, as before."""
    body = {"id": "pay_1", "claim_id": "CLM-1", "amount": "120.5", "currency": "usd"}
    gateway = HttpPaymentGateway("http://pay.test", API_KEY, transport=_answering(409, body))
    receipt = await gateway.pay(order())
    assert (receipt.payout_id, receipt.already_paid) == ("pay_1", True)


async def test_a_huge_or_deep_answer_is_not_read_whole() -> None:
    """An endless body is read no further than the limit; a deeply nested one is no crash."""
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        while True:
            sent += 1
            yield b"x" * 65536

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=endless())

    gateway = HttpPaymentGateway("http://pay.test", API_KEY, transport=httpx.MockTransport(handle))
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert (failed.value.type, failed.value.non_retryable) == (GATEWAY_UNAVAILABLE, False)
    assert sent <= 3
    deep = b"[" * 100_000 + b"]" * 100_000
    gateway = HttpPaymentGateway("http://pay.test", API_KEY, transport=_answering(201, deep))
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert failed.value.type == GATEWAY_UNAVAILABLE


async def test_a_dripping_answer_is_cut_off_and_retryable() -> None:
    """A byte at a time, each within the read timeout: the whole exchange still ends."""

    async def drip() -> AsyncIterator[bytes]:
        while True:
            await asyncio.sleep(0.01)
            yield b" "

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=drip())

    transport = httpx.MockTransport(handle)
    gateway = HttpPaymentGateway("http://pay.test", API_KEY, timeout=0.1, transport=transport)
    with pytest.raises(ApplicationError) as failed:
        await gateway.pay(order())
    assert (failed.value.type, failed.value.non_retryable) == (GATEWAY_UNAVAILABLE, False)
    assert "timed out" in failed.value.message


def test_credentials_in_the_payments_url_are_never_shown(tmp_path: Path) -> None:
    """A URL carrying user:password shows neither in the gateway's repr nor in a refusal."""
    settings = Settings.from_env({"CLAIMS_DATA_DIR": str(tmp_path)})
    secret = "hunter2-" + "p" * 10
    gateway = gateway_from_env(
        settings,
        {
            "CLAIMS_PAYMENT_GATEWAY": "http",
            "CLAIMS_PAYMENTS_URL": f"https://svc:{secret}@pay.example/v1",
            "CLAIMS_PAYMENTS_API_KEY": API_KEY,
        },
    )
    assert secret not in repr(gateway)
    assert "pay.example/v1" in repr(gateway)
    with pytest.raises(SettingsError) as refused:
        gateway_from_env(
            settings,
            {"CLAIMS_PAYMENT_GATEWAY": "http", "CLAIMS_PAYMENTS_URL": f"ftp://svc:{secret}@x"},
        )
    assert secret not in str(refused.value)


async def test_a_listed_payment_of_an_absurd_amount_is_not_taken_as_one() -> None:
    """A listing entry of 1e999999999 (formatting it would take gigabytes) is skipped,
    so reconciliation reports the payout as missing at the gateway for a person to see."""
    listed = [
        {"id": "pay_1", "idempotency_key": "k1", "claim_id": "CLM-1", "amount": "1e999999999"},
        {"id": "pay_2", "idempotency_key": "k2", "claim_id": "CLM-2", "amount": "5.00"},
    ]
    gateway = HttpPaymentGateway("http://pay.test", API_KEY, transport=_answering(200, {}, listed))
    found = await gateway.payments(datetime(2000, 1, 1, tzinfo=UTC))
    assert ["pay_2"] == [p.payment_id for p in found]
