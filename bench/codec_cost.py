"""What payload encryption costs: claims/s with the codec and without, and its time a payload.

The throughput side runs the agent in pairs of rounds on one server, one worker whose
client encrypts (the production converter) and one whose client does not (the plain
pydantic converter), each on its own task queue; the cost is the median over the pairs
of the throughput lost, so a machine that speeds up or slows down during the run does
not skew it. The microbenchmark times the codec alone on a typical claim payload, and
the count of encrypted payloads in a claim's history says how often a claim pays it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter

from runtime.codec import EncryptionCodec, is_encrypted
from tests.helpers import sample_claim

# The payload the microbenchmark times: the claim every benchmark round starts with.
TYPICAL_CLAIM = "CLM-1001"
PAYLOAD_TYPE = Payload.DESCRIPTOR.full_name


@dataclass
class CodecTiming:
    """The codec alone on one payload: sizes in bytes, times in microseconds (medians)."""

    payload_bytes: int
    encrypted_bytes: int
    encode_us: float
    decode_us: float

    @property
    def round_trip_us(self) -> float:
        return self.encode_us + self.decode_us


@dataclass
class CodecCost:
    """Claims/s and CPU per claim with the codec and without it, and where the time goes."""

    encrypted_per_second: list[float]
    plain_per_second: list[float]
    encrypted_cpu_ms: dict[str, float | None]
    plain_cpu_ms: dict[str, float | None]
    timing: CodecTiming
    # Encrypted payloads in one auto-approved claim's history: each is encoded once and
    # decoded at least once by a worker.
    payloads_per_claim: int = 0

    @property
    def cost_percent(self) -> float:
        return throughput_cost_percent(self.encrypted_per_second, self.plain_per_second)

    @property
    def pair_costs_percent(self) -> list[float]:
        """Each pair's cost, so a reader sees how far the rounds' noise spreads it."""
        return pair_costs_percent(self.encrypted_per_second, self.plain_per_second)

    @property
    def codec_ms_per_claim(self) -> float:
        """The codec's own time for one claim, counting one encode and one decode a payload."""
        return self.payloads_per_claim * self.timing.round_trip_us / 1000

    @property
    def share_of_worker_cpu_percent(self) -> float | None:
        """The codec's time per claim against the worker's CPU per encrypted claim."""
        worker = self.encrypted_cpu_ms.get("worker")
        return self.codec_ms_per_claim / worker * 100 if worker else None


def pair_costs_percent(encrypted: list[float], plain: list[float]) -> list[float]:
    """The throughput each pair of rounds lost to encryption, in percent of the plain side's.

    Positive when encrypting is slower; a pair is the two rounds run back to back.
    """
    pairs = zip(encrypted, plain, strict=True)
    return [round((1 - ours / theirs) * 100, 1) for ours, theirs in pairs]


def throughput_cost_percent(encrypted: list[float], plain: list[float]) -> float:
    """The median of the pairs' costs: a machine that speeds up or slows down does not skew it."""
    pairs = zip(encrypted, plain, strict=True)
    return statistics.median((1 - ours / theirs) * 100 for ours, theirs in pairs)


def typical_payload(converter: DataConverter) -> Payload:
    """A benchmark claim as the payload converter writes it, before any codec."""
    [payload] = converter.payload_converter.to_payloads([sample_claim(TYPICAL_CLAIM)])
    return payload


def time_codec(
    codec: EncryptionCodec, payload: Payload, repeats: int = 2000, batches: int = 5
) -> CodecTiming:
    """Median per-payload encode and decode times over `batches` batches of `repeats` each."""
    [encrypted] = codec.encode_sync([payload])
    encode_us: list[float] = []
    decode_us: list[float] = []
    for _ in range(batches):
        started = time.perf_counter()
        for _ in range(repeats):
            codec.encode_sync([payload])
        encode_us.append((time.perf_counter() - started) * 1e6 / repeats)
        started = time.perf_counter()
        for _ in range(repeats):
            codec.decode_sync([encrypted])
        decode_us.append((time.perf_counter() - started) * 1e6 / repeats)
    return CodecTiming(
        payload_bytes=payload.ByteSize(),
        encrypted_bytes=encrypted.ByteSize(),
        encode_us=round(statistics.median(encode_us), 1),
        decode_us=round(statistics.median(decode_us), 1),
    )


def count_encrypted_payloads(message: Message) -> int:
    """Encrypted payloads anywhere inside a protobuf message (a history event, say)."""
    if message.DESCRIPTOR.full_name == PAYLOAD_TYPE:
        return 1 if isinstance(message, Payload) and is_encrypted(message) else 0
    count = 0
    for descriptor, value in message.ListFields():
        kind = descriptor.message_type
        if kind is None:  # a scalar field
            continue
        if kind.GetOptions().map_entry:
            values = list(value.values())
        elif descriptor.is_repeated:
            values = list(value)
        else:
            values = [value]
        count += sum(count_encrypted_payloads(v) for v in values if isinstance(v, Message))
    return count
