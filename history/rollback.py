"""Rollback: reset the run that holds a version to it, so the agent runs again from there.

Refused when money has moved after that point: replaying the review from there could
decide differently about a payout already issued. The new run is then sent a
`rolled_back` signal, so the claim's audit log says who rolled it back, to which version
and why. (Temporal's post-reset signal would send it with the reset itself, but the
server of the dev setup refuses it: "unsupported post reset operation".)
"""

from __future__ import annotations

import getpass
import uuid
from dataclasses import dataclass

from pydantic import ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, ResetReapplyExcludeType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from history.runs import describe_run, fetch_run_history
from history.versions import RewindError, find_version, latest_state
from signals.client import claim_handle
from signals.messages import ROLLBACK_REASON_LIMIT, ROLLED_BACK, RolledBackPayload

PAYOUT_ACTIVITY = "issue_payout"
# A reset's reason is shown in the Temporal UI beside the run and kept in the claim's
# audit log: a line, not an essay.
REASON_LIMIT = ROLLBACK_REASON_LIMIT
# Who rolled back when no name is given and the login name is not a staff name.
UNKNOWN_OPERATOR = "unknown"


def _payouts(events: list[HistoryEvent], after: int = 0) -> list[HistoryEvent]:
    return [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == PAYOUT_ACTIVITY
        and e.event_id > after
    ]


@dataclass(frozen=True)
class RollbackResult:
    new_run_id: str
    reset_run_id: str
    # The run that was reset, in words: `run … (versions 41 to 80)` or `its only run`.
    reset_run: str
    # True when the reset run is one the claim continued from, not its latest.
    earlier_run: bool
    # True when the new run took the `rolled_back` record into its audit log; False only
    # if it finished before the record reached it (the reason stays with the reset).
    recorded: bool = True


def check_reason(reason: str) -> str:
    """The reason kept with the reset: one printable line a person can read in the UI."""
    text = " ".join(reason.split())
    if not text:
        raise RewindError("--reason needs a few words on why, such as 'wrong rejection'")
    if len(text) > REASON_LIMIT:
        raise RewindError(
            f"--reason is {len(text):,} characters; keep it to {REASON_LIMIT} (it is kept "
            "with the reset in Temporal, not as a note on the claim)"
        )
    if not text.isprintable():
        raise RewindError("--reason contains control characters; give plain text")
    return text


def default_operator() -> str:
    """The login name, when it is a staff name (maria); otherwise `unknown`."""
    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        return UNKNOWN_OPERATOR
    try:
        return RolledBackPayload(operator=login, reason="-", to_version=1).operator
    except ValidationError:
        return UNKNOWN_OPERATOR


def rollback_record(operator: str | None, reason: str, version: int) -> RolledBackPayload:
    """What the new run records in the audit log; a name that is no staff name is refused
    here, before anything is reset."""
    name = default_operator() if operator is None else operator
    try:
        return RolledBackPayload(operator=name, reason=reason, to_version=version)
    except ValidationError:
        raise RewindError(
            f"--as {name!r} is not a staff name; give the name you act under, such as "
            "maria (lower-case letters, digits, and . _ @ -)"
        ) from None


async def rollback(
    client: Client,
    claim_id: str,
    version: int,
    reason: str,
    reapply_signals: bool,
    *,
    operator: str | None = None,
) -> RollbackResult:
    """Reset the run holding `version` to it; the claim goes on in the new run.

    Refused when the payout has already run after that point, in that run or any later
    one: replaying the review from there could decide differently about money already
    paid. Resetting an earlier run ends the current one (Temporal terminates it). Refused
    too when the claim moved to another run while this was checked (another rollback, or
    a continue-as-new): the checks would be about a run that is no longer the claim's.
    The new run records the rollback in the audit log under `operator` (default: the
    login name, or `unknown`).
    """
    reason = check_reason(reason)
    record = rollback_record(operator, reason, version)
    handle = claim_handle(client, claim_id)
    current, latest = await latest_state(client, claim_id)
    found = await find_version(client, current, version, latest)
    where = describe_run(current, found.run)
    reset_to = found.point.workflow_task_completed or found.point.workflow_task_started
    paid = _payouts(list(found.history.events), after=reset_to)
    if paid:
        raise RewindError(
            f"cannot roll {claim_id} back to version {version}: the payout was already "
            f"issued after it (event {paid[0].event_id} of {where}); start a new review instead"
        )
    later = [r for r in current.runs if found.run and r.first_version > found.run.first_version]
    for run in later:
        what = describe_run(current, run)
        history = await fetch_run_history(client, handle.id, run.run_id, what)
        paid = _payouts(list(history.events))
        if paid:
            raise RewindError(
                f"cannot roll {claim_id} back to version {version} (in {where}): the payout "
                f"was already issued in a later run, at event {paid[0].event_id} of {what}; "
                "start a new review instead"
            )
    if (await handle.describe()).run_id != latest:
        raise RewindError(
            f"{handle.id} moved to a new run while the rollback was being checked (another "
            "rollback, or the review continued as new); run the command again"
        )
    run_id = found.run_id
    exclude = (
        []
        if reapply_signals
        else [
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL,
            ResetReapplyExcludeType.RESET_REAPPLY_EXCLUDE_TYPE_UPDATE,
        ]
    )
    try:
        response = await client.workflow_service.reset_workflow_execution(
            ResetWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=handle.id, run_id=run_id),
                reason=f"rollback to version {version}: {reason}",
                workflow_task_finish_event_id=reset_to,
                request_id=str(uuid.uuid4()),
                reset_reapply_exclude_types=exclude,
            )
        )
    except RPCError as error:
        raise RewindError(
            f"cannot roll {claim_id} back to version {version}: it is in {where}, and "
            f"Temporal refused to reset that run at event {reset_to}: {error.message}"
        ) from None
    recorded = await record_rollback(client, handle.id, response.run_id, record)
    return RollbackResult(
        response.run_id, run_id, where, earlier_run=bool(later), recorded=recorded
    )


async def record_rollback(
    client: Client, workflow_id: str, run_id: str, record: RolledBackPayload
) -> bool:
    """Send the new run its `rolled_back` record; False if it finished before it came.

    A claim rolled back to a wait (the usual case) is still waiting; one rolled back into
    the agent's work takes seconds to finish, far longer than this signal takes to send.
    """
    try:
        await client.get_workflow_handle(workflow_id, run_id=run_id).signal(
            ROLLED_BACK, record.model_dump(mode="json", exclude_none=True)
        )
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:  # the run has already finished
            return False
        raise
    return True
