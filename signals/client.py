"""Typed helpers that send human decisions to a claim and report what became of them."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from workflows.claim import workflow_id_for
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import AuditEntry, ClaimOutcome, ClaimState, DecisionKind

# How long to watch for the worker to record a signal before answering "sent".
ACKNOWLEDGE_TIMEOUT_SECONDS = 10.0
# A query needs a running worker; without one, say so quickly instead of hanging.
QUERY_TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class DecisionReceipt:
    """What is known after sending: the audit entry if the worker has processed it."""

    workflow_id: str
    entry: AuditEntry | None
    state: ClaimState | None


def claim_handle(
    client: Client, claim_id: str
) -> WorkflowHandle[ClaimReviewWorkflow, ClaimOutcome]:
    return client.get_workflow_handle_for(ClaimReviewWorkflow.run, workflow_id_for(claim_id))


async def _state_or_none(
    handle: WorkflowHandle[ClaimReviewWorkflow, ClaimOutcome],
) -> ClaimState | None:
    try:
        return await handle.query(ClaimReviewWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        return None


async def send_decision(
    client: Client,
    claim_id: str,
    kind: DecisionKind,
    approver: str,
    comment: str = "",
    acknowledge_timeout: float = ACKNOWLEDGE_TIMEOUT_SECONDS,
) -> DecisionReceipt:
    """Signal `approve` or `reject`, then wait briefly for the claim's audit log to answer."""
    handle = claim_handle(client, claim_id)
    before = await _state_or_none(handle)
    seen = len(before.audit_log) if before else 0
    signal = (
        ClaimReviewWorkflow.approve if kind is DecisionKind.APPROVE else ClaimReviewWorkflow.reject
    )
    await handle.signal(signal, {"approver": approver, "comment": comment})
    loop = asyncio.get_running_loop()
    deadline = loop.time() + acknowledge_timeout
    while before is not None and loop.time() < deadline:
        state = await _state_or_none(handle)
        if state is not None:
            for entry in state.audit_log[seen:]:
                if entry.actor == approver and entry.action == kind:
                    return DecisionReceipt(handle.id, entry, state)
        await asyncio.sleep(0.2)
    return DecisionReceipt(handle.id, None, None)
