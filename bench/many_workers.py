"""Many workers on one task queue, one killed mid-run: `python -m bench.many_workers`.

Three `worker.py` processes (as shipped) share a task queue on a dev server. Claims that
wait for a person (CLM-1002-like, over the auto-approval limit) are started and wait;
then auto-approved claims (CLM-1001-like) start while the waiting ones are approved
through updates, and one worker is SIGKILLed once some approvals are done and others are
in flight. Every claim must end paid, once.

The report says how long the killed worker's claims took to resume, read from their
histories: a task the killed worker held comes back only when the server gives up on
it, so each delay is matched with the timeout that freed it:
- a workflow task waiting on the killed worker's sticky queue: its schedule-to-start
  timeout (`worker.STICKY_QUEUE_TIMEOUT`);
- a workflow task it had started: the workflow task timeout (10 s, Temporal's default);
- an activity it had started: the activity's heartbeat timeout (model turns) or its
  start-to-close timeout (tools, payouts, notices), after which another worker retries it.
A task given back joins the task queue behind every other claim's work: under load, that
wait can outlast the timeout, and the report shows the two apart where history records
the timeout (workflow tasks).

Options: --waiting N, --auto N, --workers N, --kill-after N (approvals; default a third).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import TypeVar

from temporalio.api.enums.v1 import TaskQueueType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.payments import Ledger
from runtime.codec import encrypted_data_converter
from runtime.devserver import DevServer
from runtime.keyring import KeyRing, StaticKeyRing, write_ring_file
from runtime.settings import EXAMPLES_DIR, PROJECT_ROOT
from signals.client import claim_handle, no_worker_answered
from signals.messages import ActionAccepted, HumanAction
from starter import start_claim
from tests.helpers import eventually, sample_claim
from worker import STICKY_QUEUE_TIMEOUT
from workflows import search_attributes as sa
from workflows.claim import Claim
from workflows.state import ClaimOutcome, OutcomeStatus, Step

T = TypeVar("T")

# At most this many starts or approvals in flight at once: enough to keep three workers
# busy, few enough that a loaded machine does not time out its own requests.
CONCURRENCY = 20
WAITING_AMOUNT = Decimal("1250.00")
AUTO_AMOUNT = Decimal("420.00")
APPROVER = "maria"


@dataclass(frozen=True)
class Scenario:
    """How many claims of each kind, and after how many approvals the worker dies."""

    waiting: int
    auto: int
    kill_after_approvals: int
    task_queue: str = field(default_factory=lambda: f"many-workers-{uuid.uuid4().hex[:8]}")

    def waiting_claims(self) -> list[Claim]:
        return [waiting_claim(i) for i in range(self.waiting)]

    def auto_claims(self) -> list[Claim]:
        return [auto_claim(i) for i in range(self.auto)]


def waiting_claim(i: int) -> Claim:
    """CLM-1002 (over the auto-approval limit) from a claimant of its own: no duplicates."""
    claim = sample_claim("CLM-1002", claim_id=f"MW-WAIT-{i}")
    return claim.model_copy(
        update={
            "policy_number": f"MW-HOME-{i}",
            "claimant": claim.claimant.model_copy(update={"id": f"MW-CUS-{i}"}),
        }
    )


def auto_claim(i: int) -> Claim:
    """CLM-1001 (small and clean: auto-approved) from a claimant of its own."""
    claim = sample_claim("CLM-1001", claim_id=f"MW-AUTO-{i}")
    return claim.model_copy(
        update={
            "policy_number": f"MW-EXP-{i}",
            "claimant": claim.claimant.model_copy(update={"id": f"MW-EMP-{i}"}),
        }
    )


def scenario_records(directory: Path, scenario: Scenario) -> Path:
    """The example records plus one policy per claimant of the scenario (CLAIMS_RECORDS_FILE)."""
    records = json.loads((EXAMPLES_DIR / "records.json").read_text())
    templates = {p["policy_number"]: p for p in records["policies"]}
    records["policies"].extend(
        templates["POL-HOME-200"] | {"policy_number": f"MW-HOME-{i}", "holder_id": f"MW-CUS-{i}"}
        for i in range(scenario.waiting)
    )
    records["policies"].extend(
        templates["POL-EXP-100"] | {"policy_number": f"MW-EXP-{i}", "holder_id": f"MW-EMP-{i}"}
        for i in range(scenario.auto)
    )
    path = directory / "many-workers-records.json"
    path.write_text(json.dumps(records))
    return path


async def bounded(calls: Iterable[Callable[[], Awaitable[T]]], limit: int = CONCURRENCY) -> list[T]:
    """Run the calls concurrently, at most `limit` at a time; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def approve(client: Client, claim_id: str) -> ActionAccepted:
    """Approve through the update, under one id for every attempt, until a worker answers.

    A worker killed while it held the claim leaves the update unanswered until the server
    gives its task to another worker; asking again with the same id returns the first
    answer if it got in, and never approves twice.
    """
    handle = claim_handle(client, claim_id)
    update_id = f"approve-{uuid.uuid4()}"
    while True:
        try:
            result: ActionAccepted = await handle.execute_update(
                str(HumanAction.APPROVE),
                {"approver": APPROVER},
                id=update_id,
                result_type=ActionAccepted,
            )
            return result
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            continue
        except RPCError as error:
            if not no_worker_answered(error) and "workflow task" not in error.message:
                raise
        await asyncio.sleep(0.2)


