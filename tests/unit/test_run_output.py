"""What a first `make run` prints: one line per stage, log lines in a file, quiet installs."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from runtime.logs import configure_logging, get_logger
from runtime.settings import PROJECT_ROOT


def test_with_a_log_file_the_terminal_shows_only_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Progress lines go to the file as JSON; a warning reaches both, so no problem is hidden."""
    log_file = tmp_path / "worker.log"
    configure_logging("console", "INFO", log_file=log_file, terminal_level="WARNING")
    log = get_logger("claims.test")

    log.info("claim moved to routing", claim_id="CLM-1")
    logging.getLogger("temporalio.worker").warning("slow poll")
    for handler in logging.getLogger().handlers:
        handler.flush()

    terminal = capsys.readouterr().err
    lines = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    assert ["claim moved to routing", "slow poll"] == [line["event"] for line in lines]
    assert "CLM-1" == lines[0]["claim_id"]
    assert "slow poll" in terminal
    assert "claim moved to routing" not in terminal


def test_configuring_again_closes_the_earlier_log_file(tmp_path: Path) -> None:
    """A second configuration (a test, a restart in-process) leaves no file handle behind."""
    configure_logging("json", "INFO", log_file=tmp_path / "a.log")
    [_, first] = logging.getLogger().handlers
    assert isinstance(first, logging.FileHandler)

    configure_logging("json", "INFO")

    assert first.stream is None
    assert 1 == len(logging.getLogger().handlers)


def recipe(makefile: str, target: str) -> list[str]:
    """The recipe lines of `target`, continuation lines joined."""
    match = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert match, f"no target {target}"
    joined = match.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def test_make_run_echoes_no_commands_of_its_own() -> None:
    """`make run` and the install say what they do in words; make prints no command lines."""
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")

    lines = recipe(makefile, "$(STAMP)") + recipe(makefile, "run")

    assert [] == [line for line in lines if not line.startswith("@")]
    assert any("about 90 s the first time" in line for line in lines)


def test_a_failed_install_shows_pips_words_and_what_to_do(tmp_path: Path) -> None:
    """pip is quiet while it works; when it fails, the end of its log and the next step show."""
    make = shutil.which("make")
    assert make, "make is not installed"
    shutil.copy(PROJECT_ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("not = [valid\n", encoding="utf-8")

    done = subprocess.run(
        [make, "--no-print-directory", ".venv/.installed"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert 0 != done.returncode
    out = done.stdout
    assert out.startswith("Creating .venv and installing packages (about 90 s the first time)...")
    assert "TOMLDecodeError" in out
    assert "Installing the packages failed (above: the end of .venv/pip.log)" in out
    assert "pip install" not in out
    assert (tmp_path / ".venv" / "pip.log").exists()
