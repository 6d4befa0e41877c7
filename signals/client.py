"""Typed helpers that send human actions to a claim and report what became of them.

`act` uses the action's update: the claim answers with its new version, or refuses and
says why. Updates need a running worker; `signal_and_watch` sends the signal instead,
which is durable without one, and watches the audit log for the outcome: for a while
when a person waits at a terminal, or until it is recorded when the caller must know.

After an accepted action, `settle` follows the claim briefly until it rests, so a person
learns where it went, not where it was; `closed_claim_answer` says what became of a claim
that takes no more actions.

Handles are reached by the contract's names (the `state` query, each action's signal and
update), not through the workflow class: a client that only sends actions loads neither
the workflow nor the agent and its model libraries.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from runtime.errors import UserFacingError
from signals.messages import ActionAccepted, HumanAction
from workflows.claim import money, workflow_id_for
from workflows.state import (
    AuditEntry,
    ClaimOutcome,
    ClaimState,
    OutcomeStatus,
    PendingActionType,
)

Handle = WorkflowHandle[Any, ClaimOutcome]
# The query of the external contract that returns the state document.
STATE_QUERY = "state"

# How long a person at a terminal watches for the worker to record a signal before being
# told it was sent; callers that must know the outcome pass None and wait for it.
ACKNOWLEDGE_TIMEOUT_SECONDS = 10.0
# How often the audit log is read while watching for a signal's outcome.
WATCH_INTERVAL_SECONDS = 0.2
# Queries and updates need a running worker; without one, say so instead of hanging.
QUERY_TIMEOUT = timedelta(seconds=5)
UPDATE_TIMEOUT = timedelta(seconds=15)
UPDATE_ATTEMPTS = 3
# How long a person at a terminal follows an accepted action before being told the claim
# is still moving: long enough for a payout to execute, short enough to feel immediate.
SETTLE_SECONDS = 5.0


class ActionRefused(UserFacingError):  # noqa: N818 - reads as what happened to the action
    """The claim refused the action; the message is the claim's own reason."""


def _workflow_not_ready(error: RPCError) -> bool:
    """The server dropped the update because the workflow task it rode on failed.

    That happens when events race the task (the server answers UnhandledCommand and
    the worker retries it); the update never reached history, so sending it again is safe.
    """
    return error.status is RPCStatusCode.FAILED_PRECONDITION and "workflow task" in error.message


def no_worker_answered(error: RPCError) -> bool:
    """A query found no worker in time (none running yet, the one holding the claim was
    killed, the server is restarting): asking again later can succeed. A workflow task
    in a failed state, or a claim that does not exist, is not this.
    """
    message = error.message.lower()
    if error.status is RPCStatusCode.CANCELLED:
        return "timeout" in message  # our own rpc_timeout ran out
    if error.status is RPCStatusCode.FAILED_PRECONDITION:
        return "no poller seen" in message  # the server's answer for a queue nobody polls
    return error.status in (RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNAVAILABLE)


@dataclass(frozen=True)
class SignalReceipt:
    """What is known after a signal: the audit entry, once a worker has processed it."""

    workflow_id: str
    entry: AuditEntry | None
    state: ClaimState | None


def claim_handle(client: Client, claim_id: str) -> Handle:
    """The claim's review, its latest run; its result is the outcome."""
    return client.get_workflow_handle(workflow_id_for(claim_id), result_type=ClaimOutcome)


async def query_state(handle: Handle, rpc_timeout: timedelta | None = None) -> ClaimState:
    """The claim's state document; RPC and query failures are the caller's to handle."""
    state: ClaimState = await handle.query(
        STATE_QUERY, result_type=ClaimState, rpc_timeout=rpc_timeout
    )
    return state


