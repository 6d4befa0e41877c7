"""Three workers on one task queue, one SIGKILLed mid-run: every claim ends paid, once."""

from __future__ import annotations

from pathlib import Path

import pytest

from activities.payments import Ledger
from bench.many_workers import (
    APPROVER,
    AUTO_AMOUNT,
    WAITING_AMOUNT,
    Scenario,
    kill_first,
    resume_report,
    run_scenario,
    scenario_records,
)
from runtime.devserver import DevServer
from tests.integration.conftest import WorkerProcess
from workflows.review_book import AGENT_ACTOR
from workflows.state import OutcomeStatus

pytestmark = pytest.mark.integration

WORKERS = 3


async def test_a_worker_killed_mid_run_loses_no_claim_and_pays_none_twice(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """300 claims on three workers; one is SIGKILLed after 50 of 150 approvals, while the
    other approvals and 150 auto-approved claims are in flight.

    Every claim completes, paid its amount, with exactly one payout in the shared ledger;
    claims the killed worker held were taken over by the others (its sticky queue, its
    started tasks), which the histories show.
    """
    scenario = Scenario(waiting=150, auto=150, kill_after_approvals=50)
    records = scenario_records(tmp_path, scenario)
    client = await dev_server.start()
    workers = [
        worker_process(
            CLAIMS_TASK_QUEUE=scenario.task_queue,
            CLAIMS_RECORDS_FILE=str(records),
            CLAIMS_LOG_LEVEL="WARNING",
        )
        for _ in range(WORKERS)
    ]

    run = await run_scenario(client, scenario, kill_first(workers), WORKERS)
    resumed, touched = await resume_report(client, run)

    expected = {c.claim_id: (APPROVER, WAITING_AMOUNT) for c in scenario.waiting_claims()}
    expected |= {c.claim_id: (AGENT_ACTOR, AUTO_AMOUNT) for c in scenario.auto_claims()}
    outcomes = {
        claim_id: (o.status, o.decided_by, o.payout_amount) for claim_id, o in run.outcomes.items()
    }
    assert {
        claim_id: (OutcomeStatus.COMPLETED, by, amount)
        for claim_id, (by, amount) in expected.items()
    } == outcomes
    ledger = Ledger(tmp_path / "ledger.db")
    paid_twice_or_never = {
        claim_id: payouts
        for claim_id, outcome in run.outcomes.items()
        if (payouts := ledger.payouts_for(claim_id))
        != [(outcome.payout_id, f"{outcome.payout_amount:.2f}")]
    }
    assert {} == paid_twice_or_never
    assert None not in {o.payout_id for o in run.outcomes.values()}
    assert 50 == run.approvals_before_kill
    assert workers[0].poll() is not None
    assert touched > 0, "the killed worker ran no task of any claim"
    assert resumed, "no task the killed worker held was taken over by another worker"
