"""Looking back and going back on a real dev server: state at a version, rollback, what-if."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.client import WorkflowExecutionStatus

from activities.payments import Ledger
from history.fork import fork
from history.replay import state_at_version
from history.rollback import rollback
from history.runs import earlier_runs
from history.versions import RewindError
from runtime.devserver import DevServer
from runtime.settings import EXAMPLES_DIR
from signals.client import act, claim_handle
from signals.messages import HumanAction
from starter import start_claim
from tests.helpers import eventually, unique_claim, until_step
from tests.integration.conftest import WorkerProcess
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import AuditOutcome, ClaimState, OutcomeStatus, Step

pytestmark = pytest.mark.integration
QUEUE = "claim-review-it"


async def test_state_at_a_version_is_rebuilt_by_replay(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """Version 2 is before any tool ran; the waiting version has its pending action; every
    version comes back, including the approval, made by an update."""
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, QUEUE)
    handle = claim_handle(client, claim.claim_id)
    waiting = await eventually(
        lambda: handle.query(ClaimReviewWorkflow.state),
        lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL,
    )
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"})
    await handle.result()

    early = await state_at_version(client, claim.claim_id, 2)
    at_wait = await state_at_version(client, claim.claim_id, waiting.version)

    assert (Step.ASSESSING, [], None) == (
        early.current_step,
        early.llm_state.tool_call_history,
        early.outcome,
    )
    assert waiting.model_dump() == at_wait.model_dump()
    final = await handle.query(ClaimReviewWorkflow.state)
    for version in range(1, final.version + 1):
        rebuilt = await state_at_version(client, claim.claim_id, version)
        assert [t.model_dump() for t in final.transitions[:version]] == [
            t.model_dump() for t in rebuilt.transitions[:version]
        ], f"version {version}"
    with pytest.raises(RewindError, match="has no version 99"):
        await state_at_version(client, claim.claim_id, 99)


async def test_rollback_reruns_from_a_version_and_refuses_once_paid(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """A wrong rejection is rolled back to the wait; after the payout, rollback is refused."""
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1004")
    await start_claim(client, claim, QUEUE)
    handle = claim_handle(client, claim.claim_id)

    async def state() -> ClaimState:
        return await client.get_workflow_handle(handle.id).query(ClaimReviewWorkflow.state)

    waiting = await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    await act(client, claim.claim_id, HumanAction.REJECT, {"approver": "maria", "comment": "x"})
    rejected = await handle.result()
    rejected_run = (await handle.describe()).run_id

    rolled = await rollback(client, claim.claim_id, waiting.version, "wrong", False)
    # The new run records the rollback in its audit log: who, to which version, why.
    again = await eventually(
        state,
        lambda s: (
            s.current_step is Step.AWAITING_MANAGER_APPROVAL
            and [e.action for e in s.audit_log] == ["rolled_back"]
        ),
    )
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"})
    paid = await client.get_workflow_handle(handle.id, run_id=rolled.new_run_id).result()
    with pytest.raises(RewindError, match="payout was already issued"):
        await rollback(client, claim.claim_id, waiting.version, "again", False)

    assert OutcomeStatus.REJECTED == rejected.status
    assert (False, rejected_run) == (rolled.earlier_run, rolled.reset_run_id)
    assert (waiting.version, ["rolled_back"]) == (
        again.version,
        [e.action for e in again.audit_log],
    )
    assert "completed" == paid["status"]
    assert 1 == len(Ledger(tmp_path / "ledger.db").payouts_for(claim.claim_id))


async def test_a_what_if_fork_reruns_dry_and_reports_the_difference(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """With a 2,000 auto-approval limit the 1,250 claim would have paid itself; nothing moves."""
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, QUEUE)
    handle = claim_handle(client, claim.claim_id)
    await eventually(
        lambda: handle.query(ClaimReviewWorkflow.state),
        lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL,
    )

    looser = await fork(
        client, claim.claim_id, 1, task_queue=QUEUE, overrides={"auto_approval_limit": 2000}
    )
    stricter = await fork(client, claim.claim_id, 1, task_queue=QUEUE)

    assert (f"claim-{claim.claim_id}-whatif-1", OutcomeStatus.COMPLETED, Decimal(1250)) == (
        looser.workflow_id,
        looser.outcome.status,
        looser.outcome.payout_amount,
    )
    assert None is looser.outcome.payout_id
    assert "dry run: would pay 1,250.00" in [
        e.detail for e in looser.what_if.audit_log if e.outcome is AuditOutcome.RECORDED
    ]
    assert (f"claim-{claim.claim_id}-whatif-2", OutcomeStatus.NEEDS_HUMAN) == (
        stricter.workflow_id,
        stricter.outcome.status,
    )
    assert Step.AWAITING_MANAGER_APPROVAL == looser.original.current_step
    assert [] == Ledger(tmp_path / "ledger.db").payouts_for(claim.claim_id)


async def test_show_timeline_and_rollback_reach_a_version_in_an_earlier_run(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """The claim rests at the approval gate in its second run; refused signals push that
    run past a 100-event budget, so it continues as new again. The wait's version is in
    the second run: it is rebuilt from that run, the timeline of the latest run names the
    two before, and rollback resets the second run (ending the third), after which one
    approval pays once and a second rollback is refused."""
    policy = tmp_path / "approvers.toml"
    policy.write_text(
        "history_budget_events = 100\n"
        + (EXAMPLES_DIR / "approvers.toml").read_text(encoding="utf-8")
    )
    client = await dev_server.start()
    worker_process(CLAIMS_APPROVERS_FILE=str(policy))
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, QUEUE)
    handle = claim_handle(client, claim.claim_id)
    waiting = await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    gate_run, wait_run = waiting.runs

    for k in range(1000):
        await handle.signal(ClaimReviewWorkflow.approve, {"approver": f"mallory-{k}"})
        if (await handle.describe()).run_id != wait_run.run_id:
            break
    continued = await eventually(
        lambda: client.get_workflow_handle(handle.id).query(ClaimReviewWorkflow.state),
        lambda s: len(s.runs) == 3,
    )
    third_run = continued.runs[2]
    cut = next(t.version for t in continued.transitions if t.reason.startswith("continuing as"))
    latest = await client.get_workflow_handle(handle.id).fetch_history()
    earlier, more = await earlier_runs(client, handle.id, latest.events[0])

    at_wait = await state_at_version(client, claim.claim_id, waiting.version)
    rolled = await rollback(client, claim.claim_id, waiting.version, "wrong", False)
    again = await eventually(
        lambda: client.get_workflow_handle(handle.id).query(ClaimReviewWorkflow.state),
        lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL and len(s.runs) == 2,
    )
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"})
    paid = await client.get_workflow_handle(handle.id, run_id=rolled.new_run_id).result()
    ended = await client.get_workflow_handle(handle.id, run_id=third_run.run_id).describe()
    with pytest.raises(RewindError, match="payout was already issued"):
        await rollback(client, claim.claim_id, waiting.version, "again", False)

    assert (1, cut + 1) == (gate_run.first_version, third_run.first_version)
    assert waiting.model_dump() == at_wait.model_dump()
    assert ([wait_run.run_id, gate_run.run_id], False) == ([r.run_id for r in earlier], more)
    assert (True, wait_run.run_id) == (rolled.earlier_run, rolled.reset_run_id)
    assert f"run {wait_run.run_id} (versions {wait_run.first_version} to {cut})" == (
        rolled.reset_run
    )
    assert (waiting.version, [gate_run.run_id, rolled.new_run_id]) == (
        again.version,
        [r.run_id for r in again.runs],
    )
    assert WorkflowExecutionStatus.TERMINATED == ended.status
    assert "completed" == paid["status"]
    assert 1 == len(Ledger(tmp_path / "ledger.db").payouts_for(claim.claim_id))
