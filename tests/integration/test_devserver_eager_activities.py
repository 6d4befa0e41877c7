"""The embedded dev server hands an activity to the worker whose workflow scheduled it.

With eager activities on, the answer to a workflow task carries (up to three of) the
activities it scheduled on the same task queue, so they never wait in the queue: a second
worker that only polls the queue for activities gets none of a workflow's activities run
one after another. With them off, it takes its share.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from runtime import devserver
from runtime.devserver import EAGER_ACTIVITIES, DevServer

pytestmark = pytest.mark.integration
STEPS = 20


class Where:
    """The same activity on two workers, each answering with its own name."""

    def __init__(self, name: str) -> None:
        self.name = name

    @activity.defn(name="where")
    async def where(self) -> str:
        return self.name


@workflow.defn(sandboxed=False)
class Steps:
    @workflow.run
    async def run(self) -> list[str]:
        return [
            await workflow.execute_activity(
                "where", start_to_close_timeout=timedelta(seconds=30), result_type=str
            )
            for _ in range(STEPS)
        ]


async def where_the_steps_ran(server: DevServer) -> list[str]:
    """Run the steps with a workflow worker and a worker that only polls for activities
    (a process of its own, as far as the SDK can tell: a client of its own)."""
    client = await server.start()
    other = await Client.connect(server.address)
    queue = f"eager-{uuid.uuid4()}"
    runner = UnsandboxedWorkflowRunner()
    with_workflow = Worker(
        client,
        task_queue=queue,
        workflows=[Steps],
        activities=[Where("with the workflow").where],
        workflow_runner=runner,
    )
    activities_only = Worker(other, task_queue=queue, activities=[Where("elsewhere").where])
    async with with_workflow, activities_only:
        return await client.execute_workflow(Steps.run, id=queue, task_queue=queue)


async def test_every_activity_runs_where_its_workflow_scheduled_it(
    dev_server: DevServer,
) -> None:
    """Twenty activities in a row, each on the worker whose workflow task scheduled it."""
    ran = await where_the_steps_ran(dev_server)

    assert ["with the workflow"] * STEPS == ran


async def test_without_eager_activities_another_poller_takes_its_share(
    dev_server: DevServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the setting is what keeps the activities home, not the test's shape."""
    monkeypatch.setitem(devserver.DYNAMIC_CONFIG, EAGER_ACTIVITIES, False)

    ran = await where_the_steps_ran(dev_server)

    assert "elsewhere" in ran, ran
