"""Ten thousand waiting claims: `make bench-scale` (options: --help).

Starts N claims that all wait for a person, on a dev server of its own and the worker as
shipped (`python worker.py`, its cache settings untouched) in a process of its own, then
measures what an insurer with that many open claims lives with:
- the worker's resident memory (RSS now, and its peak) once every claim waits;
- `claims status` and `claims inbox --as maria`, wall time of the commands as a person
  runs them (a new process each, so Python's start is in the figure);
- the console's inbox page, one GET through the application over the same client;
- approving a sample of the claims through updates (`signals.client.act`), a few at
  once, and the p50 and p90 of each update's latency;
- the dev server's disk per claim: its SQLite files (with -wal and -shm) over N.

Each figure is printed beside its target with pass or fail, and written to
bench/results/scale.json. Payloads are encrypted as in production, with a key ring made
for the run (written to the run's temp dir for the worker and the commands).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from activities.review_policy import load_review_policy_file
from console.app import create_app
from console.settings import ConsoleSettings
from runtime.codec import encrypted_data_converter
from runtime.devserver import DevServer
from runtime.keyring import KeyRing, StaticKeyRing, write_ring_file
from runtime.logs import configure_logging
from runtime.settings import EXAMPLES_DIR, PROJECT_ROOT, WORKFLOW_TYPE
from signals.client import act
from signals.messages import HumanAction
from starter import start_claim
from tests.helpers import sample_claim
from workflows import search_attributes as sa
from workflows.claim import Claim
from workflows.search_attributes import CLI_TYPES

RESULTS = Path(__file__).parent / "results"
TASK_QUEUE = "claims-scale"
# The claim every waiting claim copies: 1,250.00 USD, over the auto-approval limit.
WAITING_SAMPLE = "CLM-1002"
WAITING_POLICY = "POL-HOME-200"
APPROVER = "maria"
# Claims started at once: enough to keep the server busy, few enough not to time out.
START_AT_ONCE = 50
# How often the count of waiting claims is read while the worker works through them.
POLL_SECONDS = 2.0
# Runs of each command and page; the median is reported (the first pays for cold caches).
TIMED_RUNS = 3


@dataclass(frozen=True)
class Target:
    """A figure's limit at N = 10,000 on 2 cores: the figure passes when at or under it."""

    limit: float
    unit: str


TARGETS = {
    "worker_rss_mb": Target(500, "MB"),
    "status_seconds": Target(2.0, "s"),
    "inbox_seconds": Target(2.0, "s"),
    "console_inbox_seconds": Target(2.0, "s"),
    "approval_ms_p90": Target(1000, "ms"),
}


@dataclass
class ScaleReport:
    claims: int
    approvals: int
    approval_concurrency: int
    seconds_to_all_waiting: float
    worker_rss_mb: float
    worker_peak_rss_mb: float
    worker_rss_mb_after_approvals: float
    status_seconds: float
    status_runs: list[float]
    status_says: str
    inbox_seconds: float
    inbox_runs: list[float]
    console_inbox_seconds: float
    console_inbox_runs: list[float]
    console_inbox_rows: int
    approvals_seconds: float
    approval_ms_p50: float
    approval_ms_p90: float
    approvals_refused: int
    first_refusal: str
    disk_bytes: int
    disk_bytes_empty: int
    disk_bytes_per_claim: float

    def verdicts(self) -> dict[str, bool]:
        """Each figure with a target: whether it met it."""
        return {name: getattr(self, name) <= target.limit for name, target in TARGETS.items()}


def scale_records(directory: Path, claims: int) -> Path:
    """The example records plus one home policy per claim, each with its own holder.

    Copies of one claim from one claimant would be near duplicates of each other, which
    the review treats differently; every claim of the run has a claimant of its own.
    """
    records = json.loads((EXAMPLES_DIR / "records.json").read_text())
    [template] = [p for p in records["policies"] if p["policy_number"] == WAITING_POLICY]
    records["policies"].extend(
        template | {"policy_number": f"SCALE-POL-{i}", "holder_id": f"SCALE-CUS-{i}"}
        for i in range(claims)
    )
    path = directory / "scale-records.json"
    path.write_text(json.dumps(records))
    return path


