"""Benchmark the agent on a real dev server: `make bench` (options: --help).

Measures, in one run on one server:
- throughput: N auto-approved claims against N bare workflows that run the same number
  of no-op activities, in pairs of rounds (which goes first alternates) so both see the
  same machine; the ratio is the median of the pairs' ratios, which a machine that
  speeds up or slows down during the run does not skew;
- CPU per workflow, of the server and of this process (worker and client), each side;
- signal -> resume -> completion latency for claims waiting on a manager (p50, p90);
- history events and bytes per claim, for an auto-approved and a manually approved one;
- the cost of payload encryption (bench/codec_cost.py): claims/s with the codec against
  without it, in pairs of rounds of their own, and the codec's time per payload.

Every run but the plain side of that comparison encrypts its payloads, as production
does, with a key ring of its own made for the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from bench.bare import BareWorkflow, noop
from bench.codec_cost import (
    TYPICAL_CLAIM,
    CodecCost,
    count_encrypted_payloads,
    time_codec,
    typical_payload,
)
from cli.patches_command import CHANGE_VERSION, PATCH_MARKER
from runtime.client import build_client
from runtime.codec import EncryptionCodec, encrypted_data_converter
from runtime.devserver import DevServer
from runtime.keyring import KeyRing, StaticKeyRing
from runtime.logs import configure_logging
from runtime.settings import EXAMPLES_DIR, Settings
from signals.client import claim_handle
from starter import start_claim
from tests.helpers import eventually, sample_claim, settings_in
from worker import build_activities, create_worker
from workflows.claim import Claim
from workflows.claim_review import ClaimReviewWorkflow
from workflows.search_attributes import CLI_TYPES
from workflows.state import Step

# Activities one auto-approved claim runs: review policy, registration in the claim
# history, two model turns, six tools, payout and notice.
ACTIVITIES_PER_CLAIM = 12
RESULTS = Path(__file__).parent / "results"
# Each benchmark claim comes from its own employee under its own policy: copies of one
# claim would be near duplicates of each other, and duplicates go to a person.
BENCH_CLAIMANTS = 5000
_claimants = itertools.count()
# What encryption may cost at most, in percent of claims/s; the summary states it.
COST_TARGET_PERCENT = 5
RoundRunner = Callable[[], Awaitable[float]]


def bench_records(directory: Path) -> Path:
    """The example records plus one expense policy per benchmark claimant."""
    records = json.loads((EXAMPLES_DIR / "records.json").read_text())
    [template] = [p for p in records["policies"] if p["policy_number"] == "POL-EXP-100"]
    records["policies"].extend(
        template | {"policy_number": f"BENCH-POL-{i}", "holder_id": f"BENCH-EMP-{i}"}
        for i in range(BENCH_CLAIMANTS)
    )
    path = directory / "bench-records.json"
    path.write_text(json.dumps(records))
    return path


def auto_approvable(prefix: str) -> Claim:
    """A clean small expense claim from a claimant no other benchmark claim shares."""
    i = next(_claimants) % BENCH_CLAIMANTS
    claim = sample_claim("CLM-1001", claim_id=f"{prefix}-{uuid.uuid4().hex[:10]}")
    return claim.model_copy(
        update={
            "policy_number": f"BENCH-POL-{i}",
            "claimant": claim.claimant.model_copy(update={"id": f"BENCH-EMP-{i}"}),
        }
    )


@dataclass
class Round:
    per_second: float
    server_cpu_ms: float | None  # per workflow
    worker_cpu_ms: float  # per workflow: this process, the worker and the client


@dataclass
class Report:
    claims: int
    rounds: int
    claims_per_second: list[float]
    bare_per_second: list[float]
    claims_cpu_ms: dict[str, float | None]
    bare_cpu_ms: dict[str, float | None]
    signal_latency_ms_p50: float
    signal_latency_ms_p90: float
    auto_history_events: int
    auto_history_bytes: int
    manual_history_events: int
    manual_history_bytes: int
    codec: CodecCost | None = None  # None when the codec comparison was skipped
    # What one auto-approved claim and one bare workflow cost the server, event by kind.
    auto_shape: dict[str, int] | None = None
    bare_shape: dict[str, int] | None = None

    @property
    def pair_ratios(self) -> list[float]:
        """Claims/s over bare workflows/s in each pair of rounds, in the order they ran."""
        pairs = zip(self.claims_per_second, self.bare_per_second, strict=True)
        return [round(ours / bare, 2) for ours, bare in pairs]

    @property
    def ratio(self) -> float:
        """Median over the pairs of rounds of claims/s over bare workflows/s."""
        pairs = zip(self.claims_per_second, self.bare_per_second, strict=True)
        return statistics.median(ours / bare for ours, bare in pairs)

    @property
    def ratio_spread(self) -> tuple[float, float]:
        """The lowest and highest pair's ratio: how far one pair of rounds can be trusted."""
        return min(self.pair_ratios), max(self.pair_ratios)