async def count(client: Client, query: str) -> int:
    return (await client.count_workflows(query)).count


async def pollers(client: Client, task_queue: str) -> list[str]:
    """Identities of the workers polling the task queue for workflow tasks."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return [poller.identity for poller in response.pollers]


def identity_of(pid: int) -> str:
    """The identity a worker process reports to Temporal: the SDK's default, pid@host."""
    return f"{pid}@{socket.gethostname()}"


@dataclass
class Run:
    """What happened: every claim's outcome, and when which worker was killed."""

    outcomes: dict[str, ClaimOutcome]
    killed_identity: str
    killed_at: datetime
    approvals_before_kill: int
    waiting_seconds: float  # from the workers polling to every waiting claim waiting
    closed_seconds: float  # from the kill to every claim closed


async def run_scenario(
    client: Client, scenario: Scenario, kill: Callable[[], str], workers: int
) -> Run:
    """Start, approve and kill as the module says; returns once every claim has closed.

    `kill` SIGKILLs one worker and returns its identity. Waits follow events (list
    queries over search attributes), never the clock.
    """
    queue = scenario.task_queue
    begun = datetime.now(UTC)
    await eventually(
        lambda: pollers(client, queue),
        lambda found: len(found) >= workers,
        what=f"{workers} workers polling {queue}",
    )
    waiting, auto = scenario.waiting_claims(), scenario.auto_claims()
    await bounded(partial(start_claim, client, c, queue) for c in waiting)
    # A claim reaching the gate continues as new there: its runs before are not claims.
    awaiting = (
        f"TaskQueue='{queue}' AND ExecutionStatus='Running' "
        f"AND {sa.CLAIM_STEP.name}='{Step.AWAITING_MANAGER_APPROVAL}'"
    )
    closed = (
        f"TaskQueue='{queue}' AND ExecutionStatus!='Running' AND ExecutionStatus!='ContinuedAsNew'"
    )
    await eventually(
        lambda: asyncio.gather(count(client, awaiting), count(client, closed)),
        lambda counts: counts[0] == scenario.waiting,
        hopeless=lambda counts: counts[1] > 0,
        what=f"{scenario.waiting} claims waiting for a manager (and none closed)",
    )
    all_waiting = datetime.now(UTC)

    approved = 0
    killed: list[tuple[str, datetime, int]] = []

    async def approve_and_count(claim: Claim) -> ActionAccepted:
        nonlocal approved
        accepted = await approve(client, claim.claim_id)
        approved += 1
        if approved == scenario.kill_after_approvals:
            at = datetime.now(UTC)  # before the signal: nothing the victim starts is missed
            killed.append((kill(), at, approved))
        return accepted

    await asyncio.gather(
        bounded(partial(start_claim, client, c, queue) for c in auto),
        bounded(partial(approve_and_count, c) for c in waiting),
    )
    running = f"TaskQueue='{queue}' AND ExecutionStatus='Running'"
    await eventually(lambda: count(client, running), lambda n: n == 0, what="every claim closed")
    all_closed = datetime.now(UTC)
    outcomes = await bounded(claim_handle(client, c.claim_id).result for c in [*waiting, *auto])
    [(identity, at, before)] = killed
    return Run(
        outcomes={c.claim_id: o for c, o in zip([*waiting, *auto], outcomes, strict=True)},
        killed_identity=identity,
        killed_at=at,
        approvals_before_kill=before,
        waiting_seconds=(all_waiting - begun).total_seconds(),
        closed_seconds=(all_closed - at).total_seconds(),
    )


# -- reading the resume times from histories --------------------------------------------

STICKY = "sticky queue timeout"
WORKFLOW_TASK = "workflow task timeout"
HEARTBEAT = "activity heartbeat timeout"
START_TO_CLOSE = "activity start-to-close timeout"


@dataclass(frozen=True)
class Resumed:
    """One task the killed worker held, and how long after the kill another one took it."""

    claim_id: str
    cause: str
    seconds: float  # from the kill (or the task's scheduling, if later) to another worker
    timeout: float  # the timeout that frees such a task, as configured
    # From the kill to the server giving the task back (its timeout event); None for an
    # activity, whose timed-out attempt history does not record.
    freed: float | None = None


