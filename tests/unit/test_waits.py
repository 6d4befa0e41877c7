"""Waits in tests follow events: no deadline of their own, a fast failure when the event
can no longer happen, the last value shown whoever ends the wait, and queries that found
no worker in time asked again instead of failing the test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.service import RPCError, RPCStatusCode

from runtime.settings import PROJECT_ROOT
from signals.client import no_worker_answered
from tests.helpers import WAITS, answered, eventually


class Counter:
    """A probe whose value grows by one at every poll."""

    def __init__(self) -> None:
        self.value = 0

    async def __call__(self) -> int:
        self.value += 1
        return self.value


async def test_a_wait_returns_the_first_value_that_meets_the_condition() -> None:
    """Polling stops at the event, and the wait leaves nothing behind."""
    assert 4 == await eventually(Counter(), lambda n: n >= 4)
    assert [] == WAITS


async def test_a_hopeless_wait_fails_at_once_with_the_value_that_made_it_so() -> None:
    """A condition that can no longer hold fails at that poll, not at a timeout."""
    probe = Counter()
    with pytest.raises(AssertionError, match=r"can no longer hold; last value: 3$"):
        await eventually(probe, lambda n: n > 100, hopeless=lambda n: n == 3)
    assert (3, []) == (probe.value, WAITS)


async def test_a_wait_with_a_budget_names_the_condition_and_the_last_value() -> None:
    """The rare wait whose subject is time says what it waited for and what it saw."""
    with pytest.raises(AssertionError, match=r"waiting for never: \d+ polls; last value: \d+"):
        await eventually(Counter(), lambda _n: False, within=0.2, what="never")


def test_a_wait_stopped_by_the_test_timeout_reports_its_last_value(tmp_path: Path) -> None:
    """pytest-timeout stops a test from outside its coroutine; the report still names the
    wait and its last value, and the next test runs without the old wait polling on."""
    test_file = tmp_path / "test_stuck.py"
    test_file.write_text(
        "import asyncio\n"
        "import pytest\n"
        "from tests.helpers import WAITS, eventually\n\n"
        "polls = []\n\n"
        "async def probe():\n"
        "    polls.append(1)\n"
        "    return 'still intake'\n\n"
        "@pytest.mark.timeout(1)\n"
        "async def test_stuck():\n"
        "    await eventually(probe, lambda v: False, what='step completed')\n\n"
        "async def test_next():\n"
        "    before = len(polls)\n"
        "    await asyncio.sleep(0.5)\n"
        "    assert ([], before) == (WAITS, len(polls))\n"
    )
    options = ["-q", "-p", "tests.conftest", "-p", "no:cacheprovider"]
    options += ["-c", str(PROJECT_ROOT / "pyproject.toml"), "--rootdir", str(PROJECT_ROOT)]
    options += ["--basetemp", str(tmp_path / "runs")]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), *options],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    out = run.stdout

    assert "waits in progress" in out, out
    assert "waiting for step completed: " in out, out
    assert "last value: 'still intake'" in out, out
    assert "1 failed, 1 passed" in out, out


@pytest.mark.parametrize(
    ("status", "message", "no_worker"),
    [
        (RPCStatusCode.CANCELLED, "Timeout expired", True),
        (
            RPCStatusCode.FAILED_PRECONDITION,
            "no poller seen for task queue recently, worker may be down",
            True,
        ),
        (RPCStatusCode.DEADLINE_EXCEEDED, "context deadline exceeded", True),
        (RPCStatusCode.UNAVAILABLE, "connection refused", True),
        (
            RPCStatusCode.FAILED_PRECONDITION,
            "Unable to query workflow due to Workflow Task in failed state.",
            False,
        ),
        (RPCStatusCode.NOT_FOUND, "workflow not found for ID: claim-CLM-0000", False),
        (RPCStatusCode.CANCELLED, "operation was cancelled", False),
    ],
)
def test_only_a_missing_worker_is_worth_asking_again(
    status: RPCStatusCode, message: str, no_worker: bool
) -> None:
    """A query nobody answered in time can succeed later; a failed workflow task or a
    missing claim never will, and waiting on them would only hide the error."""
    assert no_worker == no_worker_answered(RPCError(message, status, b""))


async def test_a_query_no_worker_answered_is_none_and_other_errors_are_raised() -> None:
    """`answered` turns "no worker yet" into None and lets every other error through."""

    async def unanswered() -> str:
        raise RPCError("Timeout expired", RPCStatusCode.CANCELLED, b"")

    async def broken() -> str:
        raise RPCError("Workflow Task in failed state", RPCStatusCode.FAILED_PRECONDITION, b"")

    assert await answered(unanswered) is None
    with pytest.raises(RPCError, match="failed state"):
        await answered(broken)
