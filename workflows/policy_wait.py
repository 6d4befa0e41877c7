"""Reading the review policy at intake: a claim waits for a valid one, never fails on it.

The policy and approver directory are read by an activity, so the rules a claim was
judged by are in its history. While the file is invalid, the claim waits in a visible
`configuration` pending action with the error, and reads it again with backoff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from workflows.authority import ReviewPolicy
    from workflows.review_book import AGENT_ACTOR, ReviewBook
    from workflows.state import AuditOutcome, PendingAction, PendingActionType

LOAD_REVIEW_POLICY = "load_review_policy"
POLICY_TIMEOUT = timedelta(seconds=30)
POLICY_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=10))
# A policy that cannot be read is waited for, not failed on: a fixed file lets it go on.
POLICY_ATTEMPTS_PER_WAIT = RetryPolicy(maximum_attempts=2, maximum_interval=timedelta(seconds=2))
POLICY_WAIT_FIRST = timedelta(seconds=10)
POLICY_WAIT_LONGEST = timedelta(minutes=5)


async def load_policy(
    book: ReviewBook, *, cancellation_requested: Callable[[], bool]
) -> ReviewPolicy:
    """The review policy; while it cannot be read, the claim waits visibly for a fix."""
    if not book.hardened:
        return await _read_policy(POLICY_RETRY)
    wait: PendingAction | None = None
    pause = POLICY_WAIT_FIRST
    while True:
        try:
            policy = await _read_policy(POLICY_ATTEMPTS_PER_WAIT)
        except ActivityError as failure:
            if cancellation_requested():
                raise
            problem = str(failure.cause or failure)
            now = workflow.now()
            if wait is None:
                book.audit(AGENT_ACTOR, "load_policy", AuditOutcome.RECORDED, problem)
            else:
                book.state.pending_actions.remove(wait)
            wait = PendingAction(
                type=PendingActionType.CONFIGURATION,
                timeout=now + pause,
                created_at=wait.created_at if wait else now,
                trigger="timer: read the approvers file again",
                assignee="operators",
                on_timeout="read the approvers file again; keep waiting while it is invalid",
                detail=problem,
            )
            book.state.pending_actions.append(wait)
            book.publish()
            await workflow.sleep(pause, summary="waiting for a valid review policy")
            pause = min(pause * 2, POLICY_WAIT_LONGEST)
            continue
        if wait is not None:
            book.state.pending_actions.remove(wait)
            book.audit(AGENT_ACTOR, "load_policy", AuditOutcome.RECORDED, "review policy read")
            book.publish()
        return policy


async def _read_policy(retry: RetryPolicy) -> ReviewPolicy:
    policy: ReviewPolicy = await workflow.execute_activity(
        LOAD_REVIEW_POLICY,
        result_type=ReviewPolicy,
        start_to_close_timeout=POLICY_TIMEOUT,
        retry_policy=retry,
        summary="Load review policy and approver directory",
    )
    return policy


def with_overrides(policy: ReviewPolicy, overrides: dict[str, Any]) -> ReviewPolicy:
    """The policy with a what-if's changes; invalid changes fail the run, loudly."""
    if not overrides:
        return policy
    try:
        return ReviewPolicy.model_validate(policy.model_dump() | overrides)
    except ValidationError as invalid:
        raise ApplicationError(
            f"invalid policy overrides {overrides}: {invalid}",
            type="InvalidReviewOptions",
            non_retryable=True,
        ) from None
