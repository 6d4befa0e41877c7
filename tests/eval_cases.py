"""Decided cases for evaluation tests and recordings: three sample claims with their
labels, and a loader that serves a fixed list a page at a time."""

from __future__ import annotations

from decimal import Decimal

from temporalio import activity

from tests.helpers import sample_claim
from workflows.claim_eval import LOAD_EVAL_CASES
from workflows.evaluation import (
    AGENT_DECIDER,
    EvalCase,
    EvalCasePage,
    EvalSource,
    FinalDecision,
    Route,
)
from workflows.state import OutcomeStatus


def decided(sample: str, status: OutcomeStatus, payout: str, by: str, route: Route) -> EvalCase:
    """A sample claim as a case, with what was finally decided about it."""
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


def sample_cases() -> list[EvalCase]:
    """CLM-1001 paid by the agent, CLM-1002 paid by a person, CLM-1004 rejected by one."""
    return [
        decided("CLM-1001", OutcomeStatus.COMPLETED, "420", AGENT_DECIDER, Route.AUTO),
        decided("CLM-1002", OutcomeStatus.COMPLETED, "1250", "maria", Route.HUMAN),
        decided("CLM-1004", OutcomeStatus.REJECTED, "0", "maria", Route.HUMAN),
    ]


class PagedCases:
    """A loader over a fixed list, `per_page` cases a page, counting the pages it served."""

    def __init__(self, cases: list[EvalCase], per_page: int = 2) -> None:
        self.cases = cases
        self.per_page = per_page
        self.pages_served = 0

    @activity.defn(name=LOAD_EVAL_CASES)
    async def load(self, source: EvalSource, cursor: str | None) -> EvalCasePage:
        start = int(cursor or 0)
        self.pages_served += 1
        following = start + self.per_page
        return EvalCasePage(
            cases=self.cases[start:following],
            cursor=str(following) if following < len(self.cases) else None,
        )
