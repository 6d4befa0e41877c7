"""What the agent learns about a claim: tool results and the model's assessment.

These are the messages between the workflow and its activities. They are small on
purpose: summaries and references, never whole documents, so histories stay small.
"""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.claim import Claim, Money


class PolicyStatus(StrEnum):
    ACTIVE = "active"
    LAPSED = "lapsed"
    CANCELLED = "cancelled"


class PolicyRecord(BaseModel):
    """The policy as the system of record holds it."""

    model_config = ConfigDict(frozen=True)

    policy_number: str
    holder_id: str
    status: PolicyStatus
    currency: str
    covered_categories: list[str]
    per_claim_limit: Money
    deductible: Money
    valid_from: date
    valid_to: date


class PolicyLookup(BaseModel):
    policy_number: str
    found: bool
    policy: PolicyRecord | None = None


class CoverageCheck(BaseModel):
    """Whether the policy pays for this claim, and how much it would pay at most."""

    covered: bool
    payable_amount: Money
    reasons: list[str] = Field(default_factory=list)


class PriorClaim(BaseModel):
    claim_id: str
    amount: Money
    incident_date: date
    status: str
    # For a possible duplicate: what it shares with the claim under review.
    reason: str = ""


class ClaimHistory(BaseModel):
    """The claimant's earlier claims, on record or reviewed here, and the likely repeats.

    Long histories are cut to the most recent claims so a tool answer stays small; the
    counts say how many were left out.
    """

    prior_claims: list[PriorClaim] = Field(default_factory=list)
    duplicates: list[PriorClaim] = Field(default_factory=list)
    prior_claims_not_listed: int = 0
    duplicates_not_listed: int = 0


# Control and format characters (zero-width spaces, bidi marks, soft hyphens) change no
# reading of an identifier or a description, so they cannot make a copy look new.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})


