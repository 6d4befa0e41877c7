"""`claims rollback` and `claims fork`: go back to a version, or rerun from it what-if."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from activities.review_policy import load_review_policy_file
from runtime.client import build_client
from runtime.rewind import (
    ForkResult,
    RollbackResult,
    check_overrides,
    fork,
    parse_overrides,
    rollback,
)
from runtime.settings import Settings
from runtime.text import printable
from workflows.claim import money
from workflows.state import ClaimState


def comparison(result: ForkResult) -> Table:
    """Original against what-if, side by side, for the questions a reviewer asks."""
    table = Table(title=Text(f"What-if: {printable(result.workflow_id)}"), title_justify="left")
    for column in ("", "original", "what-if"):
        table.add_column(column)

    def describe(state: ClaimState) -> list[str]:
        ctx = state.context
        assessment = ctx.assessment
        routing = ctx.routing
        outcome = state.outcome
        model = (
            state.llm_state.reasoning_trace[-1].call.model
            if state.llm_state.reasoning_trace
            else ""
        )
        return [
            f"{state.current_step}"
            + (
                f" ({outcome.status})"
                if outcome and str(outcome.status) != str(state.current_step)
                else ""
            ),
            model,
            f"{assessment.recommendation} ({assessment.confidence:.2f})" if assessment else "none",
            ("auto-approve" if routing.auto_approve else "human decision") if routing else "",
            "; ".join(routing.reasons) if routing else "",
            money(ctx.proposal.payout_amount) if ctx.proposal else "",
        ]

    labels = ["outcome", "model", "recommendation", "routing", "why", "proposed payout"]
    for label, before, after in zip(
        labels, describe(result.original), describe(result.what_if), strict=True
    ):
        style = "" if before == after else "bold yellow"
        table.add_row(label, Text(before), Text(after, style=style))
    return table


def rolled_back(claim_id: str, version: int, result: RollbackResult, reapply_signals: bool) -> str:
    """What a rollback did, naming the run it reset when that was an earlier one."""
    text = (
        f"claim-{printable(claim_id)} rolled back to version {version}; new run {result.new_run_id}"
    )
    if result.earlier_run:
        text += (
            f" (version {version} was in the earlier {result.reset_run}, which was reset; "
            "the run that was current has ended)"
        )
    if reapply_signals:
        text += " (later signals re-applied)"
    return text


def register(
    app: typer.Typer, console: Console, run: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    """Add the commands to the `claims` app."""

    @app.command("rollback")
    def rollback_command(
        claim_id: Annotated[str, typer.Argument(help="claim id, such as CLM-1002")],
        to_version: Annotated[int, typer.Option("--to-version", help="version to go back to")],
        reason: Annotated[str, typer.Option(help="why, kept with the reset")],
        reapply_signals: Annotated[
            bool,
            typer.Option(help="replay the signals and updates received after that version"),
        ] = False,
    ) -> None:
        """Reset a claim to a version (Temporal reset); the agent re-runs from there."""

        async def go() -> None:
            client = await build_client()
            result = await rollback(client, claim_id, to_version, reason, reapply_signals)
            console.print(Text(rolled_back(claim_id, to_version, result, reapply_signals)))

        run(go())

    @app.command("fork")
    def fork_command(
        claim_id: Annotated[str, typer.Argument(help="claim id, such as CLM-1002")],
        at_version: Annotated[int, typer.Option("--at-version", help="version to start from")],
        llm: Annotated[
            str | None, typer.Option(help="model for the rerun, like CLAIMS_LLM (openai:<model>)")
        ] = None,
        settings_: Annotated[
            list[str] | None,
            typer.Option("--set", help="review policy change, e.g. auto_approval_limit=2000"),
        ] = None,
    ) -> None:
        """Rerun a claim from a version under other conditions, as a dry run, and compare."""

        async def go() -> None:
            settings = Settings.from_env()
            overrides = parse_overrides(settings_ or [])
            check_overrides(load_review_policy_file(settings.approvers_file), overrides)
            client = await build_client()
            result = await fork(
                client,
                claim_id,
                at_version,
                task_queue=settings.task_queue,
                llm=llm,
                overrides=overrides,
            )
            console.print(comparison(result))
            what_if = printable(result.workflow_id.removeprefix("claim-"))
            console.print(
                Text(
                    f"Inspect it: claims show {what_if} (side effects were recorded, not executed)"
                )
            )

        run(go())
