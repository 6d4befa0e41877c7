"""The sweeps' workflows on the time-skipping server: digests, re-screens, reconciliation.

The list of waiting claims comes from a visibility query, which the test server cannot
answer, so the digest reads a fake list and the re-screen lists one known claim; every
other step is real: the outbox, the approver directory, the records and a waiting claim.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowExecution
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.payments import Ledger
from activities.records import Records, SystemOfRecord
from activities.sweep_activities import SweepActivities
from runtime.settings import EXAMPLES_DIR
from signals.messages import HumanAction
from tests.helpers import eventually
from tests.timeskipping.conftest import Review, WaitForPerson
from workflows.reconciliation import ReconciliationEntry, ReconciliationReport
from workflows.state import AuditOutcome, ClaimState, Step
from workflows.sweeps import (
    SWEEP_WORKFLOWS,
    ApproverDigest,
    DigestLine,
    PayoutReconciliationWorkflow,
    ReconciliationInput,
    RescreenFindings,
    RescreenInput,
    SlaDigestInput,
    SlaDigestWorkflow,
    WaitingWork,
    WaitingWorkRequest,
    WatchlistFinding,
    WatchlistRescreenWorkflow,
)

OPERATOR = "watchlist-rescreen"


def approvers_with_rescreen(tmp_path: Path) -> Path:
    """The demo directory, which names the re-screen's operator as a cluster's must."""
    path = tmp_path / "approvers.toml"
    path.write_text((EXAMPLES_DIR / "approvers.toml").read_text())
    assert f'name = "{OPERATOR}"' in path.read_text()
    return path


def sweeps_for(
    env: WorkflowEnvironment,
    tmp_path: Path,
    *,
    listed: Callable[[], list[WorkflowExecution]] | None = None,
    records_db: Path | None = None,
) -> SweepActivities:
    """The real sweep activities over temp data; `listed` stands in for the list query."""

    class Listed(SweepActivities):
        async def _list(self, query: str, limit: int | None) -> list[WorkflowExecution]:
            return listed() if listed is not None else []

    return Listed(
        env.client,
        approvers_file=approvers_with_rescreen(tmp_path),
        records=SystemOfRecord.open(
            records_db or tmp_path / "records.db", seed=EXAMPLES_DIR / "records.json"
        ),
        ledger=Ledger(tmp_path / "ledger.db"),
        inbox_query=lambda names: "",
        waiting_query="",
    )


@asynccontextmanager
async def sweep_worker(env: WorkflowEnvironment, *activities: Any) -> AsyncIterator[str]:
    """A worker for the sweep workflows and the given activities; yields its task queue."""
    queue = f"sweeps-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client, task_queue=queue, workflows=SWEEP_WORKFLOWS, activities=activities
    ):
        yield queue


def staff_notices(tmp_path: Path) -> list[tuple[str, str]]:
    return Ledger(tmp_path / "ledger.db").notices_for("")


async def test_the_digest_sends_one_notice_per_approver_with_work_once_a_day(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Each approver with claims waiting gets one digest naming the overdue ones; a second
    run the same day sends nothing new, and an approver with nothing waiting gets nothing.
    """
    due = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

    @activity.defn(name="list_waiting_work")
    async def fake_list(request: WaitingWorkRequest) -> WaitingWork:
        late = DigestLine(
            claim_id="CLM-1",
            step="awaiting_manager_approval",
            assignee="maria",
            deadline=due,
            overdue=True,
        )
        fresh = DigestLine(
            claim_id="CLM-2",
            step="awaiting_manager_approval",
            assignee="approvers",
            deadline=due + timedelta(days=3),
        )
        return WaitingWork(
            digests=[
                ApproverDigest(approver="maria", waiting=[late, fresh]),
                ApproverDigest(approver="sam", waiting=[fresh]),
                ApproverDigest(approver="dana"),
            ]
        )

    sweeps = sweeps_for(time_env, tmp_path)
    async with sweep_worker(time_env, fake_list, sweeps.send_staff_notice) as queue:
        for _ in range(2):
            result = await time_env.client.execute_workflow(
                SlaDigestWorkflow.run,
                SlaDigestInput(day="2026-12-01"),
                id=f"digest-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )

    assert ["maria", "sam"] == result.sent_to
    assert [
        ("maria", "2 claims wait for you, 1 overdue (2026-12-01)"),
        ("sam", "1 claims wait for you, 0 overdue (2026-12-01)"),
    ] == staff_notices(tmp_path)


async def test_a_new_watchlist_match_interrupts_a_waiting_claim_once_across_two_runs(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson, tmp_path: Path
) -> None:
    """A claimant put on the watch list after screening interrupts the waiting claim with
    a staff note naming the match; the next hour's run finds it known and sends nothing.
    """
    directory = approvers_with_rescreen(tmp_path)
    async with waiting_claim(CLAIMS_APPROVERS_FILE=str(directory)) as (review, _):
        records = SystemOfRecord.open(review.settings.records_db, seed=review.settings.records_file)
        records.add_records(Records(watchlist=[review.claim.claimant.id]))
        described = await review.handle.describe()
        sweeps = sweeps_for(
            time_env, tmp_path, listed=lambda: [described], records_db=review.settings.records_db
        )
        async with sweep_worker(time_env, sweeps.find_new_watchlist_matches) as queue:
            first = await rescreen(time_env, queue)
            state = await interrupted_and_waiting_again(review)
            second = await rescreen(time_env, queue)
            # Back at the gate, resting again (continued as new) before the worker stops.
            after = await review.until(Step.AWAITING_MANAGER_APPROVAL)

    assert [review.claim.claim_id] == first.interrupted
    assert [] == second.interrupted
    assert 1 == len(rescreen_interrupts(after))
    assert any(f"watch-list match {review.claim.claimant.id}" in n for n in state.context.notes)


async def rescreen(env: WorkflowEnvironment, queue: str) -> Any:
    return await env.client.execute_workflow(
        WatchlistRescreenWorkflow.run,
        RescreenInput(),
        id=f"rescreen-{uuid.uuid4().hex[:8]}",
        task_queue=queue,
    )


def rescreen_interrupts(state: ClaimState) -> list[str]:
    return [
        e.detail
        for e in state.audit_log
        if e.actor == OPERATOR
        and e.action == HumanAction.INTERRUPT
        and e.outcome is AuditOutcome.ACCEPTED
    ]


async def interrupted_and_waiting_again(review: Review) -> ClaimState:
    """The claim's state once it took the interrupt and came back to wait for a person."""
    return await eventually(
        review.state,
        lambda s: (
            bool(rescreen_interrupts(s))
            and s.current_step is Step.AWAITING_MANAGER_APPROVAL
            and s.context.evidence is not None
            and s.context.evidence.watchlist is not None
            and bool(s.context.evidence.watchlist.hits)
        ),
        what="the interrupt taken and the claim waiting again",
    )


async def test_reconciliation_tells_the_claims_managers_of_a_mismatch_and_only_then(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """A report with mismatches sends each claims manager one notice; a clean one, none."""
    night = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    paid_less = ReconciliationEntry(
        claim_id="CLM-7",
        idempotency_key="claim/CLM-7/payout",
        ours="100.00 USD",
        theirs="90.00 USD",
    )
    reports = iter(
        [
            ReconciliationReport(
                gateway="http", since=night, until=night, matched=3, amount_mismatch=[paid_less]
            ),
            ReconciliationReport(gateway="http", since=night, until=night, matched=4),
        ]
    )

    @activity.defn(name="reconcile_payouts")
    async def fake_reconcile(since_days: int) -> ReconciliationReport:
        return next(reports)

    sweeps = sweeps_for(time_env, tmp_path)
    async with sweep_worker(
        time_env, fake_reconcile, sweeps.staff_with_roles, sweeps.send_staff_notice
    ) as queue:
        results = [
            await time_env.client.execute_workflow(
                PayoutReconciliationWorkflow.run,
                ReconciliationInput(),
                id=f"reconcile-{uuid.uuid4().hex[:8]}",
                task_queue=queue,
            )
            for _ in range(2)
        ]

    assert [["maria", "lee"], []] == [r.notified for r in results]
    assert [1, 0] == [r.mismatches for r in results]
    assert ["maria", "lee"] == [recipient for recipient, _ in staff_notices(tmp_path)]


async def test_a_claim_that_ended_before_its_interrupt_does_not_fail_the_rescreen(
    time_env: WorkflowEnvironment,
) -> None:
    """A finding whose claim finished between the screening and the signal is skipped: the
    run goes on to the next finding and completes, naming the claim it could not reach.
    """

    @activity.defn(name="find_new_watchlist_matches")
    async def found(request: Any) -> RescreenFindings:
        return RescreenFindings(
            screened=2,
            findings=[
                WatchlistFinding(claim_id=c, workflow_id=f"claim-{c}", match="P-1")
                for c in (f"gone-{uuid.uuid4().hex[:6]}", f"gone-{uuid.uuid4().hex[:6]}")
            ],
        )

    async with sweep_worker(time_env, found) as queue:
        result = await rescreen(time_env, queue)

    assert ([], 2) == (result.interrupted, len(result.ended))
