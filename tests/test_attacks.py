"""Attacks on a hardened review: what an outsider who can reach Temporal, or a careless
operator, could send, and that the claim ends as it must: audited, unpaid, not wedged.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from activities.payments import Ledger
from tests.conftest import WorkerFactory
from tests.helpers import start, state_of, unique_claim, until_step
from workflows.claim_review import TEMPORAL_CANCELLATION, ClaimReviewWorkflow
from workflows.state import AuditOutcome, ClaimState, OutcomeStatus, Step


def cancels(state: ClaimState) -> list[tuple[str, AuditOutcome]]:
    return [(e.actor, e.outcome) for e in state.audit_log if e.action == "cancel"]


async def test_a_temporal_cancellation_sent_twice_while_awaiting_documents_cancels_once(
    time_env: WorkflowEnvironment, claims_worker: WorkerFactory
) -> None:
    """Two cancellation requests during the documents wait: cancelled, audited once, unpaid."""
    claim = unique_claim("CLM-1002")
    async with claims_worker() as (_, settings):
        handle = await start(time_env.client, claim, settings.task_queue)
        await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
        await handle.signal(
            ClaimReviewWorkflow.request_info, {"requested_by": "maria", "what": "the invoice"}
        )
        await until_step(handle, Step.AWAITING_DOCUMENTS)
        await handle.cancel()
        await handle.cancel()
        outcome = await handle.result()
        final = await state_of(handle)
        payouts = Ledger(settings.ledger_db).payouts_for(claim.claim_id)

    assert (OutcomeStatus.CANCELLED, Step.CANCELLED) == (outcome.status, final.current_step)
    assert [(TEMPORAL_CANCELLATION, AuditOutcome.ACCEPTED)] == cancels(final)
    assert ([], []) == (final.pending_actions, payouts)
