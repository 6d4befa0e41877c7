"""`claims run` (what `make run` calls): dev server, worker and sample claims, in the foreground.

Unless CLAIMS_SMTP_HOST names a real mail server, a local SMTP sink on a free port takes
the notices the relay delivers and writes each to <data dir>/mail/ as an .eml file, so a
newcomer can open the reminder a waiting claim sent (`claims outbox` lists them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from rich.console import Console
from rich.markup import escape
from temporalio.client import Client

from activities.chat import ChatSettings
from activities.mail import SINK_DIR_NAME, MailSettings, MailSink
from activities.notice_delivery import run_relay
from cli.render import ClaimRow, claims_table
from console.codec_server import load_or_create_codec_token, ui_codec_endpoint
from console.server import ConsoleServer, build_console
from console.settings import CODEC_TOKEN_FILE, ConsoleSettings
from runtime.client import configured_data_converter
from runtime.datadir import ensure_data_paths
from runtime.devserver import DevServer
from runtime.keyring import ensure_ring_file
from runtime.logs import configure_logging, get_logger
from runtime.schedules import apply_schedules
from runtime.settings import Settings
from runtime.telemetry import metrics_runtime
from runtime.text import printable
from signals.client import claim_handle, query_state
from starter import StartResult, load_claims, start_claims
from worker import build_activities, create_worker
from workflows.search_attributes import CLI_TYPES
from workflows.state import ClaimState, Step

SETTLE_TIMEOUT_SECONDS = 30.0
# The worker's and console's log lines, in the data dir: the terminal keeps the summary.
WORKER_LOG_FILE = "worker.log"

log = get_logger("claims.run")


def safe(text: object) -> str:
    """Text from files and settings inside our markup: printable, never markup itself."""
    return escape(printable(str(text)))


async def wait_until_settled(client: Client, claim_ids: list[str]) -> list[ClaimState]:
    """Query each claim until it is finished or waiting for a person."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_SECONDS
    states: list[ClaimState] = []
    for claim_id in claim_ids:
        handle = claim_handle(client, claim_id)
        while True:
            state = await query_state(handle)
            if state.current_step.is_final or state.awaiting_human or loop.time() > deadline:
                states.append(state)
                break
            await asyncio.sleep(0.1)
    return states


def print_summary(
    console: Console,
    server: DevServer,
    results: list[StartResult],
    states: list[ClaimState],
    metrics_port: int | None,
) -> None:
    for result in results:
        console.print(
            f"  {safe(result.claim.workflow_id)}: {result.status}", highlight=False, soft_wrap=True
        )
    rows = [
        ClaimRow.from_state(s, "Completed" if s.current_step.is_final else "Running")
        for s in states
    ]
    console.print(claims_table(rows, title="Sample claims", width=console.width))
    waiting = [s for s in states if s.current_step is Step.AWAITING_MANAGER_APPROVAL]
    address = server.address
    env = "" if server.port == 7233 else f"TEMPORAL_ADDRESS={address} "
    console.print(f"\nTemporal web UI: [link={server.ui_url}]{server.ui_url}[/link]")
    if metrics_port:
        console.print(f"Worker metrics:  http://127.0.0.1:{metrics_port}/metrics")
    if waiting:
        claim_id = safe(waiting[0].context.claim.claim_id)
        console.print(
            f"\nApprove [bold]{claim_id}[/] in another terminal, any of these ways:",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"  {env}.venv/bin/claims approve {claim_id} --as maria",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"  .venv/bin/temporal workflow signal --address {address} "
            f'--workflow-id claim-{claim_id} --name approve --input \'{{"approver": "maria"}}\'',
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"  web UI: {server.ui_url}/namespaces/default/workflows/claim-{claim_id} "
            "-> Send a Signal -> approve",
            highlight=False,
            soft_wrap=True,
        )
        console.print(
            f"Inspect: {env}.venv/bin/claims show {claim_id}", highlight=False, soft_wrap=True
        )
    console.print(
        "\nCtrl-C stops the server, the worker and the console; paused claims keep their place.\n"
    )


def print_console(console: Console, served: ConsoleServer) -> None:
    """Where the reviewer console is, and the demo's sign-in when its accounts are in use."""
    console.print(f"\nReviewer console: [link={served.settings.url}]{served.settings.url}[/link]")
    console.print(
        "  the Temporal web UI decodes claims through the console's codec server "
        f"({safe(served.settings.url)}/codec; its token is in "
        f"{safe(served.settings.codec_token_file)})",
        highlight=False,
        soft_wrap=True,
    )
    if served.demo_accounts:
        accounts = ", ".join(f"{safe(n)} / {safe(p)}" for n, p in served.demo_accounts.items())
        console.print(f"  demo sign-in (name / password): {accounts}", highlight=False)


