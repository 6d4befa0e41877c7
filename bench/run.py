"""Benchmark the agent on a real dev server: `make bench` (options: --help).

Measures, in one run on one server:
- throughput: N auto-approved claims against N bare workflows that run the same number
  of no-op activities, in pairs of rounds (which goes first alternates) so both see the
  same machine; the ratio is the median of the pairs' ratios, which a machine that
  speeds up or slows down during the run does not skew;
- CPU per workflow, of the server and of this process (worker and client), each side;
- signal -> resume -> completion latency for claims waiting on a manager (p50, p90);
- history events and bytes per claim, for an auto-approved and a manually approved one.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from bench.bare import BareWorkflow, noop
from runtime.devserver import DevServer
from runtime.logs import configure_logging
from runtime.settings import EXAMPLES_DIR
from signals.client import claim_handle
from starter import start_claim
from tests.helpers import eventually, sample_claim, settings_in
from worker import create_worker
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

    @property
    def ratio(self) -> float:
        """Median over the pairs of rounds of claims/s over bare workflows/s."""
        pairs = zip(self.claims_per_second, self.bare_per_second, strict=True)
        return statistics.median(ours / bare for ours, bare in pairs)


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


async def history_size(client: Client, claim_id: str) -> tuple[int, int]:
    description = await claim_handle(client, claim_id).describe()
    return description.raw_description.workflow_execution_info.history_length, (
        description.raw_description.workflow_execution_info.history_size_bytes
    )


async def main(claims: int, rounds: int, latency_samples: int) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_in(Path(tmp), CLAIMS_RECORDS_FILE=str(bench_records(Path(tmp))))
        server = DevServer.headless(Path(tmp) / "bench.db", CLI_TYPES)
        client = await server.start()
        bare_queue = f"bare-{uuid.uuid4().hex[:6]}"
        try:
            async with (
                create_worker(client, settings),
                Worker(client, task_queue=bare_queue, workflows=[BareWorkflow], activities=[noop]),
            ):
                await claims_round(client, settings.task_queue, 5)  # warm up both paths
                await bare_round(client, bare_queue, 5)
                ours: list[Round] = []
                bare: list[Round] = []
                sides: list[tuple[list[Round], Callable[[], Awaitable[float]]]] = [
                    (ours, lambda: claims_round(client, settings.task_queue, claims)),
                    (bare, lambda: bare_round(client, bare_queue, claims)),
                ]
                for _ in range(rounds):
                    for results, run_round in sides:
                        results.append(await measured(server, claims, run_round()))
                    sides.reverse()  # the other side goes first in the next pair
                latencies = await signal_latencies(client, settings.task_queue, latency_samples)
                auto = auto_approvable("H")
                await start_claim(client, auto, settings.task_queue)
                await claim_handle(client, auto.claim_id).result()
                auto_size = await history_size(client, auto.claim_id)
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
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=50, help="claims per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency-samples", type=int, default=20)
    args = parser.parse_args()
    configure_logging("console", "WARNING")
    report = asyncio.run(main(args.claims, args.rounds, args.latency_samples))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(
        json.dumps(asdict(report) | {"ratio": round(report.ratio, 2)}, indent=2) + "\n"
    )
    print(f"claims/s per round:       {report.claims_per_second}")
    print(f"bare workflows/s (same activities, {ACTIVITIES_PER_CLAIM}): {report.bare_per_second}")
    print(f"median ratio claims/bare: {report.ratio:.2f} (over pairs of rounds)")
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


if __name__ == "__main__":
    cli()