def waiting_claim(i: int) -> Claim:
    """Claim `i` of the run: CLM-1002's, from claimant SCALE-CUS-i under SCALE-POL-i."""
    claim = sample_claim(WAITING_SAMPLE, claim_id=f"SCALE-{i:06d}")
    return claim.model_copy(
        update={
            "policy_number": f"SCALE-POL-{i}",
            "claimant": claim.claimant.model_copy(update={"id": f"SCALE-CUS-{i}"}),
        }
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which `fraction` of `values` lie (linear between the two nearest)."""
    if not values:
        raise ValueError("no values to take a percentile of")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rss_mb(pid: int) -> tuple[float, float]:
    """A process's resident memory now and at its peak, in MB, from /proc/<pid>/status."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024  # kB
    return round(fields["VmRSS"], 1), round(fields["VmHWM"], 1)


def disk_bytes(db_file: Path) -> int:
    """The SQLite database with its write-ahead log and shared-memory index."""
    return sum(
        path.stat().st_size
        for path in (db_file, Path(f"{db_file}-wal"), Path(f"{db_file}-shm"))
        if path.exists()
    )


def waiting_query() -> str:
    """Running claims that wait for a person: the inbox's condition, whoever they wait on."""
    return (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Running' "
        f"AND {sa.AWAITING_HUMAN.name} = true"
    )


def closed_query() -> str:
    """Claims whose review ended: none should while they all wait for a person (a run
    that continued as new, as each does at the approval gate, did not end its claim)."""
    return (
        f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus != 'Running' "
        "AND ExecutionStatus != 'ContinuedAsNew'"
    )


async def start_all(client: Client, claims: int, task_queue: str) -> None:
    gate = asyncio.Semaphore(START_AT_ONCE)

    async def start(i: int) -> None:
        async with gate:
            await start_claim(client, waiting_claim(i), task_queue)

    await asyncio.gather(*(start(i) for i in range(claims)))


async def until_all_wait(client: Client, claims: int, worker: subprocess.Popen[bytes]) -> None:
    """Until every claim waits for a person; fails at once if one ends or the worker dies.

    Waits for the event, however long a busy machine takes, and says how far it got.
    """
    shown = 0.0
    loop = asyncio.get_running_loop()
    while True:
        waiting = (await client.count_workflows(waiting_query())).count
        if waiting >= claims:
            await until_no_backlog(client, worker)
            return
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}; see worker.log")
        closed = (await client.count_workflows(closed_query())).count
        if closed:
            raise RuntimeError(f"{closed} claims ended instead of waiting for a person")
        if loop.time() - shown > 30:
            print(f"  {waiting:,} of {claims:,} claims wait for a person", file=sys.stderr)
            shown = loop.time()
        await asyncio.sleep(POLL_SECONDS)


async def until_no_backlog(client: Client, worker: subprocess.Popen[bytes]) -> None:
    """Until the worker has taken every workflow task waiting for it.

    A claim reaching the gate continues as new, and its next run inherits the search
    attributes that say it waits before the worker has taken that run's first task: the
    count is reached while thousands of those tasks still queue, and a query (the
    console's inbox asks each row's state) would wait behind them.
    """
    while (backlog := await workflow_backlog(client, TASK_QUEUE)) > 0:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with code {worker.returncode}; see worker.log")
        print(f"  {backlog:,} workflow tasks still queued for the worker", file=sys.stderr)
        await asyncio.sleep(POLL_SECONDS)


async def workflow_backlog(client: Client, task_queue: str) -> int:
    """The server's estimate of the workflow tasks queued and not yet taken."""
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            report_stats=True,
        )
    )
    return described.stats.approximate_backlog_count


def command_env(address: str, keys_file: Path, data_dir: Path) -> dict[str, str]:
    """The environment a person's `claims` command runs with, against this run's server."""
    return os.environ | {
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "CLAIMS_KEYS_FILE": str(keys_file),
        "CLAIMS_DATA_DIR": str(data_dir),
        "COLUMNS": "80",
    }


