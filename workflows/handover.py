"""Continuing a long review as new: when, and with what it carries.

A waiting claim flooded with signals (refused ones too: each is an event) would reach
Temporal's history limits. At a safe point of a human wait the review hands its whole
state to a new run; a state too large to carry keeps its run instead of wedging it. A
review reaching the approval gate hands over too (`workflows.desk`), so it waits on a
short history.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.continuation import CarriedReview
    from workflows.desk import ReviewDesk
    from workflows.review_book import AGENT_ACTOR, ReviewBook
    from workflows.state import AuditOutcome

# Well under the embedded server's 512 KiB payload limit (runtime.devserver).
MAX_CARRIED_BYTES = 384 * 1024


class Handover:
    """Decides when the review continues as new, and hands its state over."""

    def __init__(self, book: ReviewBook, desk: ReviewDesk) -> None:
        self._book = book
        self._desk = desk
        self.refused = False

    def due(self) -> bool:
        """Time to continue as new: Temporal suggests it, or a budget of the policy is spent."""
        if not self._book.hardened or self._desk.policy is None or self.refused:
            return False
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._desk.policy.history_budget_events
            or info.get_current_history_size() >= self._desk.policy.history_budget_bytes
        )

    async def hand_over(self, why: str = "") -> None:
        """Hand the whole review to a fresh run; only from a human wait, never mid-decision.

        `why` says what the transition records; empty, the history grew too long. Returns
        (and this run goes on) when the state is too large to carry.
        """
        assert self._desk.policy is not None
        await workflow.wait_condition(workflow.all_handlers_finished)
        info = workflow.info()
        carried = CarriedReview(
            state=self._book.state,
            policy=self._desk.policy,
            escalation_level=self._desk.escalation_level,
            findings=self._desk.findings,
            documents_arrived=self._desk.documents_arrived,
        )
        size = len(carried.model_dump_json())
        if size > MAX_CARRIED_BYTES:
            # Carrying it would fail every workflow task on the server's payload limit;
            # better to keep this run going (and say so once) than to wedge the claim.
            if not self.refused:
                self.refused = True
                self._book.audit(
                    AGENT_ACTOR,
                    "continue_as_new",
                    AuditOutcome.RECORDED,
                    f"{why or 'history budget reached'}, but the state ({size // 1024} KiB) "
                    "is too large to carry into a new run; this run goes on",
                )
            return
        left = (
            f"after {info.get_current_history_length()} events "
            f"({info.get_current_history_size() // 1024} KiB of history)"
        )
        self._book.transition(
            self._book.state.current_step,
            f"continuing as new {left}" if not why else f"{why}: continuing as new {left}",
        )
        carried.state = self._book.state
        workflow.continue_as_new(args=[self._book.state.context.claim, carried])
