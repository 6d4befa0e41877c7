"""`claims show` says what the hardened review knows: its runs, waits, and counted refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

from rich.console import Console

from cli.render import render_state
from tests.helpers import sample_claim
from workflows.state import (
    AuditOutcome,
    ClaimState,
    PendingAction,
    PendingActionType,
    ProposedActions,
    RunRecord,
    Step,
)

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def shown(state: ClaimState) -> str:
    out = StringIO()
    Console(file=out, width=400, force_terminal=False).print(render_state(state))
    return " ".join(out.getvalue().split())


def test_a_waiting_review_shows_its_runs_its_wait_and_its_counted_refusals() -> None:
    """A waiting review shows its runs across continue-as-new, why it waits, an unverified
    proposal, and how many refusals were counted but not listed.
    """
    state = ClaimState.begin(
        sample_claim("CLM-1002"), workflow_id="claim-CLM-1002", at=NOW, history_length=1
    )
    state.current_step = Step.AWAITING_MANAGER_APPROVAL
    state.version = 40
    state.runs = [
        RunRecord(run_id="run-1", first_version=1, started_at=NOW),
        RunRecord(run_id="run-2", first_version=31, started_at=NOW),
    ]
    state.pending_actions = [
        PendingAction(
            type=PendingActionType.CONFIGURATION,
            timeout=NOW + timedelta(seconds=10),
            created_at=NOW,
            trigger="timer: read the approvers file again",
            detail="approvers file /etc/approvers.toml is not valid: approvers: field required",
        )
    ]
    state.context.proposal = ProposedActions(
        payout_amount=Decimal(0),
        currency="USD",
        payee_id="CUS-1042",
        customer_message="closed",
        unverified=True,
    )
    state.audit(
        at=NOW, actor="mallory", action="approve", outcome=AuditOutcome.REFUSED, detail="no"
    )
    state.refusals_not_listed = 900

    text = shown(state)

    assert "runs 2 (continued as new; this run holds versions 31 on)" in text
    assert "approvers: field required" in text
    assert "no tool checked what the policy pays" in text
    assert "and 900 more refused actions, counted but not listed" in text