async def pinned_state(client: Client, workflow_id: str, run_id: str) -> ClaimState:
    """The state of one run of a workflow, whatever run is the latest by the time it answers."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id, result_type=ClaimOutcome)
    return await query_state(handle)


async def current_state(handle: Handle) -> ClaimState | None:
    """The claim's state, or None when no worker answers in time."""
    try:
        return await query_state(handle, QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        return None


async def act(
    client: Client, claim_id: str, action: HumanAction, payload: dict[str, Any]
) -> ActionAccepted:
    """Take an action through its update; refusals raise ActionRefused with the reason."""
    handle = claim_handle(client, claim_id)
    # One id for every attempt: a retried update that did get in returns its first result.
    update_id = f"{action}-{uuid.uuid4()}"
    attempt = 1
    while True:
        try:
            return await _execute_update(handle, action, payload, update_id)
        except RPCError as error:
            if not _workflow_not_ready(error) or attempt == UPDATE_ATTEMPTS:
                raise
        await asyncio.sleep(0.2 * attempt)
        attempt += 1


async def _execute_update(
    handle: Handle, action: HumanAction, payload: dict[str, Any], update_id: str
) -> ActionAccepted:
    try:
        # The action's value is the contract's update name, the same for every client.
        result: ActionAccepted = await handle.execute_update(
            str(action),
            payload,
            id=update_id,
            result_type=ActionAccepted,
            rpc_timeout=UPDATE_TIMEOUT,
        )
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or failed)
        raise ActionRefused(f"{action} refused: {reason}") from None
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise UserFacingError(
            f"no worker answered the {action} within {UPDATE_TIMEOUT.seconds}s; start one "
            "(`make run` or `claims worker`), or send it as a signal with --signal"
        ) from None
    return result


async def signal_and_watch(
    client: Client,
    claim_id: str,
    action: HumanAction,
    payload: dict[str, Any],
    acknowledge_timeout: float | None = ACKNOWLEDGE_TIMEOUT_SECONDS,
) -> SignalReceipt:
    """Send the action as a signal, then watch the audit log for its outcome.

    With a timeout (a person at a terminal), the receipt has no entry when no worker
    answered before the signal or none recorded it in time: it was sent, and a worker
    will act on it. With None the watch follows events, not the clock: it waits for a
    worker to answer before sending (without one there is no audit log to compare), then
    until the claim records the action or closes without it; only then is the entry None.
    """
    handle = claim_handle(client, claim_id)
    before = await (current_state(handle) if acknowledge_timeout is not None else _answer(handle))
    await handle.signal(str(action), payload)
    if before is None:
        return SignalReceipt(handle.id, None, None)
    seen = len(before.audit_log)
    loop = asyncio.get_running_loop()
    deadline = None if acknowledge_timeout is None else loop.time() + acknowledge_timeout
    while deadline is None or loop.time() < deadline:
        state = await current_state(handle)
        if state is not None:
            for entry in state.audit_log[seen:]:
                if entry.action == action:
                    return SignalReceipt(handle.id, entry, state)
            if state.current_step.is_final and await _closed(handle):
                return await _final_receipt(handle, action, seen)
        await asyncio.sleep(WATCH_INTERVAL_SECONDS)
    return SignalReceipt(handle.id, None, None)


async def _answer(handle: Handle) -> ClaimState:
    """The claim's state once a worker answers; other errors (no such claim) are raised."""
    while True:
        try:
            return await query_state(handle, QUERY_TIMEOUT)
        except RPCError as error:
            if not no_worker_answered(error):
                raise


async def _closed(handle: Handle) -> bool:
    return (await handle.describe()).status is not WorkflowExecutionStatus.RUNNING


async def _final_receipt(handle: Handle, action: HumanAction, seen: int) -> SignalReceipt:
    """The claim has closed: its last state says for good whether it recorded the action."""
    state = await current_state(handle)
    for entry in state.audit_log[seen:] if state else []:
        if entry.action == action:
            return SignalReceipt(handle.id, entry, state)
    return SignalReceipt(handle.id, None, state)


def at_rest(state: ClaimState) -> bool:
    """The claim will not move by itself: it is final, or waits for a person, documents,
    a resume or a fixed configuration (a rate-limit wait ends on its own)."""
    return state.current_step.is_final or any(
        wait.type is not PendingActionType.RATE_LIMIT for wait in state.pending_actions
    )


