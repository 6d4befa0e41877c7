"""The `claims` command: every entry point a user or an operator types.

Starting it loads no workflow code, worker or model library: commands that replay a
history, run a worker or start claims import what they need when they run, so `--help`,
`status`, `show` and people's actions start at once. `tests/unit/test_cli_startup.py`
holds that line.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities.review_policy import load_review_policy_file
from cli.audit import audit_app, verify_command
from cli.console_commands import register_console_commands
from cli.encryption_keys import register_encryption_key_commands
from cli.history_commands import register_history_commands
from cli.keys import keys_app
from cli.render import ClaimRow, claims_table, print_error, render_state
from cli.status_query import claims_query, describe_filters, inbox_query, matching_count
from runtime.client import build_client
from runtime.datadir import ensure_data_paths
from runtime.errors import UserFacingError
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.text import json_printable, printable
from signals.client import ActionRefused, act, claim_handle, query_state, signal_and_watch
from signals.messages import HumanAction
from workflows.state import AuditOutcome

app = typer.Typer(
    help="Review insurance and expense claims with a persistent agent on Temporal.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
history_app = typer.Typer(help="Export a claim's event history.", no_args_is_help=True)
app.add_typer(history_app, name="history")
console = Console()
err_console = Console(stderr=True)
R = TypeVar("R")


def said(text: object) -> str:
    """Input echoed inside our own markup: printable, and its brackets never markup."""
    return escape(printable(str(text)))


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

    async def checked_then_run() -> None:
        ensure_data_paths(settings, with_server=False)
        await run_worker(settings)

    _run(checked_then_run())


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
        console.print(
            f"{said(result.claim.workflow_id)}: [{style}]{result.status}[/]", highlight=False
        )


@app.command()
@command
async def status(
    limit: Annotated[int, typer.Option(help="most claims to list")] = 100,
    step: Annotated[
        str | None, typer.Option(help="only claims at this step, such as awaiting_manager_approval")
    ] = None,
    assignee: Annotated[
        str | None, typer.Option(help="only claims waiting on this person or queue")
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="only claims waiting on a person past the deadline")
    ] = False,
    running: Annotated[
        bool, typer.Option("--running/--all", help="only claims still under review, or all")
    ] = False,
) -> None:
    """List claims with their step, amount, who they wait on and the deadline."""
    query = claims_query(step=step, assignee=assignee, overdue=overdue, running_only=running)
    filters = describe_filters(step=step, assignee=assignee, overdue=overdue, running_only=running)
    client = await build_client()
    rows = [
        ClaimRow.from_execution(execution)
        async for execution in client.list_workflows(query, limit=limit)
    ]
    if not rows and filters:
        console.print(f"No claims {said(filters)}.", highlight=False)
        return
    if not rows:
        console.print("No claims yet. Start one with `claims start examples/claims/CLM-1002.json`.")
        return
    console.print(claims_table(rows, title=f"Claims {filters}" if filters else "Claims"))
    if len(rows) == limit:
        total = await matching_count(client, query)
        more = f"{total:,} match" if total is not None else "more may match"
        console.print(f"Showing the first {limit}; {more}. Raise --limit or narrow the filters.")


@app.command()
@command
async def show(
    claim_id: Annotated[str, typer.Argument(help="claim id, such as CLM-1002")],
    as_json: Annotated[bool, typer.Option("--json", help="print the raw state document")] = False,
    version: Annotated[
        int | None, typer.Option(help="show the state as it was at this version (by replay)")
    ] = None,
) -> None:
    """Show one claim's state document: step, waits, evidence, trace, transitions, audit."""
    client = await build_client()
    try:
        if version is None:
            state = await query_state(claim_handle(client, claim_id))
        else:
            from history.replay import state_at_version

            state = await state_at_version(client, claim_id, version)
    except WorkflowQueryFailedError as error:
        raise UserFacingError(f"claim {claim_id} could not answer: {error}") from None
    if version is not None and not as_json:
        console.print(
            f"[bold]As of version {version}[/] (replayed up to the workflow task that reached "
            f"it; versions from that task are included)",
            highlight=False,
        )
    if as_json:
        print(json_printable(state.model_dump_json(indent=2)))
    else:
        console.print(render_state(state))


