"""A rollback on a real dev server is in the claim's audit log: who, to which version, why.

The record travels with the reset itself (a post-reset signal), so the new run has it
before anything else happens; the timeline then names it, and refused signals, too.
"""

from __future__ import annotations

import pytest

from history.rollback import record_rollback, rollback, rollback_record
from history.runs import fetch_every_run
from history.timeline import Kind, runs_timeline_rows
from history.versions import RewindError
from runtime.devserver import DevServer
from signals.client import claim_handle
from signals.messages import ROLLED_BACK
from starter import start_claim
from tests.helpers import eventually, unique_claim
from tests.integration.conftest import WorkerProcess
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import AuditOutcome, ClaimState, OutcomeStatus, Step

pytestmark = pytest.mark.integration
QUEUE = "claim-review-it"


async def test_a_rollback_is_audited_with_who_and_why(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """A wrong rejection rolled back by Maria: the new run's audit log records her, the
    version and the reason, at the version rolled back to; a name that is no staff name
    is refused before anything is reset; the new run's timeline marks each signal; a run
    that has finished cannot take the record, and the rollback says so."""
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, QUEUE)
    handle = claim_handle(client, claim.claim_id)

    async def state() -> ClaimState:
        return await client.get_workflow_handle(handle.id).query(ClaimReviewWorkflow.state)

    waiting = await eventually(state, lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL)
    await handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria", "comment": "x"})
    rejected = await handle.result()
    rejected_run = (await handle.describe()).run_id
    with pytest.raises(RewindError, match="is not a staff name"):
        await rollback(
            client, claim.claim_id, waiting.version, "wrong", False, operator="Maria Lopez"
        )
    unchanged = (await handle.describe()).run_id

    rolled = await rollback(
        client, claim.claim_id, waiting.version, "wrong rejection", False, operator="Maria"
    )
    again = await eventually(
        state,
        lambda s: any(e.action == ROLLED_BACK for e in s.audit_log),
        what="the rollback recorded in the new run",
    )
    # The new run goes through the approval gate again and may rest there, continuing as
    # new: the approvals go to whichever run is latest, as `claims approve` sends them.
    latest = client.get_workflow_handle(handle.id)
    await latest.signal(ClaimReviewWorkflow.approve, {"approver": "nobody"})
    await eventually(state, lambda s: any(e.outcome is AuditOutcome.REFUSED for e in s.audit_log))
    await latest.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
    paid = await latest.result()
    final = await state()
    too_late = await record_rollback(
        client, handle.id, rolled.new_run_id, rollback_record("maria", "late", 2)
    )
    # The run the reset made, and the run it continued as, if it rested at the gate.
    since_reset = await fetch_every_run(client, handle.id)
    signals = [
        r.description
        for r in runs_timeline_rows([run.events for run in since_reset], final.audit_log)
        if r.kind is Kind.SIGNAL
    ]

    assert (OutcomeStatus.REJECTED, rejected_run) == (rejected.status, unchanged)
    assert (True, False) == (rolled.recorded, too_late)
    [record] = [e for e in again.audit_log if e.action == ROLLED_BACK]
    assert (
        "maria",
        AuditOutcome.ACCEPTED,
        f"claims rollback to version {waiting.version}: wrong rejection",
    ) == (record.actor, record.outcome, record.detail)
    # The record is no new version: it carries the version the claim stood at when it
    # arrived. The reset point is the workflow task that made the version rolled back to,
    # and that task runs again in the new run: the signal may arrive before it (the
    # version the task started from), after it, or, on a busy machine, after later steps
    # of the agent's loop ran again.
    task_start = next(t.history_length for t in waiting.transitions if t.version == waiting.version)
    task_started_from = max(
        (t.version for t in waiting.transitions if t.history_length < task_start), default=1
    )
    assert task_started_from <= record.version <= again.version
    assert "completed" == paid["status"]
    assert [
        'rolled_back signal by maria: "wrong rejection" -> accepted',
        "approve signal by nobody -> refused: 'nobody' is not in the approver directory",
        "approve signal by maria -> accepted",
    ] == signals
