"""`--json` on status, inbox and timeline: one documented list on stdout and nothing else;
listings keep one row per claim, its current run."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from typer.testing import CliRunner

import cli.read_commands
from cli.main import app
from cli.render import ClaimRow
from cli.status_query import current_runs

HISTORIES = Path(__file__).parent.parent / "histories"
TEST_KEYS = Path(__file__).parent.parent / "test-keys.json"
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
ROW_KEYS = {
    "claim_id",
    "workflow_id",
    "step",
    "amount",
    "currency",
    "waiting_on",
    "deadline",
    "status",
    "what_if",
}


@pytest.fixture
def listed(monkeypatch: pytest.MonkeyPatch) -> list[ClaimRow]:
    """The rows the list query finds, without a server; a test fills them in."""
    rows: list[ClaimRow] = []

    async def no_client() -> None:
        return None

    async def fake_listed(client: Any, query: str, limit: int) -> tuple[list[ClaimRow], int]:
        return list(rows), len(rows)

    monkeypatch.setattr(cli.read_commands, "build_client", no_client)
    monkeypatch.setattr(cli.read_commands, "_listed", fake_listed)
    return rows


def test_status_json_is_a_list_of_claims_and_nothing_else(listed: list[ClaimRow]) -> None:
    """Scripts read a list of objects with exact amounts, currencies and ISO deadlines;
    a claim's text reaches stdout escaped, never as raw control characters."""
    listed.append(
        ClaimRow(
            "CLM-1002",
            "awaiting_manager_approval",
            Decimal("1250"),
            "USD",
            "app\x1b[2Jrovers",
            NOW + timedelta(days=2),
            "Running",
            workflow_id="claim-CLM-1002",
        )
    )

    result = CliRunner().invoke(app, ["status", "--json"])

    assert 0 == result.exit_code, result.output
    assert "\x1b" not in result.stdout
    [row] = json.loads(result.stdout)
    assert ROW_KEYS == set(row)
    assert ("1250.00", "USD", "2026-11-22T09:00:00+00:00", False) == (
        row["amount"],
        row["currency"],
        row["deadline"],
        row["what_if"],
    )


def test_an_empty_listing_in_json_is_an_empty_list(listed: list[ClaimRow]) -> None:
    """No claims is `[]`, not a sentence a script would fail to parse."""
    status = CliRunner().invoke(app, ["status", "--json", "--step", "completed"])
    inbox = CliRunner().invoke(app, ["inbox", "--as", "maria", "--json"])

    assert (0, [], 0, []) == (
        status.exit_code,
        json.loads(status.stdout),
        inbox.exit_code,
        json.loads(inbox.stdout),
    ), status.output + inbox.output


def test_timeline_json_is_the_rows_of_the_timeline() -> None:
    """An exported history's timeline as JSON: one object per row, in order."""
    result = CliRunner().invoke(
        app,
        [
            "timeline",
            "--file",
            str(HISTORIES / "manual_approve.json"),
            "--keys",
            str(TEST_KEYS),
            "--json",
        ],
    )

    assert 0 == result.exit_code, result.output
    rows = json.loads(result.stdout)
    assert {"event_id", "at", "offset_seconds", "kind", "description", "problem"} == set(rows[0])
    assert "started" == rows[0]["kind"]
    assert [r["event_id"] for r in rows] == sorted(r["event_id"] for r in rows)


def execution(run_id: str, status: WorkflowExecutionStatus, workflow_id: str = "claim-A") -> Any:
    """A listed run as list_workflows returns it: only what `current_runs` reads."""

    async def memo_value(key: str, default: str = "") -> str:
        return default

    return SimpleNamespace(id=workflow_id, run_id=run_id, status=status, memo_value=memo_value)


def server(current: dict[str, str]) -> Any:
    """A client that only describes (typed Any: it stands in for temporalio's Client)."""
    return Server(current)


class Server:
    """Answers describe with the claim's current run and the summary it started with."""

    def __init__(self, current: dict[str, str]) -> None:
        self.current = current

    def get_workflow_handle(self, workflow_id: str) -> Any:
        async def static_summary() -> str:
            return "Claim A: 1,250.00 EUR property"

        async def describe() -> Any:
            return SimpleNamespace(run_id=self.current[workflow_id], static_summary=static_summary)

        return SimpleNamespace(describe=describe)


def test_a_rolled_back_claim_is_one_row_its_current_run() -> None:
    """The run a rollback replaced and the run after it share a workflow id: only the
    current one is listed, with the currency the claim started with."""
    replaced = execution("run-1", WorkflowExecutionStatus.TERMINATED)
    current = execution("run-2", WorkflowExecutionStatus.RUNNING)

    runs = asyncio.run(current_runs(server({"claim-A": "run-2"}), [current, replaced]))

    assert [("run-2", "EUR")] == [(r.execution.run_id, r.currency) for r in runs]


def test_a_claim_whose_current_run_does_not_match_is_not_listed() -> None:
    """`--step rejected` finds a rejection a rollback undid: the claim is no longer there."""
    undone = execution("run-1", WorkflowExecutionStatus.COMPLETED)

    runs = asyncio.run(current_runs(server({"claim-A": "run-2"}), [undone]))

    assert [] == runs