async def _signed(
    client: Client, action: HumanAction, claim_id: str, payload: dict[str, Any], key: Path
) -> dict[str, Any]:
    """The payload signed with `key` for the claim's current version and a fresh nonce."""
    from cli.keys import signed_payload

    state = await query_state(claim_handle(client, claim_id))
    return signed_payload(
        payload, claim_id=claim_id, action=action, key_file=key, version=state.version
    )


async def _act(
    action: HumanAction,
    claim_id: str,
    payload: dict[str, Any],
    as_signal: bool,
    key: Path | None = None,
) -> None:
    """Send one action, signed when a key is given; print what the claim answered."""
    client = await build_client()
    payload = {k: v for k, v in payload.items() if v is not None}
    if key is not None:
        payload = await _signed(client, action, claim_id, payload, key)
    if not as_signal:
        accepted = await act(client, claim_id, action, payload)
        console.print(
            f"[green]{action} accepted[/] (claim {said(claim_id)}, version {accepted.version}, "
            f"now {accepted.current_step})"
            + (f": {said(accepted.detail)}" if accepted.detail else ""),
            highlight=False,
        )
        return
    receipt = await signal_and_watch(client, claim_id, action, payload)
    if receipt.entry is None:
        console.print(
            f"{action} signal sent to {said(receipt.workflow_id)}; no worker has processed it "
            f"yet. Check with `claims show {said(claim_id)}`.",
            highlight=False,
        )
    elif receipt.entry.outcome is AuditOutcome.REFUSED:
        raise ActionRefused(f"{action} refused: {receipt.entry.detail}")
    else:
        step = receipt.state.current_step if receipt.state else "?"
        console.print(
            f"[green]{action} accepted[/] (claim {said(claim_id)}, "
            f"version {receipt.entry.version}, now {step})",
            highlight=False,
        )


ClaimArg = Annotated[str, typer.Argument(help="claim id, such as CLM-1002")]
AsOption = Annotated[str, typer.Option("--as", help="your name in the approver directory")]
CommentOption = Annotated[str, typer.Option(help="reason, kept in the audit log")]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(help="refuse if the claim is no longer at this version (see `claims show`)"),
]
SignalFlag = Annotated[
    bool, typer.Option("--signal", help="send as a signal: durable even with no worker running")
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        help="sign the action with your key (`claims keys new NAME`), for the claim's version",
    ),
]


