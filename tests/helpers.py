"""Shared test helpers: sample claims, settings in a temp dir, and waits for events."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError

from history.runs import fetch_every_run
from runtime.settings import EXAMPLES_DIR, Settings
from signals.client import no_worker_answered
from workflows.claim import Claim
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import ClaimOutcome, ClaimState, Step

T = TypeVar("T")

BIN_DIR = Path(sys.executable).parent
TEST_SERVER = BIN_DIR / "temporal-test-server"
TEMPORAL_CLI = BIN_DIR / "temporal"

# Polls start fast and slow down: a long wait on a busy machine should not add to the load.
FIRST_INTERVAL = 0.05
LONGEST_INTERVAL = 0.25


def sample_claim(sample: str = "CLM-1002", **changes: object) -> Claim:
    """A claim from examples/claims, optionally changed (and validated again)."""
    data = json.loads((EXAMPLES_DIR / "claims" / f"{sample}.json").read_text())
    return Claim.model_validate(data | changes)


def unique_claim(sample: str = "CLM-1002", **changes: object) -> Claim:
    """A sample claim under a fresh id, so tests sharing a server never collide."""
    return sample_claim(sample, claim_id=f"{sample}-{uuid.uuid4().hex[:8]}", **changes)


def settings_in(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "CLAIMS_DATA_DIR": str(tmp_path),
            "CLAIMS_TASK_QUEUE": f"claims-test-{uuid.uuid4().hex[:8]}",
            **env,
        }
    )


@dataclass
class Waiting:
    """A wait in progress and the last value it saw.

    A wait has no deadline of its own, so the one that ends it may be pytest-timeout's,
    which interrupts the test wherever it is: conftest then reports these instead.
    """

    condition: str
    polls: int = 0
    last: object = None
    task: asyncio.Task[object] | None = None

    def __str__(self) -> str:
        return f"waiting for {self.condition}: {self.polls} polls; last value: {self.last!r}"


WAITS: list[Waiting] = []


def _never(_result: object) -> bool:
    return False


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    hopeless: Callable[[T], bool] = _never,
    within: float | None = None,
    interval: float = FIRST_INTERVAL,
    what: str | None = None,
) -> T:
    """Poll `probe` until `until(result)` holds, however long a busy machine takes.

    A wait ends when the event happens, never because a guess at how long it takes ran
    out: the only deadline is pytest-timeout's, and the failure then shows the last value.
    `hopeless(result)` says the condition can no longer hold (the claim ended elsewhere):
    the wait fails at once with that value. `within` is a budget in seconds for the rare
    test whose subject is how long something takes; waits for an event pass none.
    `what` names the condition in failures (by default, where `until` was written).
    """
    waiting = Waiting(what or _condition(until), task=asyncio.current_task())
    WAITS.append(waiting)
    loop = asyncio.get_running_loop()
    deadline = None if within is None else loop.time() + within
    try:
        while True:
            result = await probe()
            waiting.polls, waiting.last = waiting.polls + 1, result
            if until(result):
                return result
            if hopeless(result):
                raise AssertionError(
                    f"{waiting.condition} can no longer hold; last value: {result!r}"
                )
            if deadline is not None and loop.time() > deadline:
                raise AssertionError(f"{waiting} (not met within {within}s)")
            await asyncio.sleep(interval)
            interval = min(interval * 2, LONGEST_INTERVAL)
    finally:
        if waiting in WAITS:
            WAITS.remove(waiting)


def _condition(until: Callable[..., bool]) -> str:
    """Where the condition was written, since a lambda has no name worth printing."""
    code = getattr(until, "__code__", None)
    if code is None:
        return repr(until)
    return f"{until.__qualname__} ({Path(code.co_filename).name}:{code.co_firstlineno})"


async def answered(query: Callable[[], Awaitable[T]]) -> T | None:
    """The query's answer, or None while no worker answers it (one is starting, the one
    that held the claim was killed, the server is restarting); other errors are raised.
    """
    try:
        return await query()
    except RPCError as error:
        if no_worker_answered(error):
            return None
        raise


Handle = WorkflowHandle[ClaimReviewWorkflow, ClaimOutcome]


async def start(client: Client, claim: Claim, task_queue: str) -> Handle:
    """Start a review the way the starter does, minus the checks tests do not need.

    The handle names no run: a review continues as new at the approval gate, and its
    queries, signals and result belong to whichever run is latest. (The time-skipping
    server does not always wake a result that follows a run's continuation.)
    """
    await client.start_workflow(
        ClaimReviewWorkflow.run, claim, id=claim.workflow_id, task_queue=task_queue
    )
    return client.get_workflow_handle_for(ClaimReviewWorkflow.run, claim.workflow_id)


async def state_of(handle: Handle) -> ClaimState:
    """The claim's state, once a worker answers: a worker too busy to answer one query in
    time (a loaded machine) is asked again, not taken for an error.
    """
    while True:
        state = await answered(lambda: handle.query(ClaimReviewWorkflow.state))
        if state is not None:
            return state
        await asyncio.sleep(FIRST_INTERVAL)  # the server may have refused at once


def ended_elsewhere(step: Step) -> Callable[[ClaimState], bool]:
    """The claim ended in another final step: final steps never move, so it cannot reach `step`."""
    return lambda s: s.current_step.is_final and s.current_step is not step


async def until_step(handle: Handle, step: Step) -> ClaimState:
    """The claim's state once it is at `step`; fails as soon as it has ended in another.

    At a human wait, also once the claim rests there: a review reaching the approval
    gate continues as new, and the run that reported the step may be closed while the
    next has its first workflow task still to take. A test that stopped its worker then
    would leave that task with the server (on the time-skipping one, with its clock).
    """
    state = await eventually(
        lambda: state_of(handle),
        lambda s: s.current_step is step,
        hopeless=ended_elsewhere(step),
        what=f"step {step}",
    )
    if step not in HUMAN_WAITS:
        return state
    await eventually(lambda: rests(handle), bool, what=f"the claim to rest at {step}")
    return await state_of(handle)


# The steps where a claim waits for a person, on a run that has no task left to take.
HUMAN_WAITS = (Step.AWAITING_MANAGER_APPROVAL, Step.AWAITING_DOCUMENTS)


async def rests(handle: Handle) -> bool:
    """Whether the claim's latest run has taken every workflow task it was given."""
    latest = handle._client.get_workflow_handle(handle.id)
    history = await latest.fetch_history()
    task_events = [e.event_type for e in history.events if e.event_type in WORKFLOW_TASK_EVENTS]
    return bool(task_events) and task_events[-1] in WORKFLOW_TASK_ENDS


WORKFLOW_TASK_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    }
)
WORKFLOW_TASK_ENDS = frozenset({EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED})


async def every_run_history(handle: Handle) -> WorkflowHistory:
    """The events of every run of the claim in one history, decoded, the first run's
    first: a review reaching the approval gate continues as new, so its assessment and
    its decision are in different runs.
    """
    runs = await fetch_every_run(handle._client, handle.id)
    return WorkflowHistory(handle.id, [event for run in runs for event in run.events])
