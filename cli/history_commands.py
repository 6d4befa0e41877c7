"""`claims timeline`, `replay`, `rollback` and `fork`: a claim's history, read and rewound.

Each command parses its arguments, calls the `history` package and renders the answer.
The parts that load the workflow, the agent and its model libraries are imported inside
the commands that replay, so the rest of `claims` starts without them. Registered on the
main app by `register_history_commands`, with the same `command` wrapper as every other
command, so failures read the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.text import Text
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from cli.base import KeysOption, file_converter
from runtime.client import build_client
from runtime.codec import PayloadKeyError
from runtime.errors import UserFacingError
from runtime.settings import Settings
from runtime.text import printable

if TYPE_CHECKING:
    from workflows.state import AuditEntry

CommandWrapper = Callable[[Callable[..., Coroutine[Any, Any, None]]], Callable[..., None]]
console = Console()

RECORD_COMMAND = ".venv/bin/python -m tests.histories.record"
ClaimArg = Annotated[str, typer.Argument(metavar="CLAIM_ID", help="claim id, such as CLM-1002")]


async def timeline(
    claim_id: Annotated[
        str | None, typer.Argument(metavar="CLAIM_ID", help="claim id, such as CLM-1002")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="read an exported history (`claims history export`) instead of the server",
        ),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="RUN_ID",
            help="show this run of the claim (a review that grew long continues as new "
            "runs; the timeline lists them)",
        ),
    ] = None,
    keys: KeysOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            metavar="",
            help="print the rows as a JSON list, for scripts: event_id, at (ISO 8601), "
            "offset_seconds, kind, description, problem",
        ),
    ] = False,
) -> None:
    """Show what happened to a claim, in order: model turns, tools, people, timers, steps.

    Example: claims timeline CLM-1002

    Example: claims timeline --file CLM-1002.json --json
    """
    from cli.timeline import earlier_runs_note, is_what_if_history, timeline_json, timeline_table
    from history.replay import HistoryFileError, load_decoded_history
    from history.runs import (
        EarlierRun,
        earlier_runs,
        fetch_latest_runs,
        fetch_run_history,
        parse_run_id,
    )
    from history.timeline import Kind, runs_timeline_rows
    from signals.client import claim_handle

    if (claim_id is None) == (file is None):
        raise UserFacingError(
            "name a claim (`claims timeline CLM-1002`) or an exported history "
            "(`claims timeline --file CLM-1002.json`), one of the two"
        )
    earlier: list[EarlierRun] = []
    more = False
    audit_log: list[AuditEntry] | None = None
    if file is not None:
        if run is not None:
            raise UserFacingError(
                "--run picks a run of a claim on the server; an exported file is one run already"
            )
        try:
            events = list((await load_decoded_history(file, file_converter(keys))).events)
            runs = [events]
        except HistoryFileError as error:
            raise UserFacingError(
                f"{file}: {error}; export one with `claims history export CLAIM_ID FILE`"
            ) from None
        title = f"Timeline of {printable(file.name)}"
    else:
        assert claim_id is not None
        run_id = parse_run_id(run) if run is not None else None
        client = await build_client()
        workflow_id = claim_handle(client, claim_id).id
        if run_id is None:
            # The current run, after the one it continued from: the wait at the approval
            # gate and the assessment before it.
            runs = [list(h.events) for h in await fetch_latest_runs(client, workflow_id)]
        else:
            chosen = await fetch_run_history(client, workflow_id, run_id, f"run {run_id}")
            runs = [list(chosen.events)]
        events = [event for run_events in runs for event in run_events]
        title = f"Timeline of claim {printable(claim_id)} ({printable(workflow_id)})" + (
            f", run {run_id}" if run_id else ""
        )
        earlier, more = await earlier_runs(client, workflow_id, runs[0][0])
        audit_log = await _audit_log(client, workflow_id)
        if is_what_if_history(events):
            title = f"Timeline of a what-if (dry run): {printable(workflow_id)}" + (
                f", run {run_id}" if run_id else ""
            )
    rows = runs_timeline_rows(runs, audit_log)
    if as_json:
        print(timeline_json(rows))
        return
    console.print(
        timeline_table(
            rows, title=f"{title}: {len(events)} events, {len(rows)} shown", width=console.width
        )
    )
    if any(row.kind is Kind.SIGNAL for row in rows) and audit_log is None:
        console.print(
            Text(
                "Signals are checked by the claim when they arrive; whether each was accepted "
                "or refused is in the audit log of `claims show`.",
                style="dim",
            )
        )
    if earlier:
        assert claim_id is not None
        console.print(Text(earlier_runs_note(claim_id, earlier, more)))


async def replay(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE...",
            help="history JSON files, from `claims history export` or "
            "`temporal workflow show --output json`",
        ),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", metavar="FOLDER", help="replay every *.json file in this folder"),
    ] = None,
    keys: KeysOption = None,
) -> None:
    """Replay exported histories against today's workflow code; fail if any would not resume.

    Example: claims replay --dir tests/histories --keys tests/test-keys.json
    """
    from history.replay import describe, history_paths, replay_files

    if directory is not None and not directory.is_dir():
        raise UserFacingError(f"{directory} is not a folder; give one such as tests/histories")
    paths = history_paths(files or [], directory)
    if not paths:
        raise UserFacingError(
            "no histories to replay; name JSON files or a folder, such as "
            "`claims replay --dir tests/histories`"
        )
    reports = await replay_files(paths, file_converter(keys))
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


async def _audit_log(client: Client, workflow_id: str) -> list[AuditEntry] | None:
    """The claim's audit log, which says whether each signal was accepted or refused; None
    when the claim cannot answer (no worker running): the timeline then says where to look."""
    from signals.client import query_state

    try:
        state = await query_state(client.get_workflow_handle(workflow_id), timedelta(seconds=5))
    except (RPCError, WorkflowQueryFailedError, PayloadKeyError):
        return None
    return list(state.audit_log)


async def rollback(
    claim_id: ClaimArg,
    to_version: Annotated[
        int, typer.Option("--to-version", metavar="N", help="version to go back to")
    ],
    reason: Annotated[str, typer.Option(metavar="TEXT", help="why, kept with the reset")],
    reapply_signals: Annotated[
        bool,
        typer.Option(help="replay the signals and updates received after that version"),
    ] = False,
    operator: Annotated[
        str | None,
        typer.Option(
            "--as",
            metavar="NAME",
            help="who rolls back, for the claim's audit log (default: your login name)",
        ),
    ] = None,
) -> None:
    """Reset a claim to a version (Temporal reset); the agent re-runs from there.

    Example: claims rollback CLM-1004 --to-version 7 --reason "wrong reject" --as maria
    """
    from cli.rewind import rolled_back
    from history.rollback import rollback as roll_back

    client = await build_client()
    result = await roll_back(
        client, claim_id, to_version, reason, reapply_signals, operator=operator
    )
    console.print(Text(rolled_back(claim_id, to_version, result, reapply_signals)))


async def fork(
    claim_id: ClaimArg,
    at_version: Annotated[
        int, typer.Option("--at-version", metavar="N", help="version to start from")
    ],
    llm: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL", help="model for the rerun, like CLAIMS_LLM (openai:MODEL_NAME)"
        ),
    ] = None,
    settings_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="review policy change, e.g. auto_approval_limit=2000"
        ),
    ] = None,
) -> None:
    """Rerun a claim from a version under other conditions, as a dry run, and compare.

    Example: claims fork CLM-1002 --at-version 1 --set auto_approval_limit=2000
    """
    from activities.review_policy import load_review_policy_file
    from cli.rewind import comparison
    from history.fork import check_overrides, parse_overrides
    from history.fork import fork as rerun_what_if

    settings = Settings.from_env()
    overrides = parse_overrides(settings_ or [])
    check_overrides(load_review_policy_file(settings.approvers_file), overrides)
    client = await build_client()
    result = await rerun_what_if(
        client,
        claim_id,
        at_version,
        task_queue=settings.task_queue,
        llm=llm,
        overrides=overrides,
    )
    console.print(comparison(result))
    shown = printable(result.workflow_id.removeprefix("claim-"))
    console.print(
        Text(
            f"Inspect it: claims show {shown} (a dry run: side effects were recorded, not executed)"
        )
    )


def register_history_commands(app: typer.Typer, command: CommandWrapper) -> None:
    """Add `timeline`, `replay`, `rollback` and `fork` to the `claims` app."""
    for fn in (timeline, replay, rollback, fork):
        app.command()(command(fn))