@app.command()
@command
async def approve(
    claim_id: ClaimArg,
    approver: AsOption,
    comment: CommentOption = "",
    expected_version: ExpectedVersion = None,
    confirm_zero_payout: Annotated[
        bool,
        typer.Option(
            "--confirm-zero-payout",
            help="approve a payout of 0.00: close the claim without paying anything",
        ),
    ] = False,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Approve a claim's proposed payout and message."""
    payload = {
        "approver": approver,
        "comment": comment,
        "expected_version": expected_version,
        "confirm_zero_payout": confirm_zero_payout,
    }
    await _act(HumanAction.APPROVE, claim_id, payload, as_signal, key)


@app.command()
@command
async def reject(
    claim_id: ClaimArg,
    approver: AsOption,
    comment: CommentOption = "",
    expected_version: ExpectedVersion = None,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Reject a claim."""
    payload = {"approver": approver, "comment": comment, "expected_version": expected_version}
    await _act(HumanAction.REJECT, claim_id, payload, as_signal, key)


@app.command()
@command
async def edit(
    claim_id: ClaimArg,
    approver: AsOption,
    amount: Annotated[Decimal | None, typer.Option(help="new payout amount")] = None,
    message: Annotated[str | None, typer.Option(help="new message to the claimant")] = None,
    comment: CommentOption = "",
    expected_version: ExpectedVersion = None,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Edit the proposed payout or customer message before it executes."""
    payload = {
        "approver": approver,
        # A JSON number: the claim refuses amounts sent as text.
        "payout_amount": float(amount) if amount is not None else None,
        "customer_message": message,
        "comment": comment,
        "expected_version": expected_version,
    }
    await _act(HumanAction.EDIT, claim_id, payload, as_signal, key)


@app.command("request-info")
@command
async def request_info(
    claim_id: ClaimArg,
    requested_by: AsOption,
    what: Annotated[str, typer.Option(help="what is missing")],
    from_whom: Annotated[str, typer.Option("--from", help="who should send it")] = "claimant",
    expected_version: ExpectedVersion = None,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Ask for more information; the claim waits for documents, then is reassessed."""
    payload = {
        "requested_by": requested_by,
        "what": what,
        "from_whom": from_whom,
        "expected_version": expected_version,
    }
    await _act(HumanAction.REQUEST_INFO, claim_id, payload, as_signal, key)


@app.command("submit-document")
@command
async def submit_document(
    claim_id: ClaimArg,
    doc_id: Annotated[str, typer.Option(help="document id")],
    kind: Annotated[str, typer.Option(help="document kind, such as invoice")],
    uri: Annotated[str, typer.Option(help="where the document is stored")],
    submitted_by: Annotated[str, typer.Option("--as", help="who sends it")] = "claimant",
    note: Annotated[str, typer.Option(help="a note with the document")] = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Add a document to a claim, asked for or not."""
    payload = {
        "submitted_by": submitted_by,
        "document": {"doc_id": doc_id, "kind": kind, "uri": uri},
        "note": note,
    }
    await _act(HumanAction.SUBMIT_DOCUMENT, claim_id, payload, as_signal, key)


ReasonOption = Annotated[str, typer.Option(help="why, kept in the audit log")]


async def _operate(
    action: HumanAction,
    claim_id: str,
    operator: str,
    reason: str,
    as_signal: bool,
    key: Path | None,
) -> None:
    await _act(action, claim_id, {"operator": operator, "reason": reason}, as_signal, key)


@app.command()
@command
async def pause(
    claim_id: ClaimArg,
    operator: AsOption,
    reason: ReasonOption = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Hold the agent once the step in flight is done; nothing executes until resumed."""
    await _operate(HumanAction.PAUSE, claim_id, operator, reason, as_signal, key)


@app.command()
@command
async def resume(
    claim_id: ClaimArg,
    operator: AsOption,
    reason: ReasonOption = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Let a paused claim go on."""
    await _operate(HumanAction.RESUME, claim_id, operator, reason, as_signal, key)


@app.command()
@command
async def cancel(
    claim_id: ClaimArg,
    operator: AsOption,
    reason: Annotated[str, typer.Option(help="why, kept in the audit log")],
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """End the review; nothing pending is executed."""
    await _operate(HumanAction.CANCEL, claim_id, operator, reason, as_signal, key)


@app.command()
@command
async def reassign(
    claim_id: ClaimArg,
    operator: AsOption,
    to: Annotated[str, typer.Option("--to", help="the new assignee, from the directory")],
    reason: ReasonOption = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Hand a claim to a named person."""
    payload = {"operator": operator, "assignee": to, "reason": reason}
    await _act(HumanAction.REASSIGN, claim_id, payload, as_signal, key)


@app.command()
@command
async def interrupt(
    claim_id: ClaimArg,
    operator: AsOption,
    info: Annotated[str, typer.Option(help="the new information")],
    priority: Annotated[
        int, typer.Option(help="0-100; above the current wait's priority, it pre-empts it")
    ] = 50,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Give the agent new information; the assessment restarts with it."""
    payload = {"operator": operator, "information": info, "priority": priority}
    await _act(HumanAction.INTERRUPT, claim_id, payload, as_signal, key)


@app.command()
@command
async def inbox(
    person: AsOption,
    limit: Annotated[int, typer.Option(help="most claims to list")] = 100,
) -> None:
    """What waits for this person: claims assigned to them or to a queue they serve."""
    settings = _settings()
    policy = load_review_policy_file(settings.approvers_file)
    approver = policy.find(person)
    if approver is None:
        raise UserFacingError(
            f"'{person}' is not in the approver directory {settings.approvers_file}"
        )
    queues = [level.name for level in policy.escalation_ladder if approver.role in level.roles]
    query = inbox_query([person, *queues])
    client = await build_client()
    rows = [
        ClaimRow.from_execution(execution)
        async for execution in client.list_workflows(query, limit=limit)
    ]
    if not rows:
        console.print(f"Nothing waits for {said(person)}.", highlight=False)
        return
    console.print(claims_table(rows, title=f"Waiting for {person} ({approver.role})"))


def refuse_to_overwrite(file: Path, *, force: bool) -> None:
    """An export never replaces a file (or follows a link) unless asked to."""
    if file.is_dir():
        raise UserFacingError(f"{said(file)} is a folder; name the file to write")
    if (file.exists() or file.is_symlink()) and not force:
        raise UserFacingError(f"{said(file)} already exists; choose another name or add --force")


def write_private_file(file: Path, text: str, *, force: bool) -> None:
    """Write `text` readable by its owner only, in one step: a reader never sees half of it,
    and a link at `file` is replaced, never followed."""
    refuse_to_overwrite(file, force=force)
    try:
        descriptor, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
    except OSError as error:
        raise UserFacingError(
            f"cannot write in {said(file.parent)}: {error.strerror or error}; "
            "choose a folder you can write"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        Path(temporary).replace(file)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise UserFacingError(f"cannot write {said(file)}: {error.strerror or error}") from None


@history_app.command("export")
@command
async def history_export(
    claim_id: str,
    file: Annotated[Path, typer.Argument(help="where to write the JSON")],
    decrypt: Annotated[
        bool,
        typer.Option(
            "--decrypt",
            help="write every payload decrypted, as plain JSON: personal data in clear; "
            "keep the file as carefully as the claim itself",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="replace FILE if it exists (never done silently)")
    ] = False,
) -> None:
    """Write a claim's event history as JSON, for replay tests and `temporal workflow show`.

    Payloads stay encrypted unless --decrypt is given; `claims replay` and
    `claims timeline --file` read either kind with the key ring.
    """
    from history.decoding import decode_history

    refuse_to_overwrite(file, force=force)
    client = await build_client()
    history = await claim_handle(client, claim_id).fetch_history()
    if decrypt:
        history = await decode_history(history, client.data_converter)
        err_console.print(
            f"[yellow]warning:[/] {said(file)} holds the claim's personal data in plain "
            "text; share it only with people allowed to read the claim, and delete it "
            "when done",
            highlight=False,
        )
    write_private_file(file, json.dumps(json.loads(history.to_json()), indent=1), force=force)
    kind = "decrypted" if decrypt else "encrypted"
    console.print(f"wrote {len(history.events)} events ({kind}) to {said(file)}", highlight=False)


register_history_commands(app, command)
register_console_commands(app, command)
register_encryption_key_commands(keys_app)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
audit_app.command("verify")(command(verify_command))


def _shutdown_tracing() -> None:
    """Flush the spans of a command that traced; one that did not never loads tracing."""
    tracing = sys.modules.get("runtime.tracing")
    if tracing is not None:
        tracing.shutdown_tracing()


def main() -> None:
    """The `claims` console script.

    Ends the process with os._exit once output is flushed: the Temporal SDK's native
    threads can abort interpreter finalization (temporalio/sdk-python#300), which would
    turn a finished command into a crash exit code.
    """
    code = 0
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        _shutdown_tracing()
        logging.shutdown()
    os._exit(code)
