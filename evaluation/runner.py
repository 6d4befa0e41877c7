"""Start an evaluation, or find the one already running under its id, and wait for it.

An evaluation is a workflow (`eval-<id>`), so the command that started it is only a
window on it: Ctrl-C closes the window, the evaluation goes on, and the same command with
`--id` opens it again, starting nothing twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from runtime.errors import UserFacingError
from workflows.claim_eval import ClaimEvalWorkflow
from workflows.evaluation import EvalCounts, EvalRequest, EvalResult, eval_workflow_id

POLL_SECONDS = 1.0


class EvaluationError(UserFacingError):
    """An evaluation that cannot start, or that ended without a result."""


@dataclass(frozen=True)
class StartedEvaluation:
    handle: WorkflowHandle[ClaimEvalWorkflow, EvalResult]
    # False when an evaluation with this id was already running or finished: the command
    # attached to it, and its own candidates and source are the ones that count.
    started: bool


async def start_evaluation(
    client: Client, request: EvalRequest, task_queue: str
) -> StartedEvaluation:
    """Start `request`, or attach to the evaluation that already has its id."""
    workflow_id = eval_workflow_id(request.eval_id)
    existing: WorkflowHandle[ClaimEvalWorkflow, EvalResult] = client.get_workflow_handle(
        workflow_id, result_type=EvalResult
    )
    try:
        described = await existing.describe()
    except RPCError:
        described = None
    if described is not None and described.status in (
        WorkflowExecutionStatus.RUNNING,
        WorkflowExecutionStatus.COMPLETED,
    ):
        await _check_same_settings(client, existing, request)
        return StartedEvaluation(existing, started=False)
    sources = {
        "dataset": request.source.path,
        "histories": request.source.path,
        "query": "list query",
    }
    handle = await client.start_workflow(
        ClaimEvalWorkflow.run,
        request,
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        static_summary=f"Evaluation {request.eval_id}: "
        + ", ".join(c.name for c in request.candidates)
        + f" on the {request.source.kind} {sources[request.source.kind] or ''}".rstrip(),
    )
    return StartedEvaluation(handle, started=True)


def _settings(request: EvalRequest) -> dict[str, Any]:
    """What makes two evaluations the same one: the source, the candidates and the
    evidence; not how many reruns run at once."""
    return request.model_dump(mode="json", include={"source", "candidates", "recorded_evidence"})


async def _check_same_settings(
    client: Client, existing: WorkflowHandle[ClaimEvalWorkflow, EvalResult], request: EvalRequest
) -> None:
    """Refuse to reopen an evaluation started with other settings under the same id: its
    report, and its gates, would pass for this request's."""
    started_with: EvalRequest | None = None
    async for event in existing.fetch_history_events():
        attributes = event.workflow_execution_started_event_attributes
        if attributes.input.payloads:
            (started_with,) = await client.data_converter.decode(
                attributes.input.payloads, [EvalRequest]
            )
        break
    if started_with is None or _settings(started_with) == _settings(request):
        return
    names = ", ".join(c.name for c in started_with.candidates)
    raise EvaluationError(
        f"evaluation {existing.id} was started with other settings (candidates {names}, "
        f"the {started_with.source.kind} source); reopen it with the options it was started "
        "with, or give these settings another --id"
    )


async def wait_for_result(
    handle: WorkflowHandle[ClaimEvalWorkflow, EvalResult],
    on_progress: Callable[[EvalCounts], None],
) -> EvalResult:
    """The evaluation's result, reporting its progress about once a second meanwhile."""
    result = asyncio.ensure_future(handle.result())
    try:
        while not result.done():
            started = time.monotonic()
            counts: EvalCounts | None
            try:
                counts = await handle.query(ClaimEvalWorkflow.counts)
            except RPCError:
                # No worker has the evaluation loaded this instant (a restart): ask again.
                counts = None
            if counts is not None:
                on_progress(counts)
            remaining = POLL_SECONDS - (time.monotonic() - started)
            await asyncio.wait({result}, timeout=max(remaining, 0.05))
        return result.result()
    except WorkflowFailureError as failure:
        raise EvaluationError(
            f"evaluation {handle.id} ended without a result: {failure.cause or failure}. "
            f"Its history is in the Temporal UI; start it again with another --id"
        ) from None
    finally:
        result.cancel()
