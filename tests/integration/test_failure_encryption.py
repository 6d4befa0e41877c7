"""What a failure sends the Temporal server: never the claim it quotes, in plain text.

An error about a claim may quote it: a claimant's name in an activity's message, its
details, a cause chain, a workflow task that crashes on it. The server (and whoever
reads its database) must see only ciphertext; these run a real test server and read the
history as stored, with no codec. A real dev server: a workflow task failing over and
over would hold up the clock of the shared time-skipping server.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime.devserver import DevServer
from tests.helpers import eventually

pytestmark = pytest.mark.integration

SECRET = "Ada Lovelace <ada.lovelace@example.com>"
CAUSE = "policy of Ada Lovelace not found"


@activity.defn(name="attack_failing_lookup")
async def failing_lookup(claimant: str) -> str:
    """Fails quoting the claimant in its message, details and cause."""
    try:
        raise ValueError(CAUSE)
    except ValueError as cause:
        raise ApplicationError(
            f"no policy for {claimant}", {"claimant": claimant}, non_retryable=True
        ) from cause


@workflow.defn(name="AttackFailingWorkflow")
class FailingWorkflow:
    """Fails the run with a message, details and the activity's failure as its cause."""

    @workflow.run
    async def run(self, claimant: str) -> str:
        try:
            return await workflow.execute_activity(
                failing_lookup, claimant, start_to_close_timeout=timedelta(seconds=30)
            )
        except ActivityError as error:
            raise ApplicationError(
                f"review of {claimant} failed", {"claimant": claimant}, non_retryable=True
            ) from error


@workflow.defn(name="AttackCrashingWorkflow")
class CrashingWorkflow:
    """Crashes its workflow task with a bug that quotes the claim (a task failure, retried)."""

    @workflow.run
    async def run(self, claimant: str) -> str:
        raise RuntimeError(f"cannot read the claim of {claimant}")


def _task_failed(events: Sequence[HistoryEvent]) -> bool:
    return any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in events)


async def test_a_failed_run_stores_no_claim_text_in_plain(dev_server: DevServer) -> None:
    """Activity failure (message, details, cause) and the workflow's own failure: the stored
    history holds none of the claimant's text, yet the client reads it all back."""
    client = await dev_server.start()
    queue = f"attack-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[FailingWorkflow],
        activities=[failing_lookup],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            FailingWorkflow.run, SECRET, id=f"attack-{uuid.uuid4()}", task_queue=queue
        )
        try:
            await handle.result()
        except WorkflowFailureError as failed:
            error = failed.cause
        stored = (await handle.fetch_history()).to_json()

    assert isinstance(error, ApplicationError)
    assert f"review of {SECRET} failed" == error.message
    assert isinstance(error.cause, ActivityError)
    assert "Encoded failure" in stored
    for plain in (SECRET, "Ada Lovelace", "ada.lovelace", CAUSE):
        assert plain not in stored


async def test_a_crashing_workflow_task_stores_no_claim_text_in_plain(
    dev_server: DevServer,
) -> None:
    """A workflow task failure (a bug, not a decision) quoting the claim: the server's
    WorkflowTaskFailed event carries only ciphertext."""
    client = await dev_server.start()
    queue = f"attack-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[CrashingWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await client.start_workflow(
            CrashingWorkflow.run, SECRET, id=f"attack-{uuid.uuid4()}", task_queue=queue
        )
        history = await eventually(
            handle.fetch_history, lambda h: _task_failed(h.events), what="a failed task"
        )
        await handle.terminate(reason="the test has seen the task failure")
    stored = history.to_json()

    assert "Encoded failure" in stored
    for plain in (SECRET, "Ada Lovelace", "ada.lovelace"):
        assert plain not in stored
