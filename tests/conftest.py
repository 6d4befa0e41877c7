"""The last values of waits that pytest-timeout cut short, in the failure report.

Fixtures live with the tests that use them: `timeskipping/conftest.py` (the test server,
workers, claims under review) and `integration/conftest.py` (a real dev server).
"""

from __future__ import annotations

from collections.abc import Generator

import pluggy
import pytest

from tests.helpers import WAITS


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
