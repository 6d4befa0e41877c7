"""The agent's tools: argument schemas, result shapes, and the one catalogue of them.

Each tool is declared once, in `TOOLS`: the model's tool list, the activities the worker
registers, the workflow's activity calls and the evidence they fill are all read from it.
The schemas live here, with no I/O, because both sides need them: the activities bind
them to the model as LangChain tools and run them, and the workflow validates what the
model asks for before any activity runs. A tool call the workflow cannot validate is
answered to the model as a tool error; it never reaches an activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from workflows.claim import Claim, ClaimCategory, PositiveMoney
from workflows.evidence import (
    ClaimHistory,
    CoverageCheck,
    DocumentInventory,
    LimitCheck,
    PolicyLookup,
    WatchlistScreen,
    description_digest,
)


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LookupPolicyArgs(ToolArgs):
    """Find the policy a claim is made under: holder, status, cover, limits, period."""

    policy_number: str = Field(min_length=1, description="the policy number on the claim")


class CheckCoverageArgs(ToolArgs):
    """Decide whether the policy covers this loss and the most it would pay."""

    policy_number: str = Field(min_length=1)
    claimant_id: str = Field(min_length=1)
    category: ClaimCategory
    amount: PositiveMoney
    currency: str = Field(min_length=3, max_length=3)
    incident_date: date


class SearchClaimHistoryArgs(ToolArgs):
    """List the claimant's earlier claims and flag likely duplicates of this one."""

    claimant_id: str = Field(min_length=1)
    amount: PositiveMoney
    incident_date: date


class ClaimHistoryQuery(SearchClaimHistoryArgs):
    """The history search as its activity runs it: the model's arguments and their claim.

    The workflow adds these from the claim, never from the model: the claim under review
    is not its own duplicate, and a near duplicate shares its policy and incident date.
    They default to empty for callers outside a review (the LangChain tool on its own).
    """

    claim_id: str = ""
    policy_number: str = ""
    description_digest: str = ""

    @classmethod
    def for_claim(cls, claim: Claim, args: SearchClaimHistoryArgs) -> ClaimHistoryQuery:
        return cls.model_validate(
            {
                **args.model_dump(),
                "claim_id": claim.claim_id,
                "policy_number": claim.policy_number,
                "description_digest": description_digest(claim.description),
            }
        )


class ScreenWatchlistArgs(ToolArgs):
    """Check the claimant and the policy against the fraud watch-list."""

    claimant_id: str = Field(min_length=1)
    policy_number: str = Field(min_length=1)


class InventoryDocumentsArgs(ToolArgs):
    """Compare the documents on file with those this category of claim requires."""

    category: ClaimCategory
    document_kinds: list[str] = Field(description="kinds of the documents attached to the claim")


class CheckCurrencyLimitArgs(ToolArgs):
    """Check the claim's currency against the policy's and the amount against its limit."""

    policy_number: str = Field(min_length=1)
    amount: PositiveMoney
    currency: str = Field(min_length=3, max_length=3)


@dataclass(frozen=True)
class ToolSpec:
    """One tool, declared once: everything else about it is read from here.

    The model sees `name`, `description` and the `args` schema; the workflow runs the tool
    as the activity named `activity`, with `activity_input` (the validated arguments, or a
    richer message built from them and the claim), and files the `result` under the
    `Evidence` field `evidence_field`. `summary` is what the Temporal web UI and the
    timeline show for each call: a few plain words, the same for every claim, so that no
    claimant's data (name, policy number, documents) is ever part of it.
    """

    name: str
    args: type[ToolArgs]
    result: type[BaseModel]
    evidence_field: str
    summary: str
    activity_input: type[BaseModel] | None = None

    @property
    def description(self) -> str:
        return (self.args.__doc__ or self.name).strip()

    @property
    def activity(self) -> str:
        """The activity that runs the tool has the tool's name, and recorded histories name
        it: renaming a tool is a change to the workflow, not only to the prompt."""
        return self.name

    @property
    def input_type(self) -> type[BaseModel]:
        return self.activity_input or self.args


LOOKUP_POLICY = ToolSpec(
    "lookup_policy", LookupPolicyArgs, PolicyLookup, "policy", "Look up the claim's policy"
)
CHECK_COVERAGE = ToolSpec(
    "check_coverage", CheckCoverageArgs, CoverageCheck, "coverage", "Check coverage"
)
SEARCH_CLAIM_HISTORY = ToolSpec(
    "search_claim_history",
    SearchClaimHistoryArgs,
    ClaimHistory,
    "history",
    "Search earlier claims for duplicates",
    activity_input=ClaimHistoryQuery,
)
SCREEN_WATCHLIST = ToolSpec(
    "screen_watchlist",
    ScreenWatchlistArgs,
    WatchlistScreen,
    "watchlist",
    "Screen against the fraud watch-list",
)
INVENTORY_DOCUMENTS = ToolSpec(
    "inventory_documents",
    InventoryDocumentsArgs,
    DocumentInventory,
    "documents",
    "Check the documents on file",
)
CHECK_CURRENCY_LIMIT = ToolSpec(
    "check_currency_limit",
    CheckCurrencyLimitArgs,
    LimitCheck,
    "limits",
    "Check currency and policy limit",
)

# The catalogue, in the order the model is offered the tools and the evidence is listed.
TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        LOOKUP_POLICY,
        CHECK_COVERAGE,
        SEARCH_CLAIM_HISTORY,
        SCREEN_WATCHLIST,
        INVENTORY_DOCUMENTS,
        CHECK_CURRENCY_LIMIT,
    )
}

# The final answer is a tool too, so every model turn is a tool call of some kind.
SUBMIT_ASSESSMENT = "submit_assessment"


def claim_facts(claim: Claim) -> dict[str, Any]:
    """What a tool argument of the same name must equal: tools only look at this claim."""
    return {
        "policy_number": claim.policy_number,
        "claimant_id": claim.claimant.id,
        "category": claim.category,
        "amount": claim.amount,
        "currency": claim.currency,
        "incident_date": claim.incident_date,
    }


def validate_tool_call(claim: Claim, name: str, arguments: dict[str, Any]) -> ToolArgs | str:
    """The activity's input for a valid call, or the error to answer the model with."""
    spec = TOOLS.get(name)
    if spec is None:
        return f"unknown tool '{name}'; available tools: {', '.join(TOOLS)}"
    try:
        args = spec.args.model_validate(arguments)
    except ValueError as invalid:
        return f"invalid arguments for {name}: {invalid}"
    facts = claim_facts(claim)
    for field, value in args:
        if field in facts and value != facts[field]:
            return (
                f"{name} may only look at the claim under review: "
                f"{field} is {facts[field]}, not {value}"
            )
    if isinstance(args, InventoryDocumentsArgs):
        on_file = {d.kind for d in claim.documents}
        invented = sorted(set(args.document_kinds) - on_file)
        if invented:
            return f"{name}: no document of kind {', '.join(invented)} is on file"
    if isinstance(args, SearchClaimHistoryArgs):
        return ClaimHistoryQuery.for_claim(claim, args)
    return args
