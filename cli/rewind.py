"""What `claims rollback` and `claims fork` print: the run reset, and original against what-if."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from history.rollback import RollbackResult
from runtime.text import printable
from workflows.claim import money
from workflows.state import ClaimState

if TYPE_CHECKING:  # the fork module loads the workflow; a rollback needs none of it
    from history.fork import ForkResult


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
    if result.recorded:
        text += "; recorded in the claim's audit log as rolled_back, with the reason"
    else:
        text += (
            "; the new run finished before the rollback reached its audit log: the reason "
            "is kept with the reset in Temporal"
        )
    return text
