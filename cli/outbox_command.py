"""`claims outbox [CLAIM_ID]`: every notice, whether it reached anyone, and why not.

Reads the ledger's outbox on this machine (CLAIMS_LEDGER_DB), so it needs no Temporal
server. For the local mail sink `claims run` starts, it names the .eml file each notice
became. `claims show` lists a claim's notices the same way (`print_claim_notices`).
Nothing of the relay or the workflow is imported until the command runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.base import cli_settings, console, err_console, said
from runtime.errors import UserFacingError
from runtime.settings import Settings
from runtime.text import printable

if TYPE_CHECKING:
    from activities.notice_delivery import OutboxRow

MAX_ROWS = 1_000
STATUS_STYLE = {"sent": "green", "pending": "yellow", "failed": "red", "skipped": "dim"}


def outbox_rows(settings: Settings, claim_id: str | None, limit: int) -> list[OutboxRow]:
    """The notices in this machine's ledger; none when there is no ledger yet."""
    from activities.notice_delivery import Outbox

    if not settings.ledger_db.exists():
        return []
    return Outbox(settings.ledger_db).rows(claim_id, limit)


def sink_file(settings: Settings, notice_id: str) -> str:
    """The .eml files the local sink wrote for a notice, by name; empty if none."""
    from activities.mail import SINK_DIR_NAME, sink_files

    files = sink_files(settings.data_dir / SINK_DIR_NAME, notice_id)
    return ", ".join(str(f) for f in files)


def notices_table(settings: Settings, rows: list[OutboxRow], *, title: str) -> Table:
    """One line per notice: status, attempts, last error or the sink's file."""
    table = Table(title=title, title_justify="left")
    for column in ("Notice", "Claim", "To", "Subject", "Status", "Tries", "Error / file"):
        table.add_column(column, overflow="fold", no_wrap=column == "Notice")
    for row in rows:
        style = STATUS_STYLE.get(row.status, "")
        detail = row.last_error or sink_file(settings, row.notice_id)
        table.add_row(
            said(row.notice_id),
            said(row.claim_id),
            said(row.recipient),
            said(row.subject),
            f"[{style}]{said(row.status)}[/]" if style else said(row.status),
            str(row.attempts),
            said(detail),
        )
    return table


def as_json(settings: Settings, row: OutboxRow) -> dict[str, object]:
    return {
        "notice_id": row.notice_id,
        "claim_id": row.claim_id,
        "recipient": row.recipient,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
        "delivered_at": row.delivered_at,
        "sink_file": sink_file(settings, row.notice_id) or None,
    }


def print_claim_notices(settings: Settings, claim_id: str, out: Console) -> None:
    """A claim's notices under its state in `claims show`; a note, never a failure."""
    try:
        rows = outbox_rows(settings, claim_id, MAX_ROWS)
    except UserFacingError as error:
        err_console.print(f"notices not shown: {said(error)}", highlight=False, soft_wrap=True)
        return
    if rows:
        out.print(notices_table(settings, rows, title="Notices"))


def outbox(
    claim_id: Annotated[
        str | None, typer.Argument(metavar="[CLAIM_ID]", help="only this claim's notices")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", metavar="N", min=1, max=MAX_ROWS, help="newest N notices")
    ] = 50,
    json_output: Annotated[
        bool, typer.Option("--json", metavar="", help="print the notices as JSON")
    ] = False,
) -> None:
    """List notices, newest first: sent, pending (with attempts and the last error) or failed.

    Example: claims outbox CLM-1002
    """
    settings = cli_settings()
    if claim_id is not None and (len(claim_id) > 64 or not claim_id.isprintable()):
        err_console.print(
            f"error: claim id {said(printable(claim_id)[:64])} is not a claim id; give one "
            "such as CLM-1002",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    try:
        rows = outbox_rows(settings, claim_id, limit)
    except UserFacingError as error:
        err_console.print(f"error: {said(error)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if json_output:
        print(json.dumps([as_json(settings, r) for r in rows], indent=2))
        return
    if not rows:
        where = f" for {said(claim_id)}" if claim_id else ""
        console.print(f"No notices{where} in {said(settings.ledger_db)}.", highlight=False)
        return
    console.print(notices_table(settings, rows, title=f"Outbox ({said(settings.ledger_db)})"))


def register_outbox_command(app: typer.Typer) -> None:
    """Add `outbox` to the `claims` app."""
    app.command("outbox")(outbox)


__all__ = ["print_claim_notices", "register_outbox_command"]
