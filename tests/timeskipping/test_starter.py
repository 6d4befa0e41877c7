"""Starting a claim: a review that failed or was terminated can be started again.

A stand-in registered under the real workflow type ends each review the way a test
needs (completed or failed), so what is tested is the starter's id-reuse rule alone.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime.settings import WORKFLOW_TYPE
from starter import StartStatus, start_claim
from tests.helpers import unique_claim

FAIL_MARK = "fail this review"


@workflow.defn(name=WORKFLOW_TYPE)
class StandInReview:
    """Completes at once, or fails as a review did on a bad approvers file."""

    @workflow.run
    async def run(self, claim: dict[str, Any]) -> str:
        if claim["description"] == FAIL_MARK:
            raise ApplicationError("approvers file is invalid", non_retryable=True)
        return "completed"


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

    again = await start_claim(client, claim, "no-worker-" + task_queue)

    handle = client.get_workflow_handle(claim.workflow_id)
    assert (StartStatus.STARTED, WorkflowExecutionStatus.RUNNING) == (
        again.status,
        (await handle.describe()).status,
    )


async def test_a_terminated_review_can_be_started_again(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A review an operator terminated can be started again: it was never decided."""
    claim = unique_claim()
    client = time_env.client
    await start_claim(client, claim, "no-worker-" + task_queue)
    await client.get_workflow_handle(claim.workflow_id).terminate("operator")

    again = await start_claim(client, claim, "no-worker-" + task_queue)

    assert StartStatus.STARTED == again.status


async def test_a_running_review_is_not_started_twice(
    time_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A second start of a claim under review is reported as such, and starts nothing."""
    claim = unique_claim()
    client = time_env.client
    await start_claim(client, claim, "no-worker-" + task_queue)

    again = await start_claim(client, claim, "no-worker-" + task_queue)

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
