"""The last values of waits that pytest-timeout cut short, in the failure report.

The test key ring is set for the whole session here, and each test's logging
configuration is put back after it; other fixtures live with the
tests that use them: `timeskipping/conftest.py` (the test server,
workers, claims under review) and `integration/conftest.py` (a real dev server).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator, Iterator

import pluggy
import pytest
import structlog

from runtime import logs
from tests.helpers import WAITS
from tests.keys import write_test_ring

logs.CACHE_LOGGERS = False


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    """Commands run in the test's process configure logging onto that test's captured
    stderr; the configuration before is put back, so no later line goes to a closed stream
    or past `capture_logs`."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    config = structlog.get_config()
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture(autouse=True, scope="session")
def test_key_ring(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every client, worker and command of the suite encrypts with the test keys.

    Set in the environment, so worker and CLI subprocesses read the same ring, and no
    test ever reads (or creates) the key ring of a developer's own `make run`.
    """
    ring = write_test_ring(tmp_path_factory.mktemp("keys") / "claims-keys.json")
    before = os.environ.get("CLAIMS_KEYS_FILE")
    os.environ["CLAIMS_KEYS_FILE"] = str(ring)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CLAIMS_KEYS_FILE", None)
        else:
            os.environ["CLAIMS_KEYS_FILE"] = before


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pluggy.Result[pytest.TestReport], None]:
    """Name the waits a test was still in when it was stopped, with their last values.

    Waits have no deadline but pytest-timeout's, which stops the test from outside its
    coroutine, so `eventually` cannot report; its waits are left behind, shown here, and
    their test task cancelled so it does not keep polling while later tests run.
    """
    outcome = yield
    if call.when != "call" or not WAITS:
        return
    report = outcome.get_result()
    report.sections.append(("waits in progress", "\n".join(str(w) for w in WAITS)))
    for waiting in WAITS:
        if waiting.task is not None:
            waiting.task.cancel()
    WAITS.clear()


# The longest tests, started first: with several pytest processes, a minute-long test that
# starts last is a minute alone at the end. Whole folders by how long their tests take,
# and within a folder the order the files are written in.
_FIRST = (
    "tests/integration/test_many_workers.py",
    "tests/integration/test_crash_recovery.py",
    "tests/integration/test_eval_command.py",
    "tests/integration/",
    "tests/browser/",
    "tests/timeskipping/",
    "tests/console/",
)


def _start_rank(item: pytest.Item) -> int:
    path = item.nodeid
    return next(
        (rank for rank, prefix in enumerate(_FIRST) if path.startswith(prefix)), len(_FIRST)
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first (a stable sort: each folder keeps its order)."""
    items.sort(key=_start_rank)
