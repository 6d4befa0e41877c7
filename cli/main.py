"""The `claims` command: every entry point a user or an operator types."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from cli.render import ClaimRow, claims_table, print_error, render_state
from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.logs import configure_logging
from runtime.settings import WORKFLOW_TYPE, Settings
from signals.client import claim_handle, send_decision
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import AuditOutcome, DecisionKind

app = typer.Typer(
    help="Review insurance and expense claims with a persistent agent on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
history_app = typer.Typer(help="Export a claim's event history.", no_args_is_help=True)
app.add_typer(history_app, name="history")
console = Console()
R = TypeVar("R")


def _run(coro: Coroutine[Any, Any, R]) -> R:
    """Run a command, turning every known failure into one clear line and exit code 1."""
    try:
        return asyncio.run(coro)
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(1) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            print_error(console, f"{error.message}; check the claim id with `claims status`")
        else:
            print_error(console, f"Temporal refused the request: {error.message}")
        raise typer.Exit(1) from None


def _settings() -> Settings:
    try:
        settings = Settings.from_env()
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def command(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        _run(fn(*args, **kwargs))

    return wrapper


@app.command()
def run() -> None:
    """Run the product: dev server, worker and the sample claims, until Ctrl-C."""
    from cli.run import run_product

    settings = _settings()
    _run(run_product(settings, console))


@app.command()
def worker() -> None:
    """Run a worker against TEMPORAL_ADDRESS until SIGINT or SIGTERM."""
    from worker import run_worker

    settings = _settings()
    _run(run_worker(settings))


@app.command()
@command
async def start(
    files: Annotated[list[Path], typer.Argument(help="claim JSON files")],
) -> None:
    """Validate claims and start a review for each; nothing starts if any is invalid."""
    from starter import StartStatus, load_claims, start_claims

    settings = _settings()
    claims = load_claims(files)
    client = await build_client()
    for result in await start_claims(client, claims, settings.task_queue):
        style = "green" if result.status is StartStatus.STARTED else "yellow"
        console.print(f"{result.claim.workflow_id}: [{style}]{result.status}[/]", highlight=False)


@app.command()
@command
async def status(
    limit: Annotated[int, typer.Option(help="most claims to list")] = 100,
) -> None:
    """List claims with their step, amount, who they wait on and the deadline."""
    client = await build_client()
    rows = [
        ClaimRow.from_execution(execution)
        async for execution in client.list_workflows(
            f"WorkflowType = '{WORKFLOW_TYPE}'", limit=limit
        )
    ]
    if not rows:
        console.print("No claims yet. Start one with `claims start examples/claims/CLM-1002.json`.")
        return
    console.print(claims_table(rows))


@app.command()
@command
async def show(
    claim_id: Annotated[str, typer.Argument(help="claim id, such as CLM-1002")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw state document")] = False,
) -> None:
    """Show one claim's state document: step, waits, evidence, trace, transitions, audit."""
    client = await build_client()
    try:
        state = await claim_handle(client, claim_id).query(ClaimReviewWorkflow.state)
    except WorkflowQueryFailedError as error:
        raise UserFacingError(f"claim {claim_id} could not answer: {error}") from None
    if as_json:
        print(state.model_dump_json(indent=2))
    else:
        console.print(render_state(state))


async def _decide(kind: DecisionKind, claim_id: str, approver: str, comment: str) -> None:
    client = await build_client()
    receipt = await send_decision(client, claim_id, kind, approver, comment)
    if receipt.entry is None:
        console.print(
            f"{kind} sent to {receipt.workflow_id}; no worker has processed it yet. "
            f"Check with `claims show {claim_id}`.",
            highlight=False,
        )
        return
    if receipt.entry.outcome is AuditOutcome.REFUSED:
        print_error(console, f"{kind} by {approver} refused: {receipt.entry.detail}")
        raise typer.Exit(1)
    step = receipt.state.current_step if receipt.state else "?"
    console.print(
        f"[green]{kind} by {approver} accepted[/] (claim {claim_id}, version "
        f"{receipt.entry.version}, now {step})",
        highlight=False,
    )


AsOption = Annotated[str, typer.Option("--as", help="your name in the approver directory")]
CommentOption = Annotated[str, typer.Option(help="reason, kept in the audit log")]


@app.command()
@command
async def approve(claim_id: str, approver: AsOption, comment: CommentOption = "") -> None:
    """Approve a claim's proposed payout."""
    await _decide(DecisionKind.APPROVE, claim_id, approver, comment)


@app.command()
@command
async def reject(claim_id: str, approver: AsOption, comment: CommentOption = "") -> None:
    """Reject a claim."""
    await _decide(DecisionKind.REJECT, claim_id, approver, comment)


@history_app.command("export")
@command
async def history_export(
    claim_id: str, file: Annotated[Path, typer.Argument(help="where to write the JSON")]
) -> None:
    """Write a claim's event history as JSON, for replay tests and `temporal workflow show`."""
    client = await build_client()
    history = await claim_handle(client, claim_id).fetch_history()
    file.write_text(json.dumps(json.loads(history.to_json()), indent=1))
    console.print(f"wrote {len(history.events)} events to {file}", highlight=False)
