"""The README's tour, run as written against `claims run` (what `make run` starts).

Every command of the tour's `sh` blocks runs in order, in the project folder, against a
`claims run` of its own (free ports, a temp data dir), so the README cannot drift from
what the product does. The comments beside a command are its expectations: one starting
with "refused" expects a non-zero exit, any "quoted text" must be in the output, and `grep -c`
must count 0. The same run checks what `claims run` prints: its stages, and no progress
log lines in the terminal (they are in worker.log).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runtime.ports import free_port
from runtime.settings import PROJECT_ROOT

TOUR_HEADING = "## A five-minute tour"
STAGES = (
    "Starting the Temporal dev server",
    "Starting the worker and console",
    "Submitting the sample claims...",
)
SUMMARY_DONE = "demo sign-in"


@dataclass(frozen=True)
class TourCommand:
    text: str
    comment: str

    @property
    def refused(self) -> bool:
        return self.comment.startswith("refused")

    @property
    def quoted(self) -> list[str]:
        return re.findall(r'"([^"]+)"', self.comment)


def tour_commands(readme: str) -> list[TourCommand]:
    """The commands of the tour's `sh` blocks, continuation lines joined, with their comments."""
    section = readme.split(TOUR_HEADING, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            text, comment = _split_comment(line.strip())
            if text:
                commands.append(TourCommand(" ".join(text.split()), comment))
    return commands


def _split_comment(line: str) -> tuple[str, str]:
    """A shell line and its trailing comment; a # inside quotes is not one."""
    quote, at = "", -1
    for n, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (n == 0 or line[n - 1] == " "):
            at = n
            break
    if at < 0:
        return line, ""
    return line[:at].strip(), line[at + 1 :].strip()


@dataclass
class RunningProduct:
    """`claims run` in the background, its output collected line by line as it comes."""

    process: subprocess.Popen[str]
    data_dir: Path
    server_port: int
    console_port: int
    lines: list[str] = field(default_factory=list)
    summary_printed: threading.Event = field(default_factory=threading.Event)

    def collect(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.lines.append(line.rstrip("\n"))
            if SUMMARY_DONE in line:
                self.summary_printed.set()
        self.summary_printed.set()

    def output(self) -> str:
        return "\n".join(self.lines)


def _console_answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def product(tmp_path: Path) -> Iterator[RunningProduct]:
    """`claims run` on free ports with its data in tmp_path; stopped with Ctrl-C at the end."""
    data_dir = tmp_path / "data"
    server_port, ui_port, console_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "CLAIMS_DATA_DIR": str(data_dir),
        "CLAIMS_SERVER_PORT": str(server_port),
        "CLAIMS_UI_PORT": str(ui_port),
        "CLAIMS_CONSOLE_PORT": str(console_port),
        "COLUMNS": "80",
    }
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "claims"), "run"],
        env=env,
        cwd=PROJECT_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = RunningProduct(process, data_dir, server_port, console_port)
    reader = threading.Thread(target=running.collect, args=(process.stdout,), daemon=True)
    reader.start()
    try:
        running.summary_printed.wait()
        assert process.poll() is None, f"claims run stopped:\n{running.output()}"
        # The console serves from a task started before the summary; wait until it listens.
        while not _console_answers(console_port):
            assert process.poll() is None, f"claims run stopped:\n{running.output()}"
            threading.Event().wait(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait()
        reader.join()


def _run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", command],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def _exported(command: str, env: dict[str, str]) -> tuple[str, str]:
    """NAME and value of an `export NAME=value` line, the value as the shell makes it."""
    name = command.removeprefix("export ").split("=", 1)[0]
    done = _run(f'{command}; printf %s "${name}"', env)
    assert 0 == done.returncode, done.stderr
    return name, done.stdout


def test_the_tour_commands_are_found() -> None:
    """The parser sees the tour as a reader does: exports first, every step's commands."""
    commands = tour_commands((PROJECT_ROOT / "README.md").read_text(encoding="utf-8"))

    assert commands[0].text.startswith("export TEMPORAL_CODEC_ENDPOINT=")
    texts = [c.text for c in commands]
    assert any(t.startswith(".venv/bin/claims approve CLM-1003 --as sam") for t in texts)
    assert any('--name approve --input \'{"approver": "maria"}\'' in t for t in texts)
    refusal = texts.index(next(t for t in texts if "CLM-1003 --as sam" in t))
    approval = texts.index(next(t for t in texts if "claim-CLM-1003" in t and "maria" in t))
    assert refusal < approval, "the tour must show sam's refusal while CLM-1003 still waits"


def test_the_readme_tour_runs_top_to_bottom(product: RunningProduct, tmp_path: Path) -> None:
    """Each command of the tour does what its text says, in order, on a fresh `claims run`."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    # What is the project folder's for a reader is this run's: its data dir, ports and files.
    replacements = {
        ".temporal/": f"{product.data_dir}/",
        "localhost:8080": f"localhost:{product.console_port}",
        "/tmp/CLM-1002.json": str(tmp_path / "CLM-1002.json"),  # noqa: S108
        "my-claim.json": str(tmp_path / "my-claim.json"),
    }
    env = os.environ | {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{product.server_port}",
        "TEMPORAL_NAMESPACE": "default",
        "CLAIMS_DATA_DIR": str(product.data_dir),
        "CLAIMS_LOG_FORMAT": "json",
        "COLUMNS": "200",
    }
    failures: list[str] = []
    for command in tour_commands(readme):
        text = command.text
        for old, new in replacements.items():
            text = text.replace(old, new)
        if text.startswith("export "):
            name, value = _exported(text, env)
            env[name] = value
            continue
        done = _run(text, env)
        said = " ".join((done.stdout + done.stderr).split())
        problem = _problem(command, done.returncode, done.stdout, said)
        if problem:
            failures.append(f"{command.text}\n  {problem}\n  said: {said[:600]}")

    assert [] == failures, "\n".join(failures)


def _problem(command: TourCommand, code: int, stdout: str, said: str) -> str | None:
    if command.text.startswith("grep -c"):
        counts = [line.rsplit(":", 1)[-1] for line in stdout.splitlines()]
        return None if counts and set(counts) == {"0"} else f"counted {counts}, not 0"
    if command.refused and code == 0:
        return "expected a refusal, exit code 0"
    if not command.refused and code != 0:
        return f"exit code {code}"
    missing = [q for q in command.quoted if " ".join(q.split()) not in said]
    return f"output lacks {missing}" if missing else None


def test_claims_run_says_its_stages_and_keeps_log_lines_in_a_file(
    product: RunningProduct,
) -> None:
    """One line per stage, in order, then the summary; worker lines are in worker.log only."""
    output = product.output()

    at = [output.find(stage) for stage in STAGES]
    assert -1 not in at, output
    assert sorted(at) == at
    assert at[-1] < output.find("Sample claims")
    assert '"level": "info"' not in output
    assert "claim moved to" not in output
    log_file = product.data_dir / "worker.log"
    assert str(log_file) in " ".join(output.split())
    assert "claim moved to" in log_file.read_text(encoding="utf-8")
