"""How one review runs. Normal reviews use the defaults; what-if forks change them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.claim import Claim


class ReviewOptions(BaseModel):
    """What a what-if may change. Whether side effects run is not among them.

    A what-if (`ClaimWhatIfWorkflow`) is always a dry run: payout and notices are recorded,
    not executed, and it ends at the first human gate. A `dry_run` key in its input is
    ignored (`extra="ignore"`), so no caller can make one pay.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")
    # CLAIMS_LLM-style model spec for this review's model turns; None: the worker's.
    llm: str | None = None
    # Fields of the review policy to replace, such as {"auto_approval_limit": 2000}.
    policy_overrides: dict[str, Any] = Field(default_factory=dict)
    # Staff notes the review starts with (a fork carries the original's).
    notes: list[str] = Field(default_factory=list)
    # "claim-<id>@v<N>" for a fork: where its starting point came from.
    forked_from: str | None = None


class WhatIfRequest(BaseModel):
    """The input of a what-if rerun: the claim as it stood, and what to change."""

    claim: Claim
    options: ReviewOptions
