"""The worker as shipped: how it polls and hands claims back, read from its own config."""

from __future__ import annotations

from temporalio.worker import PollerBehaviorAutoscaling

from tests.timeskipping.conftest import WorkerFactory
from worker import GRACEFUL_SHUTDOWN, STICKY_QUEUE_TIMEOUT


async def test_the_worker_scales_its_workflow_task_polls_with_the_backlog(
    claims_worker: WorkerFactory,
) -> None:
    """A burst of approvals on claims it no longer caches is not held to one poll."""
    async with claims_worker() as (worker, _settings):
        config = worker.config()

    assert isinstance(config.get("workflow_task_poller_behavior"), PollerBehaviorAutoscaling)
    assert STICKY_QUEUE_TIMEOUT == config.get("sticky_queue_schedule_to_start_timeout")
    assert GRACEFUL_SHUTDOWN == config.get("graceful_shutdown_timeout")
