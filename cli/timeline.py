"""A claim's timeline on the terminal: the rows of `history.timeline` as a table or JSON.

Every cell and the title are literal text: nothing from a history is read as markup.
Narrower than `WIDE` the offset column goes and the time shows without the date, so the
description keeps most of 80 columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from rich.table import Table
from rich.text import Text
from temporalio.api.history.v1 import HistoryEvent

from cli.status_query import WHAT_IF_WORKFLOW_TYPE
from history.runs import EarlierRun
from history.timeline import Kind, TimelineRow, format_offset
from runtime.text import json_printable, printable

WIDE = 120


def timeline_table(rows: Sequence[TimelineRow], title: str, width: int = WIDE) -> Table:
    """Every cell and the title literal text: nothing is ever read as markup."""
    wide = width >= WIDE
    table = Table(title=Text(title), title_justify="left")
    table.add_column("time (UTC)", no_wrap=True)
    if wide:
        table.add_column("offset", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what happened", overflow="fold")
    for row in rows:
        style = "red" if row.problem else ("yellow" if row.kind is Kind.STEP else "")
        cells = [Text(f"{row.at:%Y-%m-%d %H:%M:%S}" if wide else f"{row.at:%H:%M:%S}")]
        if wide:
            cells.append(Text(format_offset(row.offset)))
        cells.append(Text(str(row.kind), style=style))
        cells.append(Text(row.description, style="red" if row.problem else ""))
        table.add_row(*cells)
    return table


def timeline_json(rows: Sequence[TimelineRow]) -> str:
    """The rows as a JSON list, printable: the shape `claims timeline --json` documents."""
    document = [
        {
            "event_id": row.event_id,
            "at": row.at.isoformat(),
            "offset_seconds": row.offset.total_seconds(),
            "kind": str(row.kind),
            "description": row.description,
            "problem": row.problem,
        }
        for row in rows
    ]
    return json_printable(json.dumps(document, indent=2))


def is_what_if_history(events: Sequence[HistoryEvent]) -> bool:
    """A history of a what-if rerun (`claims fork`): a dry run, not the claim's review."""
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        return False
    started = events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name == WHAT_IF_WORKFLOW_TYPE


def earlier_runs_note(claim_id: str, runs: list[EarlierRun], more: bool) -> str:
    """The runs before the one shown, newest first, and how to show one."""
    lines = [
        f"The oldest run shown continued from {len(runs)}{' or more' if more else ''} earlier "
        f"run{'s' if len(runs) > 1 or more else ''} (newest first):"
    ]
    for earlier in runs:
        when = (
            f"started {earlier.started_at:%Y-%m-%d %H:%M:%S} UTC"
            if earlier.started_at
            else "its history is no longer on the server"
        )
        lines.append(f"  {earlier.run_id}  {when}")
    if more:
        lines.append("  ... and older runs; show the oldest listed to see more")
    lines.append(f"Show one with `claims timeline {printable(claim_id)} --run RUN_ID`.")
    return "\n".join(lines)
