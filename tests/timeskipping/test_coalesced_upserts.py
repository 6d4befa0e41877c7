"""One search-attribute upsert per workflow task, however many changes the task made.

Each upsert is a history event and a visibility write; a burst of signals that changes the
assignee twice in one task must cost one of each, and leave the last value showing.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from runtime.settings import Settings
from runtime.workflow_runner import sandboxed_runner
from tests.helpers import eventually, settings_in, start, state_of, unique_claim, until_step
from tests.timeskipping.conftest import outcome_of
from worker import DETERMINISTIC_PACKAGES, build_activities
from workflows import search_attributes as sa
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import Step


def uncached_worker(client: Client, settings: Settings) -> Worker:
    """The real workflow and activities on a worker that caches no run.

    Without a cache there is no sticky queue: once this worker stops, the next one on the
    task queue takes the claim's next task at once, with all that arrived in between.
    """
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ClaimReviewWorkflow],
        activities=build_activities(settings),
        workflow_runner=sandboxed_runner(client.data_converter, DETERMINISTIC_PACKAGES),
        max_cached_workflows=0,
    )


async def test_two_reassignments_in_one_task_make_one_upsert(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Both signals reach the worker in one task: one upsert, naming the second assignee."""
    claim = unique_claim("CLM-1002")
    settings = settings_in(tmp_path)
    async with uncached_worker(time_env.client, settings):
        handle = await start(time_env.client, claim, settings.task_queue)
        await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    # No worker now: both signals wait in history for the same workflow task.
    await handle.signal(ClaimReviewWorkflow.reassign, {"operator": "maria", "assignee": "sam"})
    await handle.signal(ClaimReviewWorkflow.reassign, {"operator": "maria", "assignee": "dana"})
    async with uncached_worker(time_env.client, settings):
        await eventually(lambda: state_of(handle), lambda s: s.assignee == "dana")
        described = await handle.describe()
        events = list((await handle.fetch_history()).events)
        await handle.signal(ClaimReviewWorkflow.cancel, {"operator": "lee", "reason": "test over"})
        await outcome_of(time_env.client, handle.id)

    signalled = [
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    started = [
        e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ]
    task = next(i for i in started if i > signalled[-1])
    completed = next(
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and e.event_id > task
    )
    upserts = [
        e.upsert_workflow_search_attributes_event_attributes.search_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and e.event_id > completed
    ]
    assert [signalled[0] < task, len(signalled)] == [True, 2]
    assert 1 == len(upserts)
    assert {sa.ASSIGNEE.name} == set(upserts[0].indexed_fields)
    assert "dana" == described.typed_search_attributes.get(sa.ASSIGNEE)
