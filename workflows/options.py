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
    # A prompt version the model turns use (activities.prompts); None: the current one.
    prompt_version: str | None = Field(default=None, max_length=64)
    # Tool name -> the tool's answer in the original review (the result model's JSON):
    # an evaluation that compares models answers tools from the record of the time, so
    # a record changed since does not muddy the comparison. Empty: tools run as usual.
    recorded_evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)


class WhatIfRequest(BaseModel):
    """The input of a what-if rerun: the claim as it stood, and what to change."""

    claim: Claim
    options: ReviewOptions
