"""Reading claims: `status`, `show`, `inbox` and `history export`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import WorkflowQueryFailedError

from activities.review_policy import load_review_policy_file
from cli.base import cli_settings, command, console, err_console, said
from cli.render import ClaimRow, claims_table, render_state
from cli.status_query import claims_query, describe_filters, inbox_query, matching_count
from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.text import json_printable
from signals.client import claim_handle, query_state

app = typer.Typer()
history_app = typer.Typer(help="Export a claim's event history.", no_args_is_help=True)
AsOption = Annotated[str, typer.Option("--as", help="your name in the approver directory")]


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


@app.command()
@command
async def inbox(
    person: AsOption,
    limit: Annotated[int, typer.Option(help="most claims to list")] = 100,
) -> None:
    """What waits for this person: claims assigned to them or to a queue they serve."""
    settings = cli_settings()
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


def register_read_commands(main: typer.Typer) -> None:
    """Add the reading commands to the `claims` app."""
    main.registered_commands.extend(app.registered_commands)
    main.add_typer(history_app, name="history")