def start_mail_sink(settings: Settings, console: Console) -> MailSink | None:
    """The local SMTP sink, unless CLAIMS_SMTP_HOST names a mail server to use instead."""
    if os.environ.get("CLAIMS_SMTP_HOST"):
        console.print(
            f"Notices go to the SMTP server {safe(os.environ['CLAIMS_SMTP_HOST'])} "
            "(CLAIMS_SMTP_HOST)",
            highlight=False,
            soft_wrap=True,
        )
        return None
    sink = MailSink(settings.data_dir / SINK_DIR_NAME).start()
    console.print(
        f"Mail sink on {sink.host}:{sink.port}: notices are written to "
        f"{safe(sink.directory)}/ (list them: claims outbox)",
        highlight=False,
        soft_wrap=True,
    )
    return sink


def sink_env(sink: MailSink) -> dict[str, str]:
    """The relay's mail settings for the sink: plain SMTP on localhost, no login."""
    return {
        "CLAIMS_SMTP_HOST": sink.host,
        "CLAIMS_SMTP_PORT": str(sink.port),
        "CLAIMS_SMTP_STARTTLS": "false",
        "CLAIMS_SMTP_USER": "",
        "CLAIMS_SMTP_PASSWORD": "",
    }


async def run_product(settings: Settings, console: Console) -> None:
    """Run everything until SIGINT or SIGTERM, then stop worker and server in that order."""
    ensure_data_paths(settings, with_server=True)
    log_file = settings.data_dir / WORKER_LOG_FILE
    configure_logging(
        settings.log_format, settings.log_level, log_file=log_file, terminal_level="WARNING"
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    # The web UI learns the codec endpoint when the server starts, so the token comes first.
    codec_endpoint = ui_codec_endpoint(
        ConsoleSettings.from_env(os.environ, settings.data_dir),
        load_or_create_codec_token(settings.data_dir / CODEC_TOKEN_FILE),
    )
    server = DevServer(
        db_file=settings.temporal_db,
        ip=settings.server_ip,
        port=settings.server_port,
        ui_port=settings.ui_port,
        ui_codec_endpoint=codec_endpoint,
        search_attributes=CLI_TYPES,
    )
    console.print(
        f"Starting the Temporal dev server on {server.address} "
        f"(data: {safe(settings.temporal_db)})...",
        highlight=False,
        soft_wrap=True,
    )
    if ensure_ring_file(settings.keys_file):
        console.print(
            f"Created the encryption key ring {safe(settings.keys_file)} (mode 0600): "
            "back it up; claims encrypted with its keys cannot be read without it",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(f"Encryption key ring: {safe(settings.keys_file)}", highlight=False)
    activities = build_activities(settings)
    relay_stop = asyncio.Event()
    sink: MailSink | None = None
    try:
        sink = start_mail_sink(settings, console)
        relay_env = dict(os.environ) if sink is None else {**os.environ, **sink_env(sink)}
        # A wrong CLAIMS_SMTP_* or webhook setting is reported now, not at the relay's start.
        MailSettings.from_env(relay_env)
        ChatSettings.from_env(relay_env)
        client = await server.start(
            runtime=metrics_runtime(settings.metrics_port),
            data_converter=configured_data_converter(),
        )
        console.print(
            f"Starting the worker and console (log: {safe(log_file)}; "
            "only warnings and errors show here)...",
            highlight=False,
            soft_wrap=True,
        )
        served = build_console(
            client,
            env=os.environ,
            data_dir=settings.data_dir,
            approvers_file=settings.approvers_file,
            with_demo_accounts=True,
        )
        worker = create_worker(client, settings, activities=activities)
        async with worker:
            for done in await apply_schedules(client, settings):
                log.info("schedule", detail=done)
            serving = asyncio.create_task(served.server.serve())
            relaying = asyncio.create_task(run_relay(settings, relay_stop, env=relay_env))
            try:
                console.print("Submitting the sample claims...", highlight=False)
                claims = load_claims(sorted(settings.sample_claims_dir.glob("*.json")))
                results = await start_claims(client, claims, settings.task_queue)
                states = await wait_until_settled(client, [c.claim_id for c in claims])
                print_summary(console, server, results, states, settings.metrics_port)
                print_console(console, served)
                stopping = asyncio.create_task(stop.wait())
                await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                console.print("Stopping console, worker and server...")
            finally:
                served.server.should_exit = True
                relay_stop.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
                with contextlib.suppress(asyncio.CancelledError):
                    await relaying
    finally:
        if sink is not None:
            sink.stop()
        server.stop()
    log.info("stopped")
