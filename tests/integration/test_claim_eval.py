"""The evaluation workflow on a real dev server: one dry rerun per case and candidate.

The cases come from a loader of the test's own (the same activity name the worker
registers), so these tests are about the workflow: its answers, its bounds, its
continue-as-new and its refusal to pay or notify anyone.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from temporalio import activity
from temporalio.client import Client

from activities.payments import Ledger
from evaluation.runner import start_evaluation, wait_for_result
from runtime.devserver import DevServer
from tests.helpers import sample_claim, settings_in
from worker import build_activities, create_worker
from workflows.claim_eval import LOAD_EVAL_CASES
from workflows.evaluation import (
    AGENT_DECIDER,
    Candidate,
    EvalCase,
    EvalCasePage,
    EvalRequest,
    EvalSource,
    EvalSourceKind,
    FinalDecision,
    Route,
)
from workflows.state import OutcomeStatus

pytestmark = pytest.mark.integration

TASK_QUEUE = "claim-eval-it"


def decided(sample: str, status: OutcomeStatus, payout: str, by: str, route: Route) -> EvalCase:
    claim = sample_claim(sample)
    return EvalCase(
        case_id=claim.claim_id,
        claim=claim,
        final=FinalDecision(
            status=status, payout_amount=Decimal(payout), decided_by=by, route=route
        ),
        tags=["sample"],
        workflow_id=claim.workflow_id,
    )


CASES = [
    decided("CLM-1001", OutcomeStatus.COMPLETED, "420", AGENT_DECIDER, Route.AUTO),
    decided("CLM-1002", OutcomeStatus.COMPLETED, "1250", "maria", Route.HUMAN),
    decided("CLM-1004", OutcomeStatus.REJECTED, "0", "maria", Route.HUMAN),
]


class PagedCases:
    """A loader over a fixed list, two cases a page, counting the pages it served."""

    def __init__(self, cases: list[EvalCase]) -> None:
        self.cases = cases
        self.pages_served = 0

    @activity.defn(name=LOAD_EVAL_CASES)
    async def load(self, source: EvalSource, cursor: str | None) -> EvalCasePage:
        start = int(cursor or 0)
        self.pages_served += 1
        following = start + 2
        return EvalCasePage(
            cases=self.cases[start:following],
            cursor=str(following) if following < len(self.cases) else None,
        )


async def evaluate(
    client: Client, tmp_path: Path, request: EvalRequest, loader: PagedCases
) -> tuple[object, Path]:
    settings = settings_in(tmp_path, CLAIMS_TASK_QUEUE=TASK_QUEUE)
    activities = [*build_activities(settings), loader.load]
    async with create_worker(
        client, settings, interceptors=[], activities=activities, with_eval_loader=False
    ):
        started = await start_evaluation(client, request, TASK_QUEUE)
        result = await wait_for_result(started.handle, lambda _counts: None)
    return result, settings.ledger_db


async def test_each_candidate_reruns_each_case_once_and_nothing_is_paid(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Two candidates over three cases: six dry reruns, a raised limit auto-approves more.

    CLM-1002 (1,250 USD) is over the default 1,000 auto-approval limit, so the current
    settings send it to a person, and a 5,000 limit lets the agent pay it. The dry runs
    write nothing to the ledger: no payout, no notice.
    """
    client = await dev_server.start()
    request = EvalRequest(
        eval_id="it-two-candidates",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path)),
        candidates=[
            Candidate(name="current"),
            Candidate(name="generous", policy_overrides={"auto_approval_limit": 5000}),
        ],
        concurrency=3,
    )
    loader = PagedCases(CASES)

    result, ledger = await evaluate(client, tmp_path, request, loader)

    routes = {(a.candidate, a.case_id): a.route for a in result.answers}  # type: ignore[attr-defined]
    assert 6 == len(routes)
    assert Route.HUMAN == routes[("current", "CLM-1002")]
    assert Route.AUTO == routes[("generous", "CLM-1002")]
    assert ["CLM-1001", "CLM-1002", "CLM-1004"] == [lab.case_id for lab in result.labels]  # type: ignore[attr-defined]
    assert all(a.model_turns >= 1 and a.input_tokens > 0 for a in result.answers)  # type: ignore[attr-defined]
    assert 2 == loader.pages_served
    assert ([], []) == (
        Ledger(ledger).payouts_for("CLM-1002"),
        Ledger(ledger).notices_for("CLM-1002"),
    )
