"""`claims status` filters: one list query over search attributes, values quoted safely."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from cli.status_query import claims_query, describe_filters
from runtime.errors import UserFacingError

NOW = datetime(2026, 11, 27, 9, 30, 15, 123456, tzinfo=UTC)


def test_no_filters_lists_every_claim() -> None:
    """Without filters, the query is the one `claims status` always ran."""
    assert "WorkflowType = 'ClaimReviewWorkflow'" == claims_query()


def test_step_and_assignee_become_attribute_conditions() -> None:
    """Both filters hold at once; the step is normalised to its enum value."""
    assert (
        "WorkflowType = 'ClaimReviewWorkflow' AND ClaimStep = 'awaiting_manager_approval' "
        "AND Assignee = 'approvers'"
    ) == claims_query(step=" Awaiting_Manager_Approval ", assignee="approvers")


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
