"""A claim's timeline on the terminal: the rows of `history.timeline` as a table.

Every cell and the title are literal text: nothing from a history is read as markup.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from history.runs import EarlierRun
from history.timeline import Kind, TimelineRow, format_offset
from runtime.text import printable


def timeline_table(rows: Sequence[TimelineRow], title: str) -> Table:
    """Every cell and the title literal text: nothing is ever read as markup."""
    table = Table(title=Text(title), title_justify="left")
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("offset", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("what happened")
    for row in rows:
        style = "red" if row.problem else ("yellow" if row.kind is Kind.STEP else "")
        table.add_row(
            Text(f"{row.at:%Y-%m-%d %H:%M:%S}"),
            Text(format_offset(row.offset)),
            Text(str(row.kind), style=style),
            Text(row.description, style="red" if row.problem else ""),
        )
    return table


def earlier_runs_note(claim_id: str, runs: list[EarlierRun], more: bool) -> str:
    """The runs before the one shown, newest first, and how to show one."""
    lines = [
        f"This run continued from {len(runs)}{' or more' if more else ''} earlier "
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
