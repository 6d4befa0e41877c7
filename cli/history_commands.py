"""`claims timeline` and `claims replay`: a claim's history, read by people and by the code.

Registered on the main app by `register_history_commands`, with the same `command`
wrapper as every other command, so failures read the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from cli.replay import HistoryFileError, describe, history_paths, load_history, replay_files
from cli.timeline import Kind, timeline_rows, timeline_table
from runtime.client import build_client
from runtime.errors import UserFacingError
from signals.client import claim_handle

CommandWrapper = Callable[[Callable[..., Coroutine[Any, Any, None]]], Callable[..., None]]
console = Console()

RECORD_COMMAND = ".venv/bin/python -m tests.histories.record"


async def timeline(
    claim_id: Annotated[str | None, typer.Argument(help="claim id, such as CLM-1002")] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="read an exported history (`claims history export`) instead of the server",
        ),
    ] = None,
) -> None:
    """Show what happened to a claim, in order: model turns, tools, people, timers, steps."""
    if (claim_id is None) == (file is None):
        raise UserFacingError(
            "name a claim (`claims timeline CLM-1002`) or an exported history "
            "(`claims timeline --file CLM-1002.json`), one of the two"
        )
    if file is not None:
        try:
            events = load_history(file).events
        except HistoryFileError as error:
            raise UserFacingError(
                f"{file}: {error}; export one with `claims history export CLAIM_ID FILE`"
            ) from None
        title = f"Timeline of {file.name}"
    else:
        assert claim_id is not None
        client = await build_client()
        handle = claim_handle(client, claim_id)
        events = (await handle.fetch_history()).events
        title = f"Timeline of claim {claim_id} ({handle.id})"
    rows = timeline_rows(events)
    console.print(timeline_table(rows, title=f"{title}: {len(events)} events, {len(rows)} shown"))
    if any(row.kind is Kind.SIGNAL for row in rows):
        console.print(
            Text(
                "Signals are checked by the claim when they arrive; whether each was accepted "
                "or refused is in the audit log of `claims show`.",
                style="dim",
            )
        )


async def replay(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="history JSON files, from `claims history export` or "
            "`temporal workflow show --output json`"
        ),
    ] = None,
    directory: Annotated[
        Path | None, typer.Option("--dir", help="replay every *.json file in this folder")
    ] = None,
) -> None:
    """Replay exported histories against today's workflow code; fail if any would not resume."""
    if directory is not None and not directory.is_dir():
        raise UserFacingError(f"{directory} is not a folder; give one such as tests/histories")
    paths = history_paths(files or [], directory)
    if not paths:
        raise UserFacingError(
            "no histories to replay; name JSON files or a folder, such as "
            "`claims replay --dir tests/histories`"
        )
    reports = await replay_files(paths)
    for report in reports:
        console.print(Text(describe(report), style="" if report.ok else "red"))
    unreadable = [r for r in reports if not r.ok and r.events == 0]
    broken = [r for r in reports if not r.ok and r.events > 0]
    problems = []
    if unreadable:
        problems.append(
            f"{len(unreadable)} of {len(reports)} files are not readable ClaimReviewWorkflow "
            "histories; export them with `claims history export CLAIM_ID FILE`"
        )
    if broken:
        problems.append(
            f"{len(broken)} of {len(reports)} histories do not replay against the current "
            "ClaimReviewWorkflow, so claims like them could not resume after a deploy; make "
            "the change safe for them with `workflow.patched(...)`, or, if it is intended and "
            f"no running claim is affected, re-record the corpus with `{RECORD_COMMAND}`"
        )
    if problems:
        raise UserFacingError(". ".join(problems))
    replays = "the history replays" if len(reports) == 1 else f"all {len(reports)} histories replay"
    console.print(f"[green]{replays}[/]", highlight=False)


def register_history_commands(app: typer.Typer, command: CommandWrapper) -> None:
    """Add `timeline` and `replay` to the `claims` app."""
    app.command()(command(timeline))
    app.command()(command(replay))
