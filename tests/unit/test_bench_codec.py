"""The encryption benchmark's arithmetic: the cost it reports, the payloads it counts, the codec it times."""

from __future__ import annotations

from temporalio.api.common.v1 import Payload, Payloads, SearchAttributes
from temporalio.api.history.v1 import (
    ActivityTaskScheduledEventAttributes,
    HistoryEvent,
    WorkflowExecutionStartedEventAttributes,
)
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.codec_cost import (
    CodecCost,
    CodecTiming,
    count_encrypted_payloads,
    pair_costs_percent,
    throughput_cost_percent,
    time_codec,
    typical_payload,
)
from bench.run import Report, results_json
from runtime.codec import EncryptionCodec
from runtime.keyring import KeyRing, StaticKeyRing


def codec() -> EncryptionCodec:
    return EncryptionCodec(StaticKeyRing(KeyRing.fresh()))


def cost(encrypted: list[float], plain: list[float], worker_ms: float | None = 40.0) -> CodecCost:
    return CodecCost(
        encrypted_per_second=encrypted,
        plain_per_second=plain,
        encrypted_cpu_ms={"server": 50.0, "worker": worker_ms},
        plain_cpu_ms={"server": 50.0, "worker": 39.0},
        timing=CodecTiming(payload_bytes=500, encrypted_bytes=600, encode_us=3.0, decode_us=2.0),
        payloads_per_claim=40,
    )


def test_the_cost_is_the_median_of_each_pair_so_a_slowing_machine_does_not_skew_it() -> None:
    """The machine halves its speed from the second pair on; every pair still loses 5%,
    while the medians of each side compared would say 52.5%."""
    encrypted, plain = [19.0, 9.5, 9.5], [20.0, 10.0, 10.0]

    assert [5.0, 5.0, 5.0] == pair_costs_percent(encrypted, plain)
    assert 5.0 == round(throughput_cost_percent(encrypted, plain), 6)


def test_a_faster_encrypted_round_is_a_negative_cost_not_hidden() -> None:
    """Noise that makes the encrypted side faster shows as a negative cost, as measured."""
    assert -10.0 == round(throughput_cost_percent([22.0], [20.0]), 6)


def test_the_codec_time_per_claim_is_its_round_trip_times_the_payloads_of_a_claim() -> None:
    """40 payloads at 3 + 2 microseconds are 0.2 ms a claim, half a percent of 40 ms of CPU."""
    measured = cost([19.0], [20.0])

    assert 0.2 == round(measured.codec_ms_per_claim, 6)
    assert 0.5 == round(measured.share_of_worker_cpu_percent or 0, 6)


def test_the_share_of_cpu_is_missing_when_the_worker_cpu_was_not_read() -> None:
    """No worker CPU, no share: the summary leaves it out instead of dividing by nothing."""
    assert cost([19.0], [20.0], worker_ms=None).share_of_worker_cpu_percent is None


def test_only_encrypted_payloads_are_counted_at_any_depth() -> None:
    """Input and activity payloads are counted, a search attribute left plain is not."""
    sealed = codec().encode_sync([Payload(data=b'{"a": 1}'), Payload(data=b'{"b": 2}')])
    started = HistoryEvent(
        workflow_execution_started_event_attributes=WorkflowExecutionStartedEventAttributes(
            input=Payloads(payloads=sealed),
            search_attributes=SearchAttributes(
                indexed_fields={"ClaimStatus": Payload(metadata={"encoding": b"json/plain"})}
            ),
        )
    )
    scheduled = HistoryEvent(
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            input=Payloads(payloads=sealed[:1])
        )
    )

    assert 3 == count_encrypted_payloads(started) + count_encrypted_payloads(scheduled)


def test_the_codec_is_timed_on_a_real_claim_payload_both_ways() -> None:
    """The timed payload is the sample claim as JSON, and it grows by the nonce, tag and key id."""
    payload = typical_payload(pydantic_data_converter)

    timing = time_codec(codec(), payload, repeats=20, batches=3)

    assert b"CLM-1001" in payload.data
    assert timing.payload_bytes == payload.ByteSize()
    assert timing.encrypted_bytes > timing.payload_bytes
    assert timing.encode_us > 0
    assert timing.decode_us > 0


def test_latest_json_has_the_codec_cost_only_when_it_was_measured() -> None:
    """A run with the comparison writes its cost and pairs; one without writes codec null."""
    report = Report(
        claims=50,
        rounds=1,
        claims_per_second=[18.0],
        bare_per_second=[20.0],
        claims_cpu_ms={},
        bare_cpu_ms={},
        signal_latency_ms_p50=0,
        signal_latency_ms_p90=0,
        auto_history_events=0,
        auto_history_bytes=0,
        manual_history_events=0,
        manual_history_bytes=0,
    )

    without = results_json(report)
    report.codec = cost([19.0], [20.0])
    with_codec = results_json(report)

    assert without["codec"] is None
    assert 0.9 == with_codec["ratio"]
    codec_part = with_codec["codec"]
    assert isinstance(codec_part, dict)
    assert (5.0, [5.0], 5.0) == (
        codec_part["cost_percent"],
        codec_part["pair_costs_percent"],
        codec_part["round_trip_us"],
    )
