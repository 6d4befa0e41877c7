"""At 80 columns the reading commands show steps, tool names and ids whole; what-if reruns
read as dry runs; help gives examples and no type names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

import cli.read_commands
from cli.main import app
from cli.render import ClaimRow, claims_table, render_state
from tests.helpers import sample_claim
from workflows.state import (
    ClaimOutcome,
    ClaimState,
    OutcomeStatus,
    PendingAction,
    PendingActionType,
    Step,
    ToolCallRecord,
)

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NARROW = {"COLUMNS": "80"}


def printed(renderable: Any, width: int = 80) -> str:
    out = StringIO()
    Console(file=out, width=width, force_terminal=False).print(renderable)
    return out.getvalue()


def waiting_state() -> ClaimState:
    """CLM-1002 waiting on approvers after two tool calls with long names."""
    state = ClaimState.begin(
        sample_claim("CLM-1002"), workflow_id="claim-CLM-1002", at=NOW, history_length=1
    )
    state.transition(Step.ASSESSING, reason="model turn", at=NOW, history_length=5)
    state.transition(Step.ROUTING, reason="assessed", at=NOW, history_length=9)
    state.transition(
        Step.AWAITING_MANAGER_APPROVAL, reason="above the limit", at=NOW, history_length=12
    )
    for name in ("check_claim_history", "screen_watchlist"):
        state.llm_state.tool_call_history.append(
            ToolCallRecord(
                name=name,
                arguments={"claim_id": "CLM-1002", "claimant_id": "CUS-1042"},
                result_summary="no earlier claims for this claimant in the last 365 days",
                duration_ms=12,
                at=NOW,
            )
        )
    state.pending_actions.append(
        PendingAction(
            type=PendingActionType.WAIT_FOR_APPROVAL,
            timeout=NOW + timedelta(days=3),
            created_at=NOW,
            trigger="signal approve, reject or request-info",
            assignee="approvers",
            assignee_roles=["claims_manager"],
        )
    )
    return state


def what_if_state(status: OutcomeStatus, payout: str) -> ClaimState:
    """A what-if rerun of CLM-1002 as ClaimWhatIfWorkflow leaves it."""
    state = ClaimState.begin(
        sample_claim("CLM-1002"), workflow_id="claim-CLM-1002-whatif-1", at=NOW, history_length=1
    )
    state.transitions[0].reason = "what-if rerun of claim-CLM-1002@v1"
    state.transition(Step.CANCELLED, reason="stopped", at=NOW, history_length=9)
    state.outcome = ClaimOutcome(
        claim_id="CLM-1002",
        status=status,
        decided_by="agent",
        payout_amount=Decimal(payout),
        currency="USD",
        decided_at=NOW,
        reason="dry run stops at the human gate: above the limit",
    )
    return state


def test_the_status_table_fits_80_columns_with_steps_amounts_and_ids_whole() -> None:
    """Every line fits 80 columns; the longest step, the claim id and the amount with its
    currency are shown whole, with no ellipsis anywhere."""
    rows = [
        ClaimRow(
            "CLM-1002",
            "awaiting_manager_approval",
            Decimal(1250),
            "USD",
            "approvers",
            NOW + timedelta(days=2),
            "Running",
        ),
        ClaimRow(
            "CLM-1004", "awaiting_manager_approval (terminated)", Decimal(80), "EUR", "", None, "X"
        ),
    ]

    text = printed(claims_table(rows, width=80))

    assert [] == [line for line in text.splitlines() if len(line) > 80]
    assert "…" not in text
    for whole in ("CLM-1002", "awaiting_manager_approval", "1,250.00 USD", "80.00 EUR"):
        assert whole in text


def test_show_fits_80_columns_with_steps_and_tool_names_whole() -> None:
    """`claims show` at 80 columns: tool names, steps and the workflow id are never cut."""
    text = printed(render_state(waiting_state(), width=80))

    assert [] == [line for line in text.splitlines() if len(line) > 80]
    assert "…" not in text
    for whole in (
        "check_claim_history",
        "screen_watchlist",
        "awaiting_manager_approval",
        "claim-CLM-1002",
    ):
        assert whole in text


@pytest.mark.parametrize(
    ("status", "payout", "expected"),
    [
        (OutcomeStatus.COMPLETED, "1250", "would pay 1,250.00 USD"),
        (OutcomeStatus.NEEDS_HUMAN, "0", "would wait for a person (dry run)"),
    ],
)
def test_a_what_if_header_reads_as_a_dry_run_never_as_a_payout(
    status: OutcomeStatus, payout: str, expected: str
) -> None:
    """The header of a what-if names it a dry run and says what it would have done."""
    text = " ".join(printed(render_state(what_if_state(status, payout)), width=200).split())

    assert "what-if (dry run)" in text
    assert expected in text
    assert "payout" not in text.split("Transitions")[0]


def test_a_what_if_row_in_status_is_labelled_a_dry_run() -> None:
    """A listed what-if rerun says dry run in its step, at any width."""
    row = ClaimRow("CLM-1002-whatif-1", "completed", Decimal(1), "USD", "", None, "Completed")
    row = ClaimRow(**{**row.__dict__, "what_if": True})

    assert "completed (dry run)" in printed(claims_table([row], width=80))
    assert "Completed (dry run)" in printed(claims_table([row], width=200), width=200)


# Every command of the reading, history, audit, key and console modules.
READING_COMMANDS = [
    ["status"],
    ["show"],
    ["inbox"],
    ["history", "export"],
    ["timeline"],
    ["replay"],
    ["rollback"],
    ["fork"],
    ["audit", "verify"],
    ["keys", "new"],
    ["keys", "rotate"],
    ["keys", "list"],
    ["console"],
    ["users", "set-password"],
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_help_gives_an_example_and_no_type_names(command: list[str]) -> None:
    """Each command's help has an example to copy, and no `<str>` or `{claim_id}`."""
    result = CliRunner().invoke(app, [*command, "--help"], env=NARROW)

    assert 0 == result.exit_code, result.output
    assert f"Example: claims {' '.join(command)}" in result.output
    for placeholder in ("<str>", "<int>", "<bool>", "<path>", "{"):
        assert placeholder not in result.output


def test_show_takes_at_version_and_still_reads_the_old_version_option(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--at-version is the documented name; --version still works for scripts but is not
    in the help, so it no longer looks like `claims --version`."""
    import history.replay

    asked: list[int] = []

    async def at_version(client: Any, claim_id: str, version: int) -> ClaimState:
        asked.append(version)
        return waiting_state()

    async def no_client() -> None:
        return None

    monkeypatch.setattr(history.replay, "state_at_version", at_version)
    monkeypatch.setattr(cli.read_commands, "build_client", no_client)
    runner = CliRunner()

    new = runner.invoke(app, ["show", "CLM-1002", "--at-version", "3"], env=NARROW)
    old = runner.invoke(app, ["show", "CLM-1002", "--version", "4"], env=NARROW)
    shown_help = runner.invoke(app, ["show", "--help"], env=NARROW).output

    assert (0, 0) == (new.exit_code, old.exit_code), new.output + old.output
    assert [3, 4] == asked
    assert "As of version 3" in new.output
    assert "--at-version" in shown_help
    assert "--version" not in shown_help.replace("--at-version", "")
