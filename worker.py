"""Runs the claim-review worker: the workflow plus every activity, on one task queue.

Configuration comes from the environment (see README): Temporal's own env config for
the connection, CLAIMS_* for the agent. Stops gracefully on SIGINT and SIGTERM so a
restarted worker picks claims up at once instead of after the sticky-queue timeout.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.claim_registry import ClaimRegistry
from activities.evidence_tools import EvidenceTools, as_langchain_tools, tool_activities
from activities.llm import AgentActivities, LlmSettings, build_chat_model
from activities.notice_delivery import run_relay
from activities.payment_gateway import gateway_from_env
from activities.payments import Ledger, PaymentActivities
from activities.reconciliation import ReconciliationActivities
from activities.records import SystemOfRecord
from activities.review_policy import ReviewPolicyActivities, load_review_policy_file
from activities.sweep_activities import SweepActivities, sweep_activity_list
from cli.status_query import inbox_query, rescreen_query
from evaluation.loading import EvalCaseLoader
from runtime.activity_errors import redacting_interceptors
from runtime.client import build_client
from runtime.datadir import ensure_data_paths
from runtime.errors import UserFacingError
from runtime.logs import configure_logging, get_logger
from runtime.process_exit import run_and_exit
from runtime.settings import Settings
from runtime.telemetry import metrics_runtime
from runtime.tracing import tracing_interceptors
from runtime.workflow_runner import sandboxed_runner
from workflows.claim_eval import ClaimEvalRunWorkflow, ClaimEvalWorkflow
from workflows.claim_review import ClaimReviewWorkflow, ClaimWhatIfWorkflow
from workflows.sweeps import SWEEP_WORKFLOWS

# A crashed worker's sticky queue holds its claims until this passes (10 s by default).
STICKY_QUEUE_TIMEOUT = timedelta(seconds=2)
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Imported once for the worker instead of into every workflow's sandbox: measured at
# about a quarter of the claim throughput. Code passed through is not checked by the
# worker's sandbox (a `datetime.now()` in a workflow would run); it is run sandboxed,
# with every check, by the replay tests over tests/histories (Replayer's default).
DETERMINISTIC_PACKAGES = ("pydantic", "pydantic_core", "signals.messages", "workflows")

log = get_logger("claims.worker")


def build_activities(settings: Settings, llm: LlmSettings | None = None) -> list[Any]:
    """Every activity, configured; any setting it cannot use fails here, with a clear message.

    Called before connecting to Temporal, so a wrong CLAIMS_LLM or approvers file is
    reported as such, not hidden behind a connection error.
    """
    ensure_data_paths(settings, with_server=False)
    llm = llm or LlmSettings.from_config(settings.llm)
    load_review_policy_file(settings.approvers_file)
    records = SystemOfRecord.open(settings.records_db, seed=settings.records_file)
    tools = EvidenceTools(records)
    registry = ClaimRegistry(records)
    agent = AgentActivities(build_chat_model(llm), llm, as_langchain_tools(tools))
    ledger = Ledger(settings.ledger_db)
    gateway = gateway_from_env(settings, ledger=ledger)
    payments = PaymentActivities(ledger, gateway)
    reconciliation = ReconciliationActivities(ledger, gateway)
    policy = ReviewPolicyActivities(settings.approvers_file, settings.console_public_key)
    log.info(
        "worker configured",
        task_queue=settings.task_queue,
        llm=llm.label,
        offline_llm=llm.offline,
        records=str(settings.records_db),
        ledger=str(settings.ledger_db),
        payment_gateway=gateway.name,
    )
    return [
        policy.load_review_policy,
        registry.register_reviewed_claim,
        *tool_activities(tools).values(),
        agent.agent_turn,
        payments.issue_payout,
        payments.send_notice,
        reconciliation.reconcile_payouts,
    ]


def create_worker(
    client: Client,
    settings: Settings,
    llm: LlmSettings | None = None,
    interceptors: list[Interceptor] | None = None,
    activities: list[Any] | None = None,
    *,
    with_eval_loader: bool = True,
    with_sweeps: bool = True,
) -> Worker:
    """The worker for every workflow type and activity, on the claims task queue.

    The evaluation's case loader and the sweeps need the client (they list and read
    workflows on the server), so they join the activities here, not in `build_activities`.
    """
    activities = activities if activities is not None else build_activities(settings, llm)
    records = (
        SystemOfRecord.open(settings.records_db, seed=settings.records_file)
        if with_eval_loader or with_sweeps
        else None
    )
    if with_eval_loader and records is not None:
        loader = EvalCaseLoader(records, client, client.data_converter)
        activities = [*activities, loader.load_eval_cases]
    if with_sweeps and records is not None:
        # The sweeps list claims and signal them, so they too need the client.
        sweeps = SweepActivities(
            client,
            approvers_file=settings.approvers_file,
            records=records,
            ledger=Ledger(settings.ledger_db),
            inbox_query=inbox_query,
            waiting_query=rescreen_query(),
        )
        activities = [*activities, *sweep_activity_list(sweeps)]
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[
            ClaimReviewWorkflow,
            ClaimWhatIfWorkflow,
            ClaimEvalWorkflow,
            ClaimEvalRunWorkflow,
            *SWEEP_WORKFLOWS,
        ],
        activities=activities,
        # Redaction last: closest to the activities, so tracing and history see no secret.
        interceptors=[
            *(tracing_interceptors() if interceptors is None else interceptors),
            *redacting_interceptors(),
        ],
        workflow_runner=sandboxed_runner(client.data_converter, DETERMINISTIC_PACKAGES),
        sticky_queue_schedule_to_start_timeout=STICKY_QUEUE_TIMEOUT,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )


async def run_worker(settings: Settings) -> None:
    """Run until SIGINT or SIGTERM, then finish in-flight tasks and stop."""
    activities = build_activities(settings)
    interceptors = tracing_interceptors()
    client = await build_client(runtime=metrics_runtime(settings.metrics_port))
    worker = create_worker(client, settings, interceptors=interceptors, activities=activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with worker:
        # Notices in the outbox go out from every worker; each takes a notice under a lease.
        relaying = asyncio.create_task(run_relay(settings, stop))
        # The relay ends only when stopped, or on mail settings it cannot use: then the
        # worker stops at once, and the relay's error is raised below.
        relaying.add_done_callback(lambda _task: stop.set())
        log.info(
            "worker started",
            task_queue=settings.task_queue,
            metrics=f"http://127.0.0.1:{settings.metrics_port}/metrics"
            if settings.metrics_port
            else None,
        )
        await stop.wait()
        log.info("worker stopping")
        await relaying
    log.info("worker stopped")


def main() -> None:
    run_and_exit(_run_from_env)


def _run_from_env() -> None:
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_format, settings.log_level)
        asyncio.run(run_worker(settings))
    except UserFacingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
