"""`claims eval` refuses options it cannot use before it connects to anything.

Each case sends one option wrong; the answer names the option and what to write, exits 1,
and no evaluation starts (the address points at a port nothing listens on, so a command
that got as far as connecting would say so instead).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.eval_command import build_request
from cli.main import app
from runtime.settings import PROJECT_ROOT, Settings
from workflows.evaluation import EvalSource, EvalSourceKind

DATASET = str(PROJECT_ROOT / "examples" / "eval")
NOWHERE = "127.0.0.1:1"


def eval_with(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--address", NOWHERE, "eval", *args])
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((), "say where the decided claims come from"),
        (
            ("--dataset", DATASET, "--query", "ExecutionStatus='Completed'"),
            "got --dataset and --query",
        ),
        (("--dataset", "/no/such/folder"), "--dataset /no/such/folder does not exist"),
        (("--query", "   "), "--query must be a printable list query"),
        (
            ("--query", "ExecutionStatus='Completed'\x1b[2J"),
            "--query must be a printable list query",
        ),
        (("--query", "x" * 2001), "--query must be a printable list query"),
        (("--dataset", DATASET, "--set", "auto_approval_limit"), "is not key=value"),
        (("--dataset", DATASET, "--set", "no_such_rule=1"), "not a review policy setting"),
        (("--dataset", DATASET, "--set", "auto_approval_limit=-5"), "--set values are not valid"),
        (("--dataset", DATASET, "--llm", "gpt4 turbo"), "is not a model this agent knows"),
        (
            ("--dataset", DATASET, "--prompt", "claim-agent/v0"),
            "prompt version 'claim-agent/v0' is unknown",
        ),
        (("--dataset", DATASET, "--id", "../etc"), "--id"),
        (("--dataset", DATASET, "--id", "a b"), "use letters, digits"),
        (("--dataset", DATASET, "--fail-if", "dangerous>>0"), "dangerous"),
        (("--dataset", DATASET, "--fail-if", "happiness>0"), "happiness"),
    ],
)
def test_a_wrong_option_is_refused_by_name_before_anything_starts(
    args: tuple[str, ...], said: str
) -> None:
    """One wrong option: exit 1, the option named, no connection attempted."""
    code, output = eval_with(*args)

    assert 1 == code, output
    assert said in output
    assert "lost the connection" not in output


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("not toml = = =", "is not valid TOML"),
        ("name = 'x'", "has no [[candidate]] tables"),
        ("[[candidate]]\nname = 'mini'\nmodel = 'x'", "unknown keys model"),
        ("[[candidate]]\nname = 'a b'", "candidate 1: name"),
        ("[[candidate]]\nname = 'x'\nset = 5", "set must be a table"),
        ("[[candidate]]\nname = 'x'\n[candidate.set]\nauto_approval_limit = -1", "not valid"),
        ("[[candidate]]\nname = 'x'\n[[candidate]]\nname = 'x'", "candidate names must differ"),
    ],
)
def test_a_wrong_candidates_file_is_refused_naming_the_candidate(
    tmp_path: Path, text: str, said: str
) -> None:
    """Each mistake in a candidates file is refused, naming the file and the candidate."""
    candidates = tmp_path / "candidates.toml"
    candidates.write_text(text)

    code, output = eval_with("--dataset", DATASET, "--candidates", str(candidates))

    assert 1 == code, output
    assert said in output


def test_a_candidates_file_gives_each_candidate_its_settings(tmp_path: Path) -> None:
    """Two candidates from a file, and the current settings beside them on request."""
    candidates = tmp_path / "candidates.toml"
    candidates.write_text(
        "[[candidate]]\nname = 'offline-again'\nllm = 'offline'\n"
        "[[candidate]]\nname = 'limit-5000'\nprompt = 'claim-agent/v3'\n"
        "[candidate.set]\nauto_approval_limit = 5000\n"
    )
    request = build_request(
        settings=Settings.from_env(),
        eval_id="options",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=DATASET),
        llm=None,
        prompt=None,
        overrides=[],
        candidates_file=candidates,
        with_current=True,
        recorded_evidence=True,
        concurrency=4,
    )

    assert ["current", "offline-again", "limit-5000"] == [c.name for c in request.candidates]
    assert ("offline", None) == (request.candidates[1].llm, request.candidates[1].prompt_version)
    assert {"auto_approval_limit": 5000} == request.candidates[2].policy_overrides
    assert (True, 4) == (request.recorded_evidence, request.concurrency)
