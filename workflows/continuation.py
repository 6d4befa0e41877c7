"""What a review carries into its next run when its history grows too long.

A claim flooded with signals (refused ones too: each is an event) would reach Temporal's
history limits and be terminated. Before that, at a safe point of a human wait, the
review continues as new and hands this to the next run: the whole state (version
numbering, deadlines, reminders sent, approvals collected, proposal and edits,
information requests, pause, assignee) and what the workflow keeps beside it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from workflows.authority import ReviewPolicy
from workflows.state import ClaimState


class CarriedReview(BaseModel):
    """The second input of a continued run; refused on any run that was not continued."""

    state: ClaimState
    # The rules the claim was judged by stay the same for its whole review.
    policy: ReviewPolicy
    escalation_level: int = Field(ge=0)
    findings: list[str] = Field(default_factory=list)
    documents_arrived: bool = False
