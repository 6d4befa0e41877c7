"""`claims` starts without the workflow, the worker or the model libraries.

Measured by the modules a fresh interpreter holds after loading the CLI, not by the
clock: a command that does not replay never pays for langchain, openai or the agent.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from runtime.settings import PROJECT_ROOT

# What only running a worker, replaying a history or calling a model needs.
FORBIDDEN = (
    "langchain",
    "langchain_core",
    "openai",
    "workflows.claim_review",
    "workflows.agent",
    "worker",
    "temporalio.worker",
)

PROBE = """
import json, sys
from typer.testing import CliRunner
import cli.main
for args in {commands!r}:
    result = CliRunner().invoke(cli.main.app, args)
    assert result.exit_code == 0, (args, result.output)
{after}
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after(commands: list[list[str]], after: str = "") -> list[str]:
    """The modules of a fresh interpreter that imported the CLI and ran `commands`."""
    probe = PROBE.format(commands=commands, after=after)
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert 0 == done.returncode, done.stderr
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def forbidden_in(modules: list[str]) -> dict[str, int]:
    """How many modules fall under each forbidden prefix, for the prefixes that have any."""
    counts = {
        prefix: sum(1 for m in modules if m == prefix or m.startswith(prefix + "."))
        for prefix in FORBIDDEN
    }
    return {prefix: count for prefix, count in counts.items() if count}


@pytest.mark.parametrize(
    "commands",
    [
        pytest.param([], id="import"),
        pytest.param([["--help"]], id="--help"),
        pytest.param(
            [
                [name, "--help"]
                for name in (
                    "status",
                    "show",
                    "inbox",
                    "approve",
                    "reject",
                    "edit",
                    "pause",
                    "timeline",
                    "replay",
                    "rollback",
                    "fork",
                )
            ],
            id="each command's --help",
        ),
    ],
)
def test_the_cli_loads_no_workflow_worker_or_model_library(commands: list[list[str]]) -> None:
    """Loading `claims` and reading its help loads nothing a worker or a replay needs."""
    modules = loaded_after(commands)

    assert {} == forbidden_in(modules)


def test_the_probe_sees_the_workflow_once_a_replay_loads_it() -> None:
    """The count is real: importing the replay check brings in the workflow and the agent."""
    modules = loaded_after([], after="import history.replay")

    found = forbidden_in(modules)
    assert {"workflows.claim_review", "workflows.agent", "temporalio.worker"} <= found.keys()
