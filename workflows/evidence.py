"""What the agent learns about a claim: tool results and the model's assessment.

These are the messages between the workflow and its activities. They are small on
purpose: summaries and references, never whole documents, so histories stay small.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

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


class FraudScreen(BaseModel):
    """Duplicates among earlier claims and hits on the watch-list."""

    duplicates: list[PriorClaim] = Field(default_factory=list)
    watchlist_hits: list[str] = Field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.duplicates and not self.watchlist_hits


class Evidence(BaseModel):
    """Everything the tools found, in the shape the model and the routing rules read."""

    policy: PolicyLookup
    coverage: CoverageCheck
    fraud: FraudScreen
    intake_findings: list[str] = Field(default_factory=list)
    tool_errors: list[str] = Field(default_factory=list)

    @property
    def concerns(self) -> list[str]:
        """Reasons a careful adjuster would not let this claim through unseen."""
        found: list[str] = [*self.intake_findings, *self.tool_errors]
        if not self.policy.found:
            found.append(f"policy {self.policy.policy_number} not found")
        elif self.policy.policy and self.policy.policy.status is not PolicyStatus.ACTIVE:
            found.append(f"policy is {self.policy.policy.status}")
        if not self.coverage.covered:
            found.extend(self.coverage.reasons or ["not covered"])
        found.extend(f"possible duplicate of {prior.claim_id}" for prior in self.fraud.duplicates)
        found.extend(f"watch-list: {hit}" for hit in self.fraud.watchlist_hits)
        return found

    @property
    def clean(self) -> bool:
        return not self.concerns


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
        description="ids of the evidence relied on, such as policy, coverage, fraud_screen, "
        "or doc:<doc_id>",
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


class AssessmentRequest(BaseModel):
    claim: Claim
    evidence: Evidence


class AssessmentResult(BaseModel):
    assessment: ClaimAssessment
    call: LlmCallRecord
