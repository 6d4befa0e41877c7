"""The CLI sends each action as the claim expects it: numbers as numbers, flags as flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import cli.action_commands
from cli.main import app
from signals.messages import PAYLOADS, HumanAction


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[HumanAction, dict[str, Any]]]:
    calls: list[tuple[HumanAction, dict[str, Any]]] = []

    async def record(
        action: HumanAction,
        claim_id: str,
        payload: dict[str, Any],
        as_signal: bool,
        key: Path | None = None,
    ) -> None:
        sent = {k: v for k, v in payload.items() if v is not None}
        calls.append((action, sent | ({"key": str(key)} if key else {})))

    monkeypatch.setattr(cli.action_commands, "_act", record)
    return calls


def test_an_edited_amount_travels_as_a_number_the_claim_accepts(
    sent: list[tuple[HumanAction, dict[str, Any]]],
) -> None:
    """The claim refuses amounts sent as text, so the CLI must not send one."""
    result = CliRunner().invoke(app, ["edit", "CLM-1002", "--as", "maria", "--amount", "1000.50"])

    assert 0 == result.exit_code, result.output
    [(action, payload)] = sent
    assert isinstance(payload["payout_amount"], float)
    assert "1000.50" == f"{PAYLOADS[action].model_validate(payload).payout_amount:.2f}"  # type: ignore[attr-defined]


def test_approving_a_zero_payout_is_said_explicitly(
    sent: list[tuple[HumanAction, dict[str, Any]]],
) -> None:
    """--confirm-zero-payout is the only way the CLI closes a claim paying nothing."""
    runner = CliRunner()
    runner.invoke(app, ["approve", "CLM-1002", "--as", "maria"])
    runner.invoke(app, ["approve", "CLM-1002", "--as", "maria", "--confirm-zero-payout"])

    assert [False, True] == [payload["confirm_zero_payout"] for _, payload in sent]


def test_every_action_command_hands_its_key_to_the_one_place_that_signs(
    sent: list[tuple[HumanAction, dict[str, Any]]],
) -> None:
    """--key reaches the sender for approve, pause and reassign alike, where signing happens."""
    runner = CliRunner()
    runner.invoke(app, ["approve", "CLM-1002", "--as", "maria", "--key", "/k/maria.key"])
    runner.invoke(app, ["pause", "CLM-1002", "--as", "lee", "--key", "/k/lee.key"])
    runner.invoke(
        app, ["reassign", "CLM-1002", "--as", "lee", "--to", "sam", "--key", "/k/lee.key"]
    )

    assert ["/k/maria.key", "/k/lee.key", "/k/lee.key"] == [p["key"] for _, p in sent]
