"""The `claims` command: every entry point a user or an operator types.

Starting it loads no workflow code, worker or model library: commands that replay a
history, run a worker or start claims import what they need when they run, so `--help`,
`status`, `show` and people's actions start at once. `tests/unit/test_cli_startup.py`
holds that line.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer

from cli.action_commands import register_action_commands
from cli.audit import audit_app, verify_command
from cli.base import cli_settings, command, console, plain_help, run_command, said, use_server
from cli.console_commands import register_console_commands
from cli.encryption_keys import register_encryption_key_commands
from cli.eval_command import register_eval_command
from cli.history_commands import register_history_commands
from cli.keys import keys_app
from cli.new_claim import register_new_claim_command
from cli.outbox_command import register_outbox_command
from cli.patches_command import register_patches_command
from cli.read_commands import register_read_commands
from cli.schedules_command import schedules_app
from cli.tokens_command import tokens_app
from runtime.client import build_client
from runtime.datadir import ensure_data_paths
from runtime.process_exit import run_and_exit

PACKAGE = "claim-review-agent"
# Commands that run a server, a worker or the console name their own address in their
# own words; every other command that connects names it once on stderr.
RUNS_ITS_OWN_WAY = frozenset({"run", "worker", "console"})

ENVIRONMENT = """\b
Environment:
  TEMPORAL_ADDRESS    server (localhost:7233); --address wins over it
  TEMPORAL_NAMESPACE  namespace (default); --namespace wins over it
  TEMPORAL_API_KEY    API key for Temporal Cloud; TLS and profiles follow
                      Temporal's env config (TEMPORAL_PROFILE)
  CLAIMS_DATA_DIR     dev server, ledger and keys (.temporal)
  CLAIMS_KEYS_FILE    key ring that encrypts claims
                      (CLAIMS_DATA_DIR/claims-keys.json)
  CLAIMS_LLM          offline (default) or openai:MODEL with OPENAI_API_KEY
  CLAIMS_TASK_QUEUE   the worker's task queue (claim-review)
  CLAIMS_LOG_LEVEL    INFO; CLAIMS_LOG_FORMAT: auto, json or console
  CLAIMS_SMTP_HOST    mail server for notices (a local sink in `claims run`);
                      CLAIMS_CHAT_WEBHOOK_URL for staff chat
  CLAIMS_PAYMENT_GATEWAY  ledger (default) or http with CLAIMS_PAYMENTS_URL

\b
Example:
  claims status
  claims --address 127.0.0.1:7233 --namespace default show CLM-1002"""

plain_help()
app = typer.Typer(
    help="Review insurance and expense claims with a persistent agent on Temporal.",
    epilog=ENVIRONMENT,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        try:
            version = metadata.version(PACKAGE)
        except metadata.PackageNotFoundError:
            version = "unknown (not installed; run `make install`)"
        console.print(f"claims {version}", highlight=False)
        raise typer.Exit()


@app.callback()
def options(
    ctx: typer.Context,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            metavar="HOST:PORT",
            help="Temporal server to use, instead of TEMPORAL_ADDRESS (default localhost:7233)",
        ),
    ] = None,
    namespace: Annotated[
        str | None,
        typer.Option(
            "--namespace",
            metavar="NAME",
            help="Temporal namespace, instead of TEMPORAL_NAMESPACE (default: default)",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="print the version of claims and exit",
        ),
    ] = False,
) -> None:
    """Review insurance and expense claims with a persistent agent on Temporal."""
    use_server(address, namespace, announce=ctx.invoked_subcommand not in RUNS_ITS_OWN_WAY)
    # A process runs one command; one that runs several (a test) starts each afresh.
    ctx.call_on_close(lambda: use_server(None, None, announce=False))


@app.command()
def run() -> None:
    """Run the product: dev server, worker and the sample claims, until Ctrl-C."""
    from cli.run import run_product

    settings = cli_settings()
    run_command(run_product(settings, console))


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS until SIGINT or SIGTERM."""
    from worker import run_worker

    settings = cli_settings()

    async def checked_thenrun_command() -> None:
        ensure_data_paths(settings, with_server=False)
        await run_worker(settings)

    run_command(checked_thenrun_command())


@app.command()
@command
async def start(
    files: Annotated[list[Path], typer.Argument(help="claim JSON files")],
) -> None:
    """Validate claims and start a review for each; nothing starts if any is invalid.

    Example: claims start examples/claims/CLM-1002.json
    """
    from starter import StartStatus, load_claims, start_claims

    settings = cli_settings()
    claims = load_claims(files)
    client = await build_client()
    for result in await start_claims(client, claims, settings.task_queue):
        style = "green" if result.status is StartStatus.STARTED else "yellow"
        console.print(
            f"{said(result.claim.workflow_id)}: [{style}]{result.status}[/]", highlight=False
        )


register_new_claim_command(app)
register_read_commands(app)
register_action_commands(app)
register_history_commands(app, command)
register_patches_command(app)
register_outbox_command(app)
register_eval_command(app)
register_console_commands(app, command)
register_encryption_key_commands(keys_app)
app.add_typer(keys_app, name="keys")
app.add_typer(schedules_app, name="schedules")
app.add_typer(audit_app, name="audit")
app.add_typer(tokens_app, name="tokens")
audit_app.command("verify")(command(verify_command))


def _shutdown_tracing() -> None:
    """Flush the spans of a command that traced; one that did not never loads tracing."""
    tracing = sys.modules.get("runtime.tracing")
    if tracing is not None:
        tracing.shutdown_tracing()


def main() -> None:
    """The `claims` console script; ends without interpreter finalization (see
    runtime.process_exit), so a finished command never exits with a native thread's crash.
    """
    run_and_exit(app, before_exit=_shutdown_tracing)