def process_cpu_seconds(pid: int | None) -> float | None:
    """User plus system CPU time of a process, from /proc; None where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured(server: DevServer, n: int, workflows: Awaitable[float]) -> Round:
    """Run one round of `n` workflows and measure its throughput and CPU per workflow."""
    server_before, worker_before = process_cpu_seconds(server.pid), time.process_time()
    per_second = await workflows
    server_after, worker_after = process_cpu_seconds(server.pid), time.process_time()
    server_ms = (
        (server_after - server_before) * 1000 / n
        if server_before is not None and server_after is not None
        else None
    )
    return Round(per_second, server_ms, (worker_after - worker_before) * 1000 / n)


def median_cpu(rounds: list[Round]) -> dict[str, float | None]:
    server = [r.server_cpu_ms for r in rounds if r.server_cpu_ms is not None]
    return {
        "server": round(statistics.median(server), 1) if server else None,
        "worker": round(statistics.median(r.worker_cpu_ms for r in rounds), 1),
    }


async def claims_round(client: Client, task_queue: str, n: int) -> float:
    claims = [auto_approvable("B") for _ in range(n)]
    started = time.perf_counter()
    await asyncio.gather(*(start_claim(client, c, task_queue) for c in claims))
    await asyncio.gather(*(claim_handle(client, c.claim_id).result() for c in claims))
    return n / (time.perf_counter() - started)


async def bare_round(client: Client, task_queue: str, n: int) -> float:
    started = time.perf_counter()
    handles = await asyncio.gather(
        *(
            client.start_workflow(
                BareWorkflow.run,
                ACTIVITIES_PER_CLAIM,
                id=f"bare-{uuid.uuid4().hex[:10]}",
                task_queue=task_queue,
            )
            for _ in range(n)
        )
    )
    await asyncio.gather(*(h.result() for h in handles))
    return n / (time.perf_counter() - started)


async def until_waiting(client: Client, claim_id: str) -> None:
    handle = claim_handle(client, claim_id)
    await eventually(
        lambda: handle.query(ClaimReviewWorkflow.state),
        lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL,
    )


async def signal_latencies(client: Client, task_queue: str, n: int) -> list[float]:
    claims = [sample_claim("CLM-1002", claim_id=f"S-{uuid.uuid4().hex[:10]}") for _ in range(n)]
    await asyncio.gather(*(start_claim(client, c, task_queue) for c in claims))
    for claim in claims:
        await until_waiting(client, claim.claim_id)
    latencies = []
    for claim in claims:
        handle = claim_handle(client, claim.claim_id)
        started = time.perf_counter()
        await handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        await handle.result()
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def history_shape(events: Iterable[HistoryEvent]) -> dict[str, int]:
    """The commands and events of one run that the server writes and the worker decides.

    Workflow tasks, activities, search-attribute upserts (the claim's own and the SDK's
    TemporalChangeVersion, one per patch marker), patch markers and all events: where a
    claim costs more than a bare workflow with as many activities, it shows here.
    """
    shape = dict.fromkeys(
        ("events", "workflow_tasks", "activities", "upserts", "change_version_upserts"), 0
    ) | {"patch_markers": 0}
    for event in events:
        shape["events"] += 1
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            shape["workflow_tasks"] += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            shape["activities"] += 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            shape["patch_markers"] += (
                event.marker_recorded_event_attributes.marker_name == PATCH_MARKER
            )
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) == {CHANGE_VERSION}:
                shape["change_version_upserts"] += 1
            else:
                shape["upserts"] += 1
    return shape


async def shape_of(client: Client, workflow_id: str) -> dict[str, int]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return history_shape(history.events)


async def history_size(client: Client, claim_id: str) -> tuple[int, int]:
    """Events and bytes of every run of the claim, as the server counts them: a manually
    approved claim rests at the approval gate in a run of its own."""
    workflow_id = claim_handle(client, claim_id).id
    events = size = 0
    run_id: str | None = None
    while True:
        described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        info = described.raw_description.workflow_execution_info
        events, size = events + info.history_length, size + info.history_size_bytes
        first = client.get_workflow_handle(workflow_id, run_id=info.execution.run_id)
        started = await anext(aiter(first.fetch_history_events(page_size=1)))
        run_id = started.workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return events, size


async def paired_rounds(
    server: DevServer, n: int, rounds: int, first: RoundRunner, second: RoundRunner
) -> tuple[list[Round], list[Round]]:
    """`rounds` pairs of one round of each side; which side goes first alternates."""
    firsts: list[Round] = []
    seconds: list[Round] = []
    sides = [(firsts, first), (seconds, second)]
    for _ in range(rounds):
        for results, run_round in sides:
            results.append(await measured(server, n, run_round()))
        sides.reverse()  # the other side goes first in the next pair
    return firsts, seconds


async def encrypted_payloads(client: Client, claim_id: str) -> int:
    """How many encrypted payloads a finished claim's history holds."""
    history = await claim_handle(client, claim_id).fetch_history()
    return sum(count_encrypted_payloads(event) for event in history.events)


