"""Reading claims: `status`, `show`, `inbox` and `history export`.

With `--json`, `status` and `inbox` print a list of claims (`ClaimRow.as_json`) and `show`
the state document; stdout then holds the document alone, notes go to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import Client, WorkflowQueryFailedError

from activities.review_policy import load_review_policy_file
from cli.base import cli_settings, command, console, err_console, said
from cli.render import ClaimRow, claims_table, render_state
from cli.status_query import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    PageCursor,
    claims_query,
    current_runs,
    describe_filters,
    inbox_query,
    list_page,
    matching_count,
    page_note,
)
from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.private_files import refuse_to_overwrite, write_private_file
from runtime.text import json_printable
from signals.client import claim_handle, query_state

app = typer.Typer()
history_app = typer.Typer(help="Export a claim's event history.", no_args_is_help=True)
AsOption = Annotated[
    str, typer.Option("--as", metavar="NAME", help="your name in the approver directory")
]
LimitOption = Annotated[
    int, typer.Option(metavar="N", help=f"claims per page, at most {MAX_PAGE_SIZE}")
]
PageTokenOption = Annotated[
    str | None,
    typer.Option(
        metavar="TOKEN",
        help="show the page after the one that printed TOKEN (same command, same filters)",
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json",
        metavar="",
        help="print a JSON list of claims instead of the table, for scripts: claim_id, "
        "workflow_id, step, amount (a decimal string), currency, waiting_on, deadline "
        "(ISO 8601), status, what_if",
    ),
]


async def _listed(client: Client, query: str, page: PageCursor) -> tuple[list[ClaimRow], int]:
    """The claims one page of a list query holds, one row per claim, and how many runs
    the page held; `page.next_token` then says where the next page starts."""
    executions = await list_page(client, query, page)
    runs = await current_runs(client, executions)
    return [ClaimRow.from_execution(r.execution, r.currency) for r in runs], len(executions)


def _print_json(rows: list[ClaimRow]) -> None:
    """Only the document on stdout, printable whatever the claims hold."""
    print(json_printable(json.dumps([row.as_json() for row in rows], indent=2)))


async def _print_page_note(
    client: Client, query: str, page: PageCursor, fetched: int, *, as_json: bool
) -> None:
    """Under a page that is not the whole listing: which claims of how many (one count
    request), and the token of the next page, whole on a line of its own."""
    if page.next_token is None and page.offset == 0:
        return
    total = await matching_count(client, query)
    # Beside a JSON document the note goes to stderr, so stdout stays the document.
    for line in page_note(page, fetched, total):
        (err_console if as_json else console).print(line, highlight=False, soft_wrap=True)


@app.command()
@command
async def status(
    limit: LimitOption = PAGE_SIZE,
    step: Annotated[
        str | None,
        typer.Option(metavar="STEP", help="only claims at this step, such as completed"),
    ] = None,
    assignee: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="only claims waiting on this person or queue"),
    ] = None,
    overdue: Annotated[
        bool,
        typer.Option(
            "--overdue", metavar="", help="only claims waiting on a person past the deadline"
        ),
    ] = False,
    running: Annotated[
        bool,
        typer.Option("--running/--all", metavar="", help="only claims still under review, or all"),
    ] = False,
    what_ifs: Annotated[
        bool,
        typer.Option(
            "--what-ifs", metavar="", help="list what-if reruns (`claims fork`) too, as dry runs"
        ),
    ] = False,
    as_json: JsonOption = False,
    page_token: PageTokenOption = None,
) -> None:
    """List claims, one row each: step, amount, who they wait on, the deadline.

    A page at a time, newest first: under a page that is not the whole listing, a note
    says how many claims match and gives the --page-token of the next page.

    Example: claims status --running

    Example: claims status --step awaiting_manager_approval --json
    """
    page = PageCursor.from_options(limit, page_token)
    query = claims_query(
        step=step, assignee=assignee, overdue=overdue, running_only=running, what_ifs=what_ifs
    )
    filters = describe_filters(
        step=step, assignee=assignee, overdue=overdue, running_only=running, what_ifs=what_ifs
    )
    client = await build_client()
    rows, fetched = await _listed(client, query, page)
    # Past the first page, an empty one is explained by the note below the listing.
    if as_json:
        _print_json(rows)
    elif rows:
        title = f"Claims {filters}" if filters else "Claims"
        console.print(claims_table(rows, title=title, width=console.width))
    elif filters and not page.offset:
        console.print(f"No claims {said(filters)}.", highlight=False)
    elif not page.offset:
        console.print("No claims yet. Start one with `claims start examples/claims/CLM-1002.json`.")
    await _print_page_note(client, query, page, fetched, as_json=as_json)


@app.command()
@command
async def show(
    claim_id: Annotated[str, typer.Argument(metavar="CLAIM_ID", help="claim id, such as CLM-1002")],
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="print the raw state document (JSON)")
    ] = False,
    at_version: Annotated[
        int | None,
        typer.Option(
            "--at-version",
            metavar="N",
            help="show the state as it was at version N (rebuilt by replay)",
        ),
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", hidden=True, help="the old name of --at-version")
    ] = None,
) -> None:
    """Show one claim's state document: step, waits, evidence, trace, transitions, audit.

    Example: claims show CLM-1002

    Example: claims show CLM-1002 --at-version 3 --json
    """
    if at_version is not None and version is not None and at_version != version:
        raise UserFacingError("give the version once, with --at-version")
    at = at_version if at_version is not None else version
    client = await build_client()
    try:
        if at is None:
            state = await query_state(claim_handle(client, claim_id))
        else:
            from history.replay import state_at_version

            state = await state_at_version(client, claim_id, at)
    except WorkflowQueryFailedError as error:
        raise UserFacingError(f"claim {claim_id} could not answer: {error}") from None
    if as_json:
        print(json_printable(state.model_dump_json(indent=2)))
        return
    if at is not None:
        console.print(
            f"[bold]As of version {at}[/] (replayed up to the workflow task that reached "
            f"it; versions from that task are included)",
            highlight=False,
        )
    console.print(render_state(state, width=console.width))
    if at is None:  # each notice and whether it reached anyone, from this machine's outbox
        from cli.outbox_command import print_claim_notices

        print_claim_notices(cli_settings(), claim_id, console)


@app.command()
@command
async def inbox(
    person: AsOption,
    limit: LimitOption = PAGE_SIZE,
    as_json: JsonOption = False,
    page_token: PageTokenOption = None,
) -> None:
    """What waits for a person: claims assigned to them or to a queue they serve.

    A page at a time, newest first, with a note under a page that is not the whole
    inbox, as `claims status` has.

    Example: claims inbox --as maria

    Example: claims inbox --as maria --json
    """
    settings = cli_settings()
    policy = load_review_policy_file(settings.approvers_file)
    approver = policy.find(person)
    if approver is None:
        raise UserFacingError(
            f"'{person}' is not in the approver directory {settings.approvers_file}; "
            "give a name listed there, such as --as maria"
        )
    queues = [level.name for level in policy.escalation_ladder if approver.role in level.roles]
    page = PageCursor.from_options(limit, page_token)
    query = inbox_query([person, *queues])
    client = await build_client()
    rows, fetched = await _listed(client, query, page)
    # Past the first page, an empty one is explained by the note below the listing.
    if as_json:
        _print_json(rows)
    elif rows:
        title = f"Waiting for {person} ({approver.role})"
        console.print(claims_table(rows, title=title, width=console.width))
    elif not page.offset:
        console.print(f"Nothing waits for {said(person)}.", highlight=False)
    await _print_page_note(client, query, page, fetched, as_json=as_json)


@history_app.command("export")
@command
async def history_export(
    claim_id: Annotated[str, typer.Argument(metavar="CLAIM_ID", help="claim id, such as CLM-1002")],
    file: Annotated[Path, typer.Argument(metavar="FILE", help="where to write the JSON")],
    decrypt: Annotated[
        bool,
        typer.Option(
            "--decrypt",
            metavar="",
            help="write every payload decrypted, as plain JSON: personal data in clear; "
            "keep the file as carefully as the claim itself",
        ),
    ] = False,
    every_run: Annotated[
        bool,
        typer.Option(
            "--every-run",
            metavar="",
            help="also write each earlier run of the claim beside FILE, the first as "
            "NAME_run_1.json: a review continues as new at the approval gate, so its "
            "assessment is in the run before the one that waits or decides",
        ),
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", metavar="", help="replace files that exist (never done silently)"),
    ] = False,
) -> None:
    """Write a claim's event history as JSON, for replay tests and `temporal workflow show`.

    FILE holds the claim's latest run. Payloads stay encrypted unless --decrypt is given;
    `claims replay` and `claims timeline --file` read either kind with the key ring.

    Example: claims history export CLM-1002 CLM-1002.json --every-run
    """
    from history.runs import continued_from, fetch_every_run

    refuse_to_overwrite(file, force=force)
    client = await build_client()
    workflow_id = claim_handle(client, claim_id).id
    runs = await fetch_every_run(
        client, workflow_id, most=None if every_run else 1, decoded=decrypt
    )
    earlier = [(earlier_run_file(file, n), run) for n, run in enumerate(runs[:-1], start=1)]
    for path, _ in earlier:
        refuse_to_overwrite(path, force=force)
    if decrypt:
        files = f"{said(file)} and the files beside it hold" if earlier else f"{said(file)} holds"
        err_console.print(
            f"[yellow]warning:[/] {files} the claim's personal data in plain "
            "text; share them only with people allowed to read the claim, and delete them "
            "when done",
            highlight=False,
        )
    kind = "decrypted" if decrypt else "encrypted"
    for path, history in [*earlier, (file, runs[-1])]:
        write_private_file(path, json.dumps(json.loads(history.to_json()), indent=1), force=force)
        console.print(
            f"wrote {len(history.events)} events ({kind}) to {said(path)}", highlight=False
        )
    if not every_run and continued_from(runs[-1]):
        console.print(
            f"{said(file)} holds the latest run of {said(claim_id)}, which continued from "
            f"an earlier one (the assessment, if it waits at the approval gate); add "
            f"--every-run to write the earlier runs too, as "
            f"{said(earlier_run_file(file, 1).name)} and on",
            highlight=False,
        )


def earlier_run_file(file: Path, number: int) -> Path:
    """Where the `number`th run (the first is 1) of an export to `file` goes: beside it,
    named as the replay corpus names them (`manual_approve_run_1.json`)."""
    return file.with_name(f"{file.stem}_run_{number}{file.suffix}")


def register_read_commands(main: typer.Typer) -> None:
    """Add the reading commands to the `claims` app."""
    main.registered_commands.extend(app.registered_commands)
    main.add_typer(history_app, name="history")
