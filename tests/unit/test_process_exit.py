"""Processes that end with `run_and_exit`: their exit code and their output, all of it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runtime.settings import PROJECT_ROOT


def _ended(body: str) -> subprocess.CompletedProcess[str]:
    program = (
        "from runtime.process_exit import run_and_exit\n"
        "import sys\n"
        f"def program():\n    print('done', end='')\n    {body}\n"
        "run_and_exit(program)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", program],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("body", "code", "error"),
    [
        ("return None", 0, ""),
        ("sys.exit(3)", 3, ""),
        ("sys.exit(None)", 0, ""),
        ("sys.exit('no claim file given')", 1, "no claim file given\n"),
    ],
)
def test_the_process_ends_with_the_programs_code_and_its_output_flushed(
    body: str, code: int, error: str
) -> None:
    """Unflushed output still arrives, and the code is the one `sys.exit` was given."""
    ended = _ended(body)

    assert (code, "done", error) == (ended.returncode, ended.stdout, ended.stderr)


def test_an_unexpected_error_still_shows_its_traceback() -> None:
    """Only SystemExit is the program's own ending; anything else surfaces as before."""
    ended = _ended("raise RuntimeError('broken')")

    assert 1 == ended.returncode
    assert "RuntimeError: broken" in ended.stderr