def identity_key(text: str) -> str:
    """Text as compared for identity: NFKC, case-folded, invisible characters dropped,
    runs of whitespace one space, trimmed. "CUS-1042", " cus-1042" and "CUS-1042" with a
    zero-width space in it are one claimant.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    kept = (
        " " if char.isspace() else char
        for char in folded
        if char.isspace() or unicodedata.category(char) not in _INVISIBLE_CATEGORIES
    )
    return " ".join("".join(kept).split())


def description_digest(description: str) -> str:
    """The sha256 of a description's identity key: the same story told again, whatever
    its spacing, case or invisible characters, without keeping the story itself."""
    return hashlib.sha256(identity_key(description).encode()).hexdigest()


UNDER_REVIEW = "under review"


class ReviewedClaim(BaseModel):
    """A claim this system reviews, as the registry of reviewed claims keeps it.

    Later claims are searched against the registry, so a copy of a claim under a new id
    meets its original. Claimant and policy are kept as identity keys; the description
    only as its digest, so the registry holds no free text.
    """

    model_config = ConfigDict(frozen=True)

    claim_id: str = Field(min_length=1)
    claimant_id: str
    policy_number: str
    amount: Money
    incident_date: date
    description_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    status: str = UNDER_REVIEW

    @classmethod
    def of(cls, claim: Claim) -> ReviewedClaim:
        """The registry entry for a claim as it arrives for review."""
        return cls(
            claim_id=claim.claim_id,
            claimant_id=identity_key(claim.claimant.id),
            policy_number=identity_key(claim.policy_number),
            amount=claim.amount,
            incident_date=claim.incident_date,
            description_digest=description_digest(claim.description),
        )


class WatchlistScreen(BaseModel):
    hits: list[str] = Field(default_factory=list)


class DocumentInventory(BaseModel):
    required: list[str] = Field(default_factory=list)
    present: list[str] = Field(default_factory=list)
    missing: list[str] = Field(default_factory=list)


class LimitCheck(BaseModel):
    policy_found: bool
    currency_matches: bool = False
    policy_currency: str | None = None
    per_claim_limit: Money | None = None
    within_limit: bool = False


class Evidence(BaseModel):
    """What the tools found, filled in as the agent calls them; gaps are concerns too."""

    policy: PolicyLookup | None = None
    coverage: CoverageCheck | None = None
    history: ClaimHistory | None = None
    watchlist: WatchlistScreen | None = None
    documents: DocumentInventory | None = None
    limits: LimitCheck | None = None
    intake_findings: list[str] = Field(default_factory=list)
    tool_errors: list[str] = Field(default_factory=list)

    @property
    def payable_amount(self) -> Decimal:
        if self.coverage is None or not self.coverage.covered:
            return Decimal(0)
        return self.coverage.payable_amount

    @property
    def unchecked(self) -> list[str]:
        """Checks the agent never completed: without them nothing is paid unseen."""
        # Imported here: the catalogue is built from this module's result types.
        from workflows.tools import TOOLS

        return [name for name, tool in TOOLS.items() if getattr(self, tool.evidence_field) is None]

    @property
    def concerns(self) -> list[str]:
        """Reasons a careful adjuster would not let this claim through unseen."""
        found: list[str] = [*self.intake_findings, *self.tool_errors]
        found.extend(f"not checked: {name}" for name in self.unchecked)
        if self.policy is not None:
            if not self.policy.found:
                found.append(f"policy {self.policy.policy_number} not found")
            elif self.policy.policy and self.policy.policy.status is not PolicyStatus.ACTIVE:
                found.append(f"policy is {self.policy.policy.status}")
        if self.coverage is not None and not self.coverage.covered:
            found.extend(self.coverage.reasons or ["not covered"])
        if self.history is not None:
            found.extend(
                f"possible duplicate of {p.claim_id}" + (f" ({p.reason})" if p.reason else "")
                for p in self.history.duplicates
            )
        if self.watchlist is not None:
            found.extend(f"watch-list: {hit}" for hit in self.watchlist.hits)
        if self.documents is not None and self.documents.missing:
            found.append("missing documents: " + ", ".join(self.documents.missing))
        if self.limits is not None and self.limits.policy_found:
            if not self.limits.currency_matches:
                found.append(f"currency differs from the policy's {self.limits.policy_currency}")
            if not self.limits.within_limit:
                found.append("amount is over the policy's per-claim limit")
        return list(dict.fromkeys(found))


class Recommendation(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    REFER = "refer"


class ClaimAssessment(BaseModel):
    """The model's structured recommendation. Advice only: the workflow decides."""

    recommendation: Recommendation = Field(
        description="approve if the evidence supports paying, deny if it clearly does not, "
        "refer if a person should look"
    )
    payout_amount: Money = Field(description="amount the policy should pay, in claim currency")
    confidence: float = Field(ge=0.0, le=1.0, description="how sure the assessment is, 0 to 1")
    rationale: str = Field(
        min_length=1, max_length=2000, description="why, citing the evidence by its id"
    )
    cited_evidence: list[str] = Field(
        default_factory=list,
        description="ids of the evidence relied on: tool names, intake, or doc:<doc_id>",
    )
    customer_message: str = Field(
        default="",
        max_length=2000,
        description="a short, plain message to the claimant explaining the outcome",
    )


class TokenUsage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


class LlmCallRecord(BaseModel):
    """One call to a model, as the trace keeps it: a summary, never the prompt itself."""

    model: str
    offline: bool
    prompt_version: str
    prompt_summary: str
    response_summary: str
    token_usage: TokenUsage | None = None
    latency_ms: float
    attempt: int


class ToolCallRequest(BaseModel):
    """A tool call as the model asked for it, before any validation."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    parse_error: str | None = None


class ToolAnswer(BaseModel):
    """What the model is told about one of its calls: a result as JSON, or an error."""

    call_id: str
    name: str
    content: str
    error: bool = False


class AgentStep(BaseModel):
    """One model turn and the answers to its calls, as the next turn replays it."""

    calls: list[ToolCallRequest]
    answers: list[ToolAnswer] = Field(default_factory=list)
    # A turn without tool calls: what the model said, and what it was told back.
    text: str = ""
    note: str = ""


# The activity that runs one model turn; recorded histories name it.
AGENT_TURN = "agent_turn"


class AgentTurnRequest(BaseModel):
    claim: Claim
    steps: list[AgentStep] = Field(default_factory=list)
    intake_findings: list[str] = Field(default_factory=list)
    # What staff told the agent (interrupts, answers to information requests).
    notes: list[str] = Field(default_factory=list)
    # A CLAIMS_LLM-style spec for this turn; None: the worker's model.
    model: str | None = None
    # A version of the agent's rules (activities.prompts); None: the current one.
    prompt_version: str | None = None


class AgentTurnResult(BaseModel):
    """The model's turn: the calls it made (the final answer is a call too) and the trace."""

    calls: list[ToolCallRequest] = Field(default_factory=list)
    text: str = ""
    call: LlmCallRecord
