"""The CLI sends each action as the claim expects it: numbers as numbers, flags as flags."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

import cli.main
from cli.main import app
from signals.messages import PAYLOADS, HumanAction


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[HumanAction, dict[str, Any]]]:
    calls: list[tuple[HumanAction, dict[str, Any]]] = []

    async def record(
        action: HumanAction, claim_id: str, payload: dict[str, Any], as_signal: bool
    ) -> None:
        calls.append((action, {k: v for k, v in payload.items() if v is not None}))

    monkeypatch.setattr(cli.main, "_act", record)
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
