"""`claims audit verify`: re-check every signed action of a claim from its history alone.

With a claim id the history comes from the server; with `--file` from an exported history,
offline. Each action is printed verified (by which key), unsigned or FAILED; any FAILED
makes the command exit non-zero.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from cli.base import KeysOption, file_converter
from runtime.errors import UserFacingError
from runtime.text import printable

audit_app = typer.Typer(
    help="Check who decided what, from the history alone.", no_args_is_help=True
)
console = Console()


class AuditFailedError(UserFacingError):
    """At least one signed action does not verify."""


async def verify_command(
    claim_id: Annotated[
        str | None, typer.Argument(metavar="CLAIM_ID", help="claim id, such as CLM-1002")
    ] = None,
    files: Annotated[
        list[Path] | None,
        typer.Option(
            "--file",
            metavar="FILE",
            help="an exported history (`claims history export`): offline; give it once for "
            "each run an `--every-run` export wrote, the first run's first",
        ),
    ] = None,
    keys: KeysOption = None,
) -> None:
    """Re-check every signature in a claim's history; exit non-zero on any mismatch.

    Example: claims audit verify CLM-1002

    Example: claims audit verify --file CLM-1002_run_1.json --file CLM-1002.json
    """
    from history.audit import AuditReport, Verdict, audit_history
    from history.replay import HistoryFileError, load_decoded_history

    if (claim_id is None) == (not files):
        raise UserFacingError(
            "name a claim (`claims audit verify CLM-1002`) or an exported history "
            "(`claims audit verify --file CLM-1002.json`), one of the two"
        )
    if files:
        converter = file_converter(keys)
        histories = []
        for file in files:
            try:
                histories.append(await load_decoded_history(file, converter))
            except HistoryFileError as error:
                raise UserFacingError(
                    f"{printable(str(file))}: {error}; export one with "
                    "`claims history export CLAIM_ID FILE`"
                ) from None
        claims = sorted({history.workflow_id for history in histories})
        if len(claims) > 1:
            raise UserFacingError(
                f"the files are histories of {len(claims)} workflows "
                f"({', '.join(printable(c) for c in claims)}); verify one claim's runs at a time"
            )
        workflow_id, runs = claims[0], [list(history.events) for history in histories]
    else:
        from history.runs import fetch_every_run
        from runtime.client import build_client
        from signals.client import claim_handle

        client = await build_client()
        handle = claim_handle(client, claim_id or "")
        workflow_id = handle.id
        # Every run: a review continues as new at the approval gate, and people may act
        # in any run after it.
        runs = [list(h.events) for h in await fetch_every_run(client, workflow_id)]
    try:
        reports = [audit_history(workflow_id, events) for events in runs]
    except ValueError as error:
        raise UserFacingError(f"cannot audit it: {error}") from None
    report = AuditReport(
        claim_id=reports[-1].claim_id,
        actions=[action for run_report in reports for action in run_report.actions],
        require_signed_actions=reports[-1].require_signed_actions,
    )
    events = sum(len(run_events) for run_events in runs)
    in_runs = f" in {len(runs)} runs" if len(runs) > 1 else ""
    console.print(
        f"Signed actions of claim {escape(printable(report.claim_id))} ({events} events{in_runs}):",
        highlight=False,
    )
    styles = {Verdict.VERIFIED: "green", Verdict.UNSIGNED: "yellow", Verdict.FAILED: "bold red"}
    for action in report.actions:
        verdict = str(action.verdict)
        if action.key_id:
            verdict += f" ({'by' if action.verdict is Verdict.VERIFIED else 'key'} {action.key_id})"
        if action.detail:
            verdict += f": {action.detail}"
        line = Text(
            f"event {action.event_id}  {action.at:%Y-%m-%d %H:%M:%S}  {action.channel} "
            f"{printable(action.action)} by {printable(action.actor)}: "
        )
        line.append(printable(verdict), style=styles[action.verdict])
        console.print(line, highlight=False, soft_wrap=True)
    if not report.actions:
        console.print("No actions by people in this history.")
    if report.failed:
        raise AuditFailedError(
            f"{len(report.failed)} of {len(report.actions)} actions FAILED verification: the "
            "history does not prove who took them"
        )
    signed = sum(1 for a in report.actions if a.verdict is Verdict.VERIFIED)
    console.print(
        f"{signed} signed actions verified, {len(report.actions) - signed} unsigned"
        + (" (the policy refuses unsigned actions)" if report.require_signed_actions else ""),
        highlight=False,
    )
