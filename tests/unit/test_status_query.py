"""`claims status` and `claims inbox`: one list query each, values quoted safely, and a
claim whose run was stopped from outside never listed as waiting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from temporalio.client import WorkflowExecutionStatus

from cli.status_query import claims_query, describe_filters, inbox_query, step_shown
from runtime.errors import UserFacingError

NOW = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC)


def test_no_filters_lists_every_claim_once() -> None:
    """Every claim, finished or not; a run that continued as new is listed by its
    current run only."""
    assert (
        "WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus != 'ContinuedAsNew'"
    ) == claims_query()


def test_step_and_assignee_become_attribute_conditions() -> None:
    """Both filters hold at once; the step is normalised to its enum value; a claim waits
    only while its run runs."""
    assert (
        "WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus = 'Running' "
        "AND ClaimStep = 'awaiting_manager_approval' AND Assignee = 'approvers'"
    ) == claims_query(step=" Awaiting_Manager_Approval ", assignee="approvers")


@pytest.mark.parametrize(
    "step",
    ["intake", "assessing", "awaiting_manager_approval", "awaiting_documents", "executing"],
)
def test_a_step_on_the_way_is_searched_among_running_claims_only(step: str) -> None:
    """A claim terminated while it waited keeps ClaimStep; it is not at that step any more."""
    assert (
        f"WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus = 'Running' "
        f"AND ClaimStep = '{step}'"
    ) == claims_query(step=step)


@pytest.mark.parametrize("step", ["completed", "rejected", "cancelled"])
def test_a_final_step_is_searched_among_closed_claims_too(step: str) -> None:
    """Finished claims are closed runs; only runs that continued as new are left out."""
    assert (
        f"WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus != 'ContinuedAsNew' "
        f"AND ClaimStep = '{step}'"
    ) == claims_query(step=step)


def test_waiting_on_someone_means_a_running_claim() -> None:
    """--assignee alone asks who is waited on: only running claims wait."""
    assert (
        "WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus = 'Running' "
        "AND Assignee = 'maria'"
    ) == claims_query(assignee=" maria ")


def test_the_inbox_is_running_claims_awaiting_a_person_or_their_queues() -> None:
    """The person and each queue they serve, quoted; never a stopped claim."""
    assert (
        "WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus = 'Running' "
        "AND AwaitingHuman = true AND Assignee IN ('maria', 'approvers', 'senior-approvers')"
    ) == inbox_query(["maria ", "approvers", "senior-approvers"])


@pytest.mark.parametrize("names", [["o'brien"], ["maria", "x') OR ('1'='1"], ["tab\tname"]])
def test_an_inbox_name_that_cannot_be_quoted_is_refused(names: list[str]) -> None:
    """A name from the approver directory still cannot change the query."""
    with pytest.raises(UserFacingError, match="cannot carry safely"):
        inbox_query(names)


def test_an_inbox_for_nobody_is_refused() -> None:
    """Blank names are not a person: no query that lists everything by accident."""
    with pytest.raises(UserFacingError, match="needs a person's name"):
        inbox_query([" ", ""])


@pytest.mark.parametrize(
    ("step", "status", "expected"),
    [
        ("awaiting_manager_approval", WorkflowExecutionStatus.RUNNING, "awaiting_manager_approval"),
        ("completed", WorkflowExecutionStatus.COMPLETED, "completed"),
        (
            "awaiting_manager_approval",
            WorkflowExecutionStatus.TERMINATED,
            "awaiting_manager_approval (terminated)",
        ),
        ("awaiting_documents", WorkflowExecutionStatus.CANCELED, "awaiting_documents (cancelled)"),
        ("cancelled", WorkflowExecutionStatus.CANCELED, "cancelled"),
        ("assessing", WorkflowExecutionStatus.FAILED, "assessing (failed)"),
        ("intake", WorkflowExecutionStatus.TIMED_OUT, "intake (timed out)"),
        ("completed", WorkflowExecutionStatus.TERMINATED, "completed (terminated)"),
        ("", WorkflowExecutionStatus.TERMINATED, "terminated"),
        ("assessing", None, "assessing"),
    ],
)
def test_a_run_stopped_from_outside_shows_how_beside_its_step(
    step: str, status: WorkflowExecutionStatus | None, expected: str
) -> None:
    """`claims status` never shows a terminated claim as plainly awaiting approval."""
    assert expected == step_shown(step, status)


def test_overdue_compares_the_deadline_with_now_in_utc() -> None:
    """A person is awaited, the deadline has passed, and the claim still runs."""
    in_paris = NOW.astimezone(timezone(timedelta(hours=1)))

    assert (
        "WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus = 'Running' "
        "AND AwaitingHuman = true AND ClaimDeadline < '2026-11-27T09:30:15Z'"
    ) == claims_query(overdue=True, now=in_paris)


def test_running_only_excludes_finished_claims() -> None:
    """--running adds the execution status; --all (the default) does not."""
    assert ("WorkflowType = 'ClaimReviewWorkflow' AND ExecutionStatus = 'Running'") == claims_query(
        running_only=True
    )


def test_an_unknown_step_is_refused_with_the_valid_ones() -> None:
    """The error lists every step a claim can be at."""
    with pytest.raises(UserFacingError) as refused:
        claims_query(step="awaiting_approval")

    assert (
        "unknown step 'awaiting_approval'; use one of: intake, gathering_evidence, assessing, "
        "routing, awaiting_manager_approval, awaiting_documents, executing, completed, "
        "rejected, cancelled"
    ) == str(refused.value)


@pytest.mark.parametrize("name", ["o'brien", "x' OR '1'='1", 'say "hi"', "back\\slash", "a\nb"])
def test_values_that_cannot_be_quoted_safely_are_refused(name: str) -> None:
    """Nothing a user types can end the literal and change the query."""
    with pytest.raises(UserFacingError, match="cannot carry safely"):
        claims_query(assignee=name)


def test_the_filters_in_words() -> None:
    """What the title and the 'nothing matches' line say."""
    assert "at step awaiting_documents, waiting on maria, overdue" == describe_filters(
        step="awaiting_documents", assignee="maria", overdue=True, running_only=False
    )


def test_the_agent_loop_steps_are_searched_as_assessing() -> None:
    """ClaimStep shows the whole loop as assessing, so --step routing finds the loop."""
    assert claims_query(step="routing") == claims_query(step="assessing")
