"""Every `claims` command that connects says where, once, on stderr; `--address` and
`--namespace` choose the server over Temporal's env config; `--version` and `--help`
answer without a server."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest
import temporalio.client
from typer.testing import CliRunner

import cli.action_commands
from cli.main import app
from runtime.client import ConnectionChoice, chosen_connection

ACTIONS = [
    "approve",
    "reject",
    "edit",
    "request-info",
    "submit-document",
    "pause",
    "resume",
    "cancel",
    "reassign",
    "interrupt",
]


class FakeClient:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Connections are recorded and answered by a stand-in; actions send nothing."""
    calls: list[dict[str, Any]] = []

    async def connect(**config: Any) -> FakeClient:
        calls.append(config)
        return FakeClient(config.get("namespace", "default"))

    async def send(*_args: Any) -> None:
        return None

    monkeypatch.setattr(temporalio.client.Client, "connect", connect)
    monkeypatch.setattr(cli.action_commands, "_send", send)
    return calls


def test_address_and_namespace_options_choose_the_server_and_are_named_once_on_stderr(
    connects: list[dict[str, Any]],
) -> None:
    """--address/--namespace reach the connection; stderr names them once; stdout stays clean."""
    result = CliRunner().invoke(
        app,
        ["--address", "10.9.8.7:7233", "--namespace", "claims", "approve", "CLM-1", "--as", "x"],
    )

    assert 0 == result.exit_code, result.output
    assert [("10.9.8.7:7233", "claims")] == [(c["target_host"], c["namespace"]) for c in connects]
    assert "Temporal 10.9.8.7:7233, namespace claims\n" == result.stderr
    assert "" == result.stdout


def test_without_options_temporal_env_config_chooses_the_server(
    connects: list[dict[str, Any]],
) -> None:
    """TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE stay the default, and are named as well."""
    env = {"TEMPORAL_ADDRESS": "10.1.1.1:7233", "TEMPORAL_NAMESPACE": "review"}

    result = CliRunner(env=env).invoke(app, ["pause", "CLM-1", "--as", "lee"])

    assert 0 == result.exit_code, result.output
    assert [("10.1.1.1:7233", "review")] == [(c["target_host"], c["namespace"]) for c in connects]
    assert "Temporal 10.1.1.1:7233, namespace review\n" == result.stderr


def test_the_choice_ends_with_the_command(connects: list[dict[str, Any]]) -> None:
    """A later client in the same process (a test, a library caller) is not redirected."""
    CliRunner().invoke(app, ["--address", "10.9.8.7:7233", "resume", "CLM-1", "--as", "lee"])

    assert ConnectionChoice() == chosen_connection()


def test_version_prints_the_installed_version() -> None:
    """`claims --version` answers from the package metadata, with no server."""
    result = CliRunner().invoke(app, ["--version"])

    assert 0 == result.exit_code
    assert f"claims {metadata.version('claim-review-agent')}\n" == result.stdout


def test_top_level_help_lists_the_environment_and_an_example() -> None:
    """--help names the variables that matter, the global options and an example."""
    result = CliRunner().invoke(app, ["--help"])
    text = " ".join(result.stdout.split())

    for name in (
        "--address",
        "--namespace",
        "--version",
        "TEMPORAL_ADDRESS",
        "TEMPORAL_NAMESPACE",
        "CLAIMS_DATA_DIR",
        "CLAIMS_KEYS_FILE",
        "CLAIMS_LLM",
        "Example:",
    ):
        assert name in text
    assert "<bool>" not in text


@pytest.mark.parametrize("action", ACTIONS)
def test_action_help_shows_an_example_and_no_type_names(action: str) -> None:
    """Each action's help has an example and words to type, not `<bool>` or `{claim_id}`."""
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, [action, "--help"])

    assert 0 == result.exit_code
    assert f"claims {action} CLM-" in result.stdout
    assert "Example:" in result.stdout
    for python_word in ("<bool>", "<str>", "<int>", "<path>", "{claim_id}"):
        assert python_word not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_help_of_a_flag_and_a_valued_option_reads_as_typed() -> None:
    """A flag shows no type; --as shows NAME and --key FILE, what a person types there."""
    result = CliRunner().invoke(app, ["approve", "--help"])
    rows = [line.strip("│ *").split() for line in result.stdout.splitlines()]
    lines = {row[0]: row for row in rows if row and row[0].startswith("--")}

    assert ["--as", "NAME"] == lines["--as"][:2]
    assert ["--key", "FILE"] == lines["--key"][:2]
    assert ["--signal", "send"] == lines["--signal"][:2]