async def codec_pairs(
    server: DevServer,
    workers: contextlib.AsyncExitStack,
    client: Client,
    settings: Settings,
    activities: list[Any],
    claims: int,
    rounds: int,
) -> tuple[list[Round], list[Round]]:
    """Claims with the codec against claims without it, in pairs of rounds on one server.

    The plain side is a second client (the pydantic converter, no codec) and a worker
    with the same activities on a task queue of its own.
    """
    plain = await build_client(
        target=server.address, namespace="default", data_converter=pydantic_data_converter
    )
    plain_settings = dataclasses.replace(settings, task_queue=f"{settings.task_queue}-plain")
    await workers.enter_async_context(create_worker(plain, plain_settings, activities=activities))
    await claims_round(plain, plain_settings.task_queue, 5)  # warm up
    return await paired_rounds(
        server,
        claims,
        rounds,
        lambda: claims_round(client, settings.task_queue, claims),
        lambda: claims_round(plain, plain_settings.task_queue, claims),
    )


async def main(claims: int, rounds: int, latency_samples: int, codec_rounds: int = 0) -> Report:
    keys = StaticKeyRing(KeyRing.fresh(), "the benchmark's own key ring")
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_in(Path(tmp), CLAIMS_RECORDS_FILE=str(bench_records(Path(tmp))))
        server = DevServer.headless(Path(tmp) / "bench.db", CLI_TYPES)
        client = await server.start(data_converter=encrypted_data_converter(keys))
        bare_queue = f"bare-{uuid.uuid4().hex[:6]}"
        try:
            activities = build_activities(settings)
            async with contextlib.AsyncExitStack() as workers:
                await workers.enter_async_context(
                    create_worker(client, settings, activities=activities)
                )
                await workers.enter_async_context(
                    Worker(
                        client, task_queue=bare_queue, workflows=[BareWorkflow], activities=[noop]
                    )
                )
                await claims_round(client, settings.task_queue, 5)  # warm up both paths
                await bare_round(client, bare_queue, 5)
                ours, bare = await paired_rounds(
                    server,
                    claims,
                    rounds,
                    lambda: claims_round(client, settings.task_queue, claims),
                    lambda: bare_round(client, bare_queue, claims),
                )
                encrypted, unencrypted = (
                    await codec_pairs(
                        server, workers, client, settings, activities, claims, codec_rounds
                    )
                    if codec_rounds
                    else ([], [])
                )
                latencies = await signal_latencies(client, settings.task_queue, latency_samples)
                auto = auto_approvable("H")
                await start_claim(client, auto, settings.task_queue)
                await claim_handle(client, auto.claim_id).result()
                auto_size = await history_size(client, auto.claim_id)
                auto_payloads = await encrypted_payloads(client, auto.claim_id)
                auto_shape = await shape_of(client, claim_handle(client, auto.claim_id).id)
                bare_id = f"bare-{uuid.uuid4().hex[:10]}"
                await client.execute_workflow(
                    BareWorkflow.run, ACTIVITIES_PER_CLAIM, id=bare_id, task_queue=bare_queue
                )
                bare_shape = await shape_of(client, bare_id)
                manual = sample_claim("CLM-1002", claim_id=f"H-{uuid.uuid4().hex[:8]}")
                await start_claim(client, manual, settings.task_queue)
                await until_waiting(client, manual.claim_id)
                await claim_handle(client, manual.claim_id).signal(
                    ClaimReviewWorkflow.approve, {"approver": "maria"}
                )
                await claim_handle(client, manual.claim_id).result()
                manual_size = await history_size(client, manual.claim_id)
        finally:
            server.stop()
    quantiles = statistics.quantiles(latencies, n=10)
    codec_cost = None
    if codec_rounds:
        codec_cost = CodecCost(
            encrypted_per_second=[round(r.per_second, 1) for r in encrypted],
            plain_per_second=[round(r.per_second, 1) for r in unencrypted],
            encrypted_cpu_ms=median_cpu(encrypted),
            plain_cpu_ms=median_cpu(unencrypted),
            # Timed with the server stopped, so the codec has the machine to itself.
            timing=time_codec(EncryptionCodec(keys), typical_payload(pydantic_data_converter)),
            payloads_per_claim=auto_payloads,
        )
    return Report(
        claims=claims,
        rounds=rounds,
        claims_per_second=[round(r.per_second, 1) for r in ours],
        bare_per_second=[round(r.per_second, 1) for r in bare],
        claims_cpu_ms=median_cpu(ours),
        bare_cpu_ms=median_cpu(bare),
        signal_latency_ms_p50=round(statistics.median(latencies), 1),
        signal_latency_ms_p90=round(quantiles[8], 1),
        auto_history_events=auto_size[0],
        auto_history_bytes=auto_size[1],
        manual_history_events=manual_size[0],
        manual_history_bytes=manual_size[1],
        codec=codec_cost,
        auto_shape=auto_shape,
        bare_shape=bare_shape,
    )