def _time(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def resumed_tasks(
    claim_id: str, events: list[HistoryEvent], killed: str, killed_at: datetime
) -> list[Resumed]:
    """The tasks of one claim the killed worker held at or after the kill, and their delays.

    A workflow task counts when it timed out after the kill while started by the killed
    worker, or while waiting on its sticky queue (the last completed task was its); the
    delay runs from the kill (or the task's scheduling, if later) to the next workflow task
    another worker started. An activity counts when its retry, started after the kill,
    follows a timed-out attempt; the delay runs from the kill to that start.
    """
    by_id = {event.event_id: event for event in events}
    found: list[Resumed] = []
    sticky_owner = ""
    for n, event in enumerate(events):
        if event.HasField("workflow_task_completed_event_attributes"):
            sticky_owner = event.workflow_task_completed_event_attributes.identity
        elif event.HasField("workflow_task_timed_out_event_attributes"):
            timed_out = event.workflow_task_timed_out_event_attributes
            scheduled = by_id[timed_out.scheduled_event_id]
            if timed_out.timeout_type == TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START:
                cause, holder = STICKY, sticky_owner
            else:
                started = by_id[timed_out.started_event_id]
                cause = WORKFLOW_TASK
                holder = started.workflow_task_started_event_attributes.identity
            if holder != killed or _time(event) < killed_at:
                continue
            since = max(killed_at, _time(scheduled))
            taken = next(
                (
                    _time(later)
                    for later in events[n + 1 :]
                    if later.HasField("workflow_task_started_event_attributes")
                ),
                None,
            )
            task_timeout = scheduled.workflow_task_scheduled_event_attributes.start_to_close_timeout
            limit = STICKY_QUEUE_TIMEOUT if cause == STICKY else task_timeout.ToTimedelta()
            if taken is not None:
                found.append(
                    Resumed(
                        claim_id,
                        cause,
                        (taken - since).total_seconds(),
                        limit.total_seconds(),
                        (_time(event) - since).total_seconds(),
                    )
                )
        elif event.HasField("activity_task_started_event_attributes"):
            started_attrs = event.activity_task_started_event_attributes
            failure = started_attrs.last_failure
            if (
                started_attrs.attempt > 1
                and failure.HasField("timeout_failure_info")
                and _time(event) >= killed_at
            ):
                kind = failure.timeout_failure_info.timeout_type
                options = by_id[started_attrs.scheduled_event_id]
                options_attrs = options.activity_task_scheduled_event_attributes
                cause, configured = (
                    (HEARTBEAT, options_attrs.heartbeat_timeout)
                    if kind == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
                    else (START_TO_CLOSE, options_attrs.start_to_close_timeout)
                )
                found.append(
                    Resumed(
                        claim_id,
                        cause,
                        (_time(event) - killed_at).total_seconds(),
                        configured.ToTimedelta().total_seconds(),
                    )
                )
    return found


def ran_on(events: list[HistoryEvent], identity: str) -> bool:
    """Whether a workflow task or an activity of this history ran on the worker `identity`."""
    return any(
        event.workflow_task_started_event_attributes.identity == identity
        or event.activity_task_started_event_attributes.identity == identity
        for event in events
    )


async def history(client: Client, claim_id: str) -> list[HistoryEvent]:
    return [event async for event in claim_handle(client, claim_id).fetch_history_events()]


async def resume_report(client: Client, run: Run) -> tuple[list[Resumed], int]:
    """Every task the killed worker held and its delay; and how many claims it had touched."""
    claim_ids = list(run.outcomes)
    histories = await bounded(partial(history, client, c) for c in claim_ids)
    resumed = [
        task
        for claim_id, events in zip(claim_ids, histories, strict=True)
        for task in resumed_tasks(claim_id, events, run.killed_identity, run.killed_at)
    ]
    touched = sum(ran_on(events, run.killed_identity) for events in histories)
    return resumed, touched


def summary(resumed: list[Resumed]) -> list[str]:
    """One line per cause: how many tasks, p50 and max seconds from the kill to resuming."""
    lines = []
    causes = Counter(task.cause for task in resumed)
    for cause in (STICKY, WORKFLOW_TASK, HEARTBEAT, START_TO_CLOSE):
        tasks = [task for task in resumed if task.cause == cause]
        if not tasks:
            continue
        seconds = [task.seconds for task in tasks]
        limits = sorted({f"{task.timeout:g} s" for task in tasks})
        line = (
            f"  {cause + ':':34} {causes[cause]:4} tasks, p50 {statistics.median(seconds):5.1f} s, "
            f"max {max(seconds):5.1f} s; timeout {', '.join(limits)}"
        )
        freed = [task for task in tasks if task.freed is not None]
        if freed:
            back = statistics.median(task.freed or 0 for task in freed)
            queued = statistics.median(task.seconds - (task.freed or 0) for task in freed)
            line += f"; given back after p50 {back:.1f} s, then queued p50 {queued:.1f} s"
        lines.append(line)
    return lines


# -- the benchmark: a dev server and worker processes of its own ------------------------


@contextmanager
def worker_processes(
    count: int, env: dict[str, str], log: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker.py processes with `env`; every one still running is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("ab") as out:
            for _ in range(count):
                started.append(
                    subprocess.Popen(
                        [sys.executable, str(PROJECT_ROOT / "worker.py")],
                        env=os.environ | env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        cwd=PROJECT_ROOT,
                    )
                )
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait()


def kill_first(processes: list[subprocess.Popen[bytes]]) -> Callable[[], str]:
    """A kill for run_scenario: SIGKILL the first worker, return its identity."""

    def kill() -> str:
        victim = processes[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        return identity_of(victim.pid)

    return kill


@dataclass
class Report:
    """The run, the tasks the killed worker held, and the ledger's verdict."""

    run: Run
    resumed: list[Resumed]
    touched: int  # claims the killed worker had run a task of
    not_paid_once: list[str]  # claims without exactly one payout in the ledger


async def main(scenario: Scenario, workers: int) -> Report:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        # Encrypted as production is, with a key ring made for the run.
        ring = KeyRing.fresh()
        keys = directory / "claims-keys.json"
        write_ring_file(keys, ring)
        server = DevServer.headless(directory / "temporal.db", sa.CLI_TYPES)
        client = await server.start(
            data_converter=encrypted_data_converter(StaticKeyRing(ring, "the run's key ring"))
        )
        env = {
            "CLAIMS_KEYS_FILE": str(keys),
            "TEMPORAL_ADDRESS": server.address,
            "TEMPORAL_NAMESPACE": "default",
            "CLAIMS_DATA_DIR": str(directory),
            "CLAIMS_TASK_QUEUE": scenario.task_queue,
            "CLAIMS_RECORDS_FILE": str(scenario_records(directory, scenario)),
            "CLAIMS_LOG_FORMAT": "json",
            "CLAIMS_LOG_LEVEL": "WARNING",
        }
        try:
            with worker_processes(workers, env, directory / "worker.log") as processes:
                run = await run_scenario(client, scenario, kill_first(processes), workers)
                resumed, touched = await resume_report(client, run)
        finally:
            server.stop()
        ledger = Ledger(directory / "ledger.db")
        not_paid_once = [c for c in run.outcomes if len(ledger.payouts_for(c)) != 1]
    return Report(run, resumed, touched, not_paid_once)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=500, help="claims waiting for a person")
    parser.add_argument("--auto", type=int, default=500, help="auto-approved claims")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--kill-after", type=int, default=None, help="approvals before the kill (default: a third)"
    )
    args = parser.parse_args()
    kill_after = args.kill_after if args.kill_after is not None else max(1, args.waiting // 3)
    scenario = Scenario(waiting=args.waiting, auto=args.auto, kill_after_approvals=kill_after)
    load_before = os.getloadavg()[0]
    report = asyncio.run(main(scenario, args.workers))
    run, resumed = report.run, report.resumed
    completed = sum(o.status is OutcomeStatus.COMPLETED for o in run.outcomes.values())
    print(
        f"machine:   {os.cpu_count()} cores, load average {load_before:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after"
    )
    print(
        f"claims:    {scenario.waiting} waiting for a person + {scenario.auto} auto-approved "
        f"on {args.workers} workers; all waiting {run.waiting_seconds:.1f} s after the start"
    )
    print(
        f"kill:      SIGKILL after {run.approvals_before_kill} approvals; the killed worker "
        f"had run tasks of {report.touched} claims; every claim closed "
        f"{run.closed_seconds:.1f} s after the kill"
    )
    print(
        f"outcome:   {completed} of {len(run.outcomes)} completed; "
        + (
            "each paid exactly once in the ledger"
            if not report.not_paid_once
            else f"NOT paid exactly once: {', '.join(report.not_paid_once[:10])}"
        )
    )
    if not resumed:
        print("resumed:   the killed worker held no task at the kill")
        return
    seconds = [task.seconds for task in resumed]
    print(
        f"resumed:   {len(resumed)} tasks of {len({t.claim_id for t in resumed})} claims, "
        f"from the kill to another worker: p50 {statistics.median(seconds):.1f} s, "
        f"max {max(seconds):.1f} s; by the timeout that gave them back:"
    )
    for line in summary(resumed):
        print(line)


if __name__ == "__main__":
    cli()