@dataclass(frozen=True)
class Settled:
    """Where the claim was last seen after an action, and whether it had come to rest."""

    state: ClaimState | None
    resting: bool
    # How long the claim was followed, in seconds.
    followed: float


async def settle(handle: Handle, within: float | None = None) -> Settled:
    """Follow the claim's state until it rests or `within` seconds (SETTLE_SECONDS) pass.

    Product code, for a person at a terminal: the wait is bounded by the clock on
    purpose, and a claim still moving at the end is reported as such, not waited for.
    """
    loop = asyncio.get_running_loop()
    within = SETTLE_SECONDS if within is None else within
    deadline = loop.time() + within
    last: ClaimState | None = None
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return Settled(last, False, within)
        # A query that fails (the worker busy or restarting) is asked again next turn.
        with contextlib.suppress(RPCError, WorkflowQueryFailedError):
            last = await query_state(handle, min(QUERY_TIMEOUT, timedelta(seconds=remaining)))
            if at_rest(last):
                return Settled(last, True, within - max(deadline - loop.time(), 0))
        await asyncio.sleep(min(WATCH_INTERVAL_SECONDS, max(deadline - loop.time(), 0)))


def _when(at: datetime | None) -> str:
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if at else "an unknown time"


def _decided(outcome: ClaimOutcome) -> str:
    """Who closed the claim and how, in words: "approved by maria at ..., paid ..."."""
    from workflows.review_book import AGENT_ACTOR

    who = "automatically" if outcome.decided_by == AGENT_ACTOR else f"by {outcome.decided_by}"
    verb = {
        OutcomeStatus.COMPLETED: "approved",
        OutcomeStatus.REJECTED: "rejected",
        OutcomeStatus.CANCELLED: "cancelled",
        OutcomeStatus.NEEDS_HUMAN: "stopped for a person",
    }[outcome.status]
    said = f"{verb} {who} at {_when(outcome.decided_at)}"
    if outcome.status is OutcomeStatus.COMPLETED:
        said += f", paid {money(outcome.payout_amount)} {outcome.currency}"
    return said


async def _close_event_reason(handle: Handle) -> str:
    """The reason and identity a termination recorded, when it recorded any."""
    async for event in handle.fetch_history_events(
        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT
    ):
        if event.HasField("workflow_execution_terminated_event_attributes"):
            attributes = event.workflow_execution_terminated_event_attributes
            return attributes.reason
    return ""


async def closed_claim_answer(client: Client, claim_id: str) -> str | None:
    """Why the claim takes no actions, in plain words; None while it is still running.

    Reads the outcome of the claim's latest run (who decided, when, what was paid), or
    how the run ended otherwise; a claim the server does not know is said to be missing,
    with the server asked, so a wrong TEMPORAL_ADDRESS shows.
    """
    handle = claim_handle(client, claim_id)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        address = client.service_client.config.target_host
        return (
            f"no claim {claim_id} on this server (Temporal at {address}, namespace "
            f"{client.namespace}). List the claims with `claims status`."
        )
    status = described.status
    unchanged = "nothing was changed"
    run = client.get_workflow_handle(handle.id, run_id=described.run_id, result_type=ClaimOutcome)
    if status is WorkflowExecutionStatus.COMPLETED:
        outcome = await run.result(follow_runs=False)
        return f"{claim_id} is already {outcome.status} ({_decided(outcome)}); {unchanged}"
    closed = _when(described.close_time)
    if status is WorkflowExecutionStatus.TERMINATED:
        reason = await _close_event_reason(run)
        why = f": {reason}" if reason else ""
        return f"{claim_id} was terminated at {closed}{why}; {unchanged}"
    if status is WorkflowExecutionStatus.FAILED:
        return (
            f"{claim_id}'s review failed at {closed}; {unchanged}. See what happened with "
            f"`claims timeline {claim_id}`."
        )
    if status is WorkflowExecutionStatus.CANCELED:
        return f"{claim_id}'s review was cancelled in Temporal at {closed}; {unchanged}"
    if status is WorkflowExecutionStatus.TIMED_OUT:
        return f"{claim_id}'s review timed out at {closed}; {unchanged}"
    return None