def results_json(report: Report) -> dict[str, object]:
    """latest.json: the report, its ratio, and the codec's cost where it was measured."""
    document: dict[str, object] = asdict(report) | {
        "ratio": round(report.ratio, 2),
        "pair_ratios": report.pair_ratios,
        "ratio_spread": list(report.ratio_spread),
    }
    if report.codec is not None:
        document["codec"] = asdict(report.codec) | {
            "cost_percent": round(report.codec.cost_percent, 1),
            "pair_costs_percent": report.codec.pair_costs_percent,
            "round_trip_us": round(report.codec.timing.round_trip_us, 1),
            "codec_ms_per_claim": round(report.codec.codec_ms_per_claim, 2),
            "share_of_worker_cpu_percent": _rounded(report.codec.share_of_worker_cpu_percent),
        }
    return document


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def print_codec(codec: CodecCost) -> None:
    timing = codec.timing
    share = codec.share_of_worker_cpu_percent
    print(f"claims/s encrypted:       {codec.encrypted_per_second}")
    print(f"claims/s plain:           {codec.plain_per_second} (no codec, same server)")
    print(
        f"encryption cost:          {codec.cost_percent:.1f}% of throughput (median over "
        f"pairs of rounds {codec.pair_costs_percent}; target under {COST_TARGET_PERCENT}%)"
    )
    print(
        f"CPU per claim (ms):       encrypted {codec.encrypted_cpu_ms}; plain {codec.plain_cpu_ms}"
    )
    print(
        f"codec per payload:        encode {timing.encode_us} µs + decode {timing.decode_us} µs "
        f"({TYPICAL_CLAIM}: {timing.payload_bytes} bytes, {timing.encrypted_bytes} encrypted)"
    )
    print(
        f"codec per claim:          {codec.payloads_per_claim} encrypted payloads in an "
        f"auto-approved claim's history ~ {codec.codec_ms_per_claim:.2f} ms"
        + (f", {share:.1f}% of the worker's CPU per claim" if share is not None else "")
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=50, help="claims per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=20)
    parser.add_argument(
        "--codec-rounds",
        type=int,
        default=10,
        help="pairs of rounds with and without payload encryption (its cost is a few "
        "percent at most, so it takes more pairs than the bare comparison to see it)",
    )
    parser.add_argument(
        "--no-codec",
        action="store_true",
        help="skip the comparison with unencrypted payloads (about half the run's time)",
    )
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    codec_rounds = 0 if args.no_codec else args.codec_rounds
    load_before = round(os.getloadavg()[0], 2)
    report = asyncio.run(main(args.claims, args.rounds, args.latency_samples, codec_rounds))
    # Other work on the machine is the main source of noise between rounds: say how much.
    load_after = round(os.getloadavg()[0], 2)
    machine = {"cores": os.cpu_count(), "load_average": [load_before, load_after]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(results_json(report) | {"machine": machine}, indent=2) + "\n"
    )
    print(
        f"machine:                  {machine['cores']} cores, load average "
        f"{load_before:.1f} before the run, {load_after:.1f} after"
    )
    print(
        "payloads:                 encrypted with AES-256-GCM (the production converter, "
        "a key ring made for this run) in every run but the plain side of the codec's"
    )
    print(f"claims/s per round:       {report.claims_per_second}")
    print(f"bare workflows/s (same activities, {ACTIVITIES_PER_CLAIM}): {report.bare_per_second}")
    low, high = report.ratio_spread
    print(
        f"median ratio claims/bare: {report.ratio:.2f} over {len(report.pair_ratios)} pairs of "
        f"rounds (spread {low:.2f} to {high:.2f}; each pair's: {report.pair_ratios})"
    )
    print(
        f"CPU per workflow (ms):    claim {report.claims_cpu_ms}; bare {report.bare_cpu_ms} "
        "(median; worker = this process, with the client)"
    )
    print(
        f"signal -> completion:     p50 {report.signal_latency_ms_p50} ms, "
        f"p90 {report.signal_latency_ms_p90} ms"
    )
    print(
        f"history per claim:        auto-approved {report.auto_history_events} events / "
        f"{report.auto_history_bytes} bytes; manual {report.manual_history_events} events / "
        f"{report.manual_history_bytes} bytes"
    )
    if report.auto_shape is not None and report.bare_shape is not None:
        print(f"one auto-approved claim:  {_shape_text(report.auto_shape)}")
        print(f"one bare workflow:        {_shape_text(report.bare_shape)}")
    if report.codec is not None:
        print_codec(report.codec)


def _shape_text(shape: dict[str, int]) -> str:
    return ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in shape.items())


if __name__ == "__main__":
    cli()
