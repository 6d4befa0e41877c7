"""Starting a claim: a review that failed or was terminated can be started again.

A stand-in registered under the real workflow type ends each review the way a test
needs (completed or failed) or keeps it running, so what is tested is the starter's
id-reuse rule alone. A review that must stay running waits on a worker, never on a task
queue no worker polls: the test server keeps the task it cannot hand out, and with it
the session's clock, so every later test that skips time would wait out its timeout.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowHistory,
)
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime.settings import WORKFLOW_TYPE
from starter import StartStatus, start_claim
from tests.helpers import eventually, unique_claim

FAIL_MARK = "fail this review"
WAIT_MARK = "keep this review running"


@workflow.defn(name=WORKFLOW_TYPE)
class StandInReview:
    """Completes at once, fails as a review did on a bad approvers file, or waits (ended
    by the test's teardown, which terminates what the test started)."""

    @workflow.run
    async def run(self, claim: dict[str, Any]) -> str:
        if claim["description"] == FAIL_MARK:
            raise ApplicationError("approvers file is invalid", non_retryable=True)
        if claim["description"] == WAIT_MARK:
            await workflow.wait_condition(lambda: False)
        return "completed"


async def taken_by_its_worker(handle: WorkflowHandle[Any, Any]) -> None:
    """Wait until the stand-in's worker has taken its first task. A task still queued when
    its workflow is terminated (by the test, or by the teardown) stays with the test
    server and holds the session's clock."""

    def took_its_first_task(history: WorkflowHistory) -> bool:
        completed = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        return any(e.event_type == completed for e in history.events)

    await eventually(handle.fetch_history, took_its_first_task, what="the stand-in's first task")


@pytest.fixture
async def task_queue(time_env: WorkflowEnvironment) -> AsyncIterator[str]:
    """A task queue served by a stand-in review that completes or fails at once."""
    queue = f"starter-test-{uuid.uuid4().hex[:8]}"
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[StandInReview],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield queue


async def test_a_failed_review_can_be_started_again(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    """After a review failed, `claims start` starts a new one instead of 'already reviewed'."""
    claim = unique_claim(description=FAIL_MARK)
    client = time_env.client
    assert StartStatus.STARTED == (await start_claim(client, claim, task_queue)).status
    with pytest.raises(WorkflowFailureError):
        await client.get_workflow_handle(claim.workflow_id).result()

    again = await start_claim(
        client, claim.model_copy(update={"description": WAIT_MARK}), task_queue
    )

    handle = client.get_workflow_handle(claim.workflow_id)
    await taken_by_its_worker(handle)
    assert (StartStatus.STARTED, WorkflowExecutionStatus.RUNNING) == (
        again.status,
        (await handle.describe()).status,
    )


async def test_a_terminated_review_can_be_started_again(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A review an operator terminated can be started again: it was never decided."""
    claim = unique_claim(description=WAIT_MARK)
    client = time_env.client
    await start_claim(client, claim, task_queue)
    handle = client.get_workflow_handle(claim.workflow_id)
    await taken_by_its_worker(handle)
    await handle.terminate("operator")

    again = await start_claim(client, claim, task_queue)

    assert StartStatus.STARTED == again.status


async def test_a_running_review_is_not_started_twice(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A second start of a claim under review is reported as such, and starts nothing."""
    claim = unique_claim(description=WAIT_MARK)
    client = time_env.client
    await start_claim(client, claim, task_queue)
    await taken_by_its_worker(client.get_workflow_handle(claim.workflow_id))

    again = await start_claim(client, claim, task_queue)

    assert StartStatus.ALREADY_UNDER_REVIEW == again.status


async def test_a_completed_review_is_never_started_again(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A decided claim stays decided: the second start is reported, not run."""
    claim = unique_claim()
    client = time_env.client
    await start_claim(client, claim, task_queue)
    await client.get_workflow_handle(claim.workflow_id).result()

    again = await start_claim(client, claim, task_queue)

    assert StartStatus.ALREADY_REVIEWED == again.status