def timed_command(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Run `claims ARGS` as a person would; its wall time and what it printed on stdout."""
    claims = Path(sys.executable).parent / "claims"
    started = time.perf_counter()
    done = subprocess.run(
        [str(claims), *args], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"claims {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, done.stdout


async def timed_runs(run: Callable[[], Awaitable[float]]) -> list[float]:
    return [round(await run(), 3) for _ in range(TIMED_RUNS)]


async def console_inbox(client: Client, data_dir: Path) -> tuple[list[float], int]:
    """GET /inbox as maria on the console's application over `client`, TIMED_RUNS times.

    The person is named by a header (the console behind an authenticating proxy), so the
    figure is the page's own work: the list query, the claims' states, the template.
    """
    settings = ConsoleSettings.from_env({"CLAIMS_CONSOLE_AUTH": "header:X-Person"}, data_dir)
    policy = load_review_policy_file(EXAMPLES_DIR / "approvers.toml")
    app = create_app(settings, policy, client)
    transport = httpx.ASGITransport(app=app)
    runs: list[float] = []
    rows = 0
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as http:
        for _ in range(TIMED_RUNS):
            started = time.perf_counter()
            page = await http.get("/inbox", headers={"X-Person": APPROVER})
            runs.append(round(time.perf_counter() - started, 3))
            page.raise_for_status()
            rows = page.text.count('href="/claims/')
    return runs, rows


async def approve_sample(
    client: Client, claim_ids: list[str], concurrency: int
) -> tuple[list[float], list[str]]:
    """Approve each claim through its update, `concurrency` at once.

    Returns each accepted update's latency in ms, and why each other one was not.
    """
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []
    failures: list[str] = []

    async def approve(claim_id: str) -> None:
        async with gate:
            started = time.perf_counter()
            try:
                await act(client, claim_id, HumanAction.APPROVE, {"approver": APPROVER})
            except Exception as error:  # counted and reported, never hidden
                failures.append(f"{claim_id}: {type(error).__name__}: {error}")
                return
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(approve(claim_id) for claim_id in claim_ids))
    return latencies, failures


def start_worker(directory: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The worker as shipped, in a process of its own so its memory is its own."""
    with (directory / "worker.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "worker.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=PROJECT_ROOT,
        )


async def main(claims: int, approvals: int, concurrency: int) -> ScaleReport:
    ring = KeyRing.fresh()
    keys = StaticKeyRing(ring, "the scale benchmark's own key ring")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        keys_file = directory / "keys.json"
        write_ring_file(keys_file, ring)
        db_file = directory / "scale.db"
        server = DevServer.headless(db_file, CLI_TYPES)
        worker: subprocess.Popen[bytes] | None = None
        try:
            client = await server.start(data_converter=encrypted_data_converter(keys))
            empty = disk_bytes(db_file)
            env = command_env(server.address, keys_file, directory)
            worker_env = env | {
                "CLAIMS_TASK_QUEUE": TASK_QUEUE,
                "CLAIMS_RECORDS_FILE": str(scale_records(directory, claims)),
                "CLAIMS_LOG_LEVEL": "WARNING",
                "CLAIMS_LOG_FORMAT": "json",
            }
            worker = start_worker(directory, worker_env)
            print(f"starting {claims:,} claims that wait for a person...", file=sys.stderr)
            started = time.perf_counter()
            await start_all(client, claims, TASK_QUEUE)
            await until_all_wait(client, claims, worker)
            to_waiting = time.perf_counter() - started
            rss, peak = rss_mb(worker.pid)
            disk = disk_bytes(db_file)
            print("all wait; timing the commands and the console...", file=sys.stderr)
            status_says = ""

            async def status() -> float:
                nonlocal status_says
                seconds, status_says = timed_command(["status"], env)
                return seconds

            async def inbox() -> float:
                return timed_command(["inbox", "--as", APPROVER], env)[0]

            status_runs = await timed_runs(status)
            inbox_runs = await timed_runs(inbox)
            console_runs, console_rows = await console_inbox(client, directory / "console")
            # The same claims for the same N, spread over all of them (old ones left the cache).
            picker = random.Random(claims)  # noqa: S311 - a sample, not a secret
            sample = picker.sample(range(claims), min(approvals, claims))
            print(f"approving {len(sample):,} claims through updates...", file=sys.stderr)
            approving = time.perf_counter()
            latencies, failures = await approve_sample(
                client, [waiting_claim(i).claim_id for i in sample], concurrency
            )
            approvals_seconds = time.perf_counter() - approving
            rss_after, _ = rss_mb(worker.pid)
        finally:
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait()
            server.stop()
    return ScaleReport(
        claims=claims,
        approvals=len(sample),
        approval_concurrency=concurrency,
        seconds_to_all_waiting=round(to_waiting, 1),
        worker_rss_mb=rss,
        worker_peak_rss_mb=peak,
        worker_rss_mb_after_approvals=rss_after,
        status_seconds=statistics.median(status_runs),
        status_runs=status_runs,
        status_says=paging_note(status_says),
        inbox_seconds=statistics.median(inbox_runs),
        inbox_runs=inbox_runs,
        console_inbox_seconds=statistics.median(console_runs),
        console_inbox_runs=console_runs,
        console_inbox_rows=console_rows,
        approvals_seconds=round(approvals_seconds, 1),
        approval_ms_p50=round(percentile(latencies, 0.5), 1) if latencies else 0.0,
        approval_ms_p90=round(percentile(latencies, 0.9), 1) if latencies else 0.0,
        approvals_refused=len(failures),
        first_refusal=failures[0] if failures else "",
        disk_bytes=disk,
        disk_bytes_empty=empty,
        disk_bytes_per_claim=round((disk - empty) / claims, 1),
    )


def paging_note(output: str) -> str:
    """What `claims status` says under its first page: which claims of how many."""
    notes = [line.strip() for line in output.splitlines() if line.startswith("Showing")]
    return notes[0] if notes else ""


def summary(report: ScaleReport) -> list[str]:
    """One line per figure, with its target and whether it met it where it has one."""
    verdicts = report.verdicts()

    def judged(name: str, shown: str) -> str:
        target = TARGETS[name]
        verdict = "pass" if verdicts[name] else "FAIL"
        return f"{shown} (target under {target.limit:g} {target.unit}: {verdict})"

    return [
        f"claims waiting:           {report.claims:,} (all waiting after "
        f"{report.seconds_to_all_waiting:,.0f} s)",
        judged(
            "worker_rss_mb",
            f"worker RSS:               {report.worker_rss_mb:.0f} MB "
            f"(peak {report.worker_peak_rss_mb:.0f} MB; "
            f"{report.worker_rss_mb_after_approvals:.0f} MB after the approvals)",
        ),
        judged(
            "status_seconds",
            f"claims status:            {report.status_seconds:.2f} s (runs {report.status_runs})",
        ),
        f"  it says:                {report.status_says}",
        judged(
            "inbox_seconds",
            f"claims inbox --as maria:  {report.inbox_seconds:.2f} s (runs {report.inbox_runs})",
        ),
        judged(
            "console_inbox_seconds",
            f"console inbox page:       {report.console_inbox_seconds:.2f} s "
            f"({report.console_inbox_rows} rows; runs {report.console_inbox_runs})",
        ),
        f"approvals through updates: {report.approvals:,} in {report.approvals_seconds:,.0f} s, "
        f"{report.approval_concurrency} at once, {report.approvals_refused} refused",
        f"approval latency p50:     {report.approval_ms_p50:.0f} ms",
        judged("approval_ms_p90", f"approval latency p90:     {report.approval_ms_p90:.0f} ms"),
        f"dev server disk:          {report.disk_bytes / 1e6:,.1f} MB "
        f"({report.disk_bytes_empty / 1e6:,.1f} MB before the first claim), "
        f"{report.disk_bytes_per_claim / 1024:.1f} KiB per waiting claim",
    ]


def results_json(report: ScaleReport, machine: dict[str, Any]) -> dict[str, Any]:
    """scale.json: the figures, their targets and verdicts, and the machine they ran on."""
    return asdict(report) | {
        "targets": {name: asdict(target) for name, target in TARGETS.items()},
        "passed": report.verdicts(),
        "machine": machine,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000, help="claims that wait at once")
    parser.add_argument(
        "--approvals", type=int, default=1000, help="claims approved through updates"
    )
    parser.add_argument("--concurrency", type=int, default=20, help="approvals sent at once")
    args = parser.parse_args()
    if args.claims < 1 or args.approvals < 0 or args.concurrency < 1:
        parser.error("--claims and --concurrency must be at least 1, --approvals at least 0")
    configure_logging("console", "WARNING")
    load_before = round(os.getloadavg()[0], 2)
    report = asyncio.run(main(args.claims, args.approvals, args.concurrency))
    load_after = round(os.getloadavg()[0], 2)
    machine = {"cores": os.cpu_count(), "load_average": [load_before, load_after]}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale.json").write_text(json.dumps(results_json(report, machine), indent=2) + "\n")
    print(
        f"machine:                  {machine['cores']} cores, load average "
        f"{load_before:.1f} before the run, {load_after:.1f} after"
    )
    for line in summary(report):
        print(line)
    print(f"written:                  {RESULTS / 'scale.json'}")


if __name__ == "__main__":
    cli()
