"""The shared payload converter: one instance, the same bytes as the SDK's pydantic one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from temporalio.contrib.pydantic import PydanticPayloadConverter

from runtime.codec import encrypted_data_converter
from runtime.keyring import KeyRing, StaticKeyRing
from runtime.payload_converter import SharedPydanticPayloadConverter
from tests.helpers import sample_claim
from workflows.claim import Claim


def test_every_instantiation_returns_the_one_converter() -> None:
    """Four threads making fifty each get one object: the SDK makes them from any thread."""
    made: list[SharedPydanticPayloadConverter] = []

    def make() -> None:
        made.extend(SharedPydanticPayloadConverter() for _ in range(50))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert 200 == len(made)
    assert 1 == len({id(converter) for converter in made})


def test_it_writes_and_reads_what_the_sdks_pydantic_converter_does() -> None:
    """Same bytes as the SDK's converter, so histories written by either replay on both."""
    values: list[Any] = [
        sample_claim("CLM-1002"),
        {"amount": Decimal("12.50"), "at": datetime(2026, 12, 1, tzinfo=UTC)},
        None,
        b"raw bytes",
        [1, "two", 3.0],
    ]
    ours = SharedPydanticPayloadConverter().to_payloads(values)
    theirs = PydanticPayloadConverter().to_payloads(values)

    assert ours == theirs
    [claim] = SharedPydanticPayloadConverter().from_payloads(ours[:1], [Claim])
    assert sample_claim("CLM-1002") == claim
    assert [None, b"raw bytes", [1, "two", 3.0]] == SharedPydanticPayloadConverter().from_payloads(
        ours[2:], None
    )


def test_the_production_converter_uses_it() -> None:
    """The worker, the CLI, the console and the replayer all build this converter."""
    converter = encrypted_data_converter(StaticKeyRing(KeyRing.fresh(), "a test ring"))

    assert converter.payload_converter_class is SharedPydanticPayloadConverter
