"""A review reaching the approval gate continues as new there, and waits on a short history."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from signals.messages import HumanAction
from tests.helpers import every_run_history
from tests.timeskipping.conftest import WaitForPerson
from workflows.state import OutcomeStatus, Step

# The first run's assessment is some sixty events; the waiting run starts from the state.
SHORT_RUN = 20


async def test_a_claim_waits_for_a_person_in_a_run_of_a_few_events(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson
) -> None:
    """The run that assessed the claim hands everything to the next at the gate: the wait,
    its deadline and reminders, the evidence; the approval lands in the short run, once."""
    async with waiting_claim("CLM-1002") as (review, waiting):
        latest = await review.handle.fetch_history()
        await time_env.sleep(timedelta(hours=25))  # the 24-hour reminder, from the new run
        reminded = [subject for _, subject in review.notices()]
        accepted = await review.act(HumanAction.APPROVE, {"approver": "maria"})
        outcome = await review.outcome()
        every_run = await every_run_history(review.handle)
        final = await review.state()

    gate_run, wait_run = waiting.runs
    rested = next(t for t in waiting.transitions if t.reason.startswith("resting at"))
    assert rested.reason.startswith("resting at the approval gate: continuing as new after ")
    assert Step.AWAITING_MANAGER_APPROVAL == rested.to_step
    assert len(latest.events) < SHORT_RUN < len(every_run.events) - len(latest.events)
    assert wait_run.first_version == rested.version + 1
    assert waiting.context.routing is not None
    assert waiting.context.evidence is not None
    [wait] = waiting.pending_actions
    assert wait.created_at < wait_run.started_at  # the deadline is the gate's, not the run's
    assert [f"Reminder 1: claim {review.claim.claim_id} is waiting for you"] == reminded
    assert "approve" == accepted.action
    assert OutcomeStatus.COMPLETED == outcome.status
    assert [gate_run.run_id, wait_run.run_id] == [r.run_id for r in final.runs]
    assert 1 == len(review.payouts())
