"""Tool activities: what an adjuster looks up before forming a view of a claim.

Each tool reads only the local system of record; the workflow runs each call as its own
activity. Arguments arrive validated by the workflow (see `workflows.tools`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel
from temporalio import activity

from activities.records import ClaimOnFile, SystemOfRecord
from workflows.claim import money
from workflows.evidence import (
    ClaimHistory,
    CoverageCheck,
    DocumentInventory,
    LimitCheck,
    PolicyLookup,
    PolicyStatus,
    WatchlistScreen,
    identity_key,
)
from workflows.tools import (
    TOOLS,
    CheckCoverageArgs,
    CheckCurrencyLimitArgs,
    ClaimHistoryQuery,
    InventoryDocumentsArgs,
    LookupPolicyArgs,
    ScreenWatchlistArgs,
    ToolSpec,
)

# Two claims by one person for the same amount within this many days are worth a look.
DUPLICATE_WINDOW = timedelta(days=30)
# A tool answer goes to the model and into history: a long history is cut to the most
# recent claims, and the answer says how many were left out.
MAX_LISTED_CLAIMS = 50


def duplicate_reason(earlier: ClaimOnFile, query: ClaimHistoryQuery) -> str | None:
    """Why an earlier claim of the same claimant looks like a repeat of this one, if it does.

    A near duplicate shares the policy, the incident date and the claimant, whatever its
    amount or description: a copy of a paid claim asking for less is still a copy. A claim
    for the same amount within DUPLICATE_WINDOW is one too. A seeded record under the
    claim's own id was paid elsewhere; it is the claim itself, seen before.
    """
    if earlier.on_record and earlier.claim.claim_id == query.claim_id:
        reason = "the same claim id is already on record"
    elif earlier.claimant_id != identity_key(query.claimant_id):
        return None
    elif (
        not query.policy_number or earlier.policy_number == identity_key(query.policy_number)
    ) and earlier.claim.incident_date == query.incident_date:
        reason = "same policy, incident date and claimant"
    elif (
        earlier.claim.amount == query.amount
        and abs(earlier.claim.incident_date - query.incident_date) <= DUPLICATE_WINDOW
    ):
        reason = f"same claimant and amount, incidents within {DUPLICATE_WINDOW.days} days"
    else:
        return None
    if query.description_digest and earlier.description_digest == query.description_digest:
        reason += "; same description"
    return reason


def claim_history(on_file: list[ClaimOnFile], query: ClaimHistoryQuery) -> ClaimHistory:
    """The history answer: earlier claims by incident date, duplicates with their reason."""
    on_file = sorted(on_file, key=lambda c: (c.claim.incident_date, c.claim.claim_id))
    prior = [c.claim for c in on_file if c.claimant_id == identity_key(query.claimant_id)]
    duplicates = [
        c.claim.model_copy(update={"reason": reason})
        for c in on_file
        if (reason := duplicate_reason(c, query)) is not None
    ]
    return ClaimHistory(
        prior_claims=prior[-MAX_LISTED_CLAIMS:],
        duplicates=duplicates[-MAX_LISTED_CLAIMS:],
        prior_claims_not_listed=max(len(prior) - MAX_LISTED_CLAIMS, 0),
        duplicates_not_listed=max(len(duplicates) - MAX_LISTED_CLAIMS, 0),
    )


class EvidenceTools:
    """The six tools over the system of record."""

    def __init__(self, records: SystemOfRecord) -> None:
        self._records = records

    @activity.defn
    async def lookup_policy(self, args: LookupPolicyArgs) -> PolicyLookup:
        """Find the policy the claim is made under."""
        policy = await asyncio.to_thread(self._records.policy, args.policy_number)
        return PolicyLookup(
            policy_number=args.policy_number, found=policy is not None, policy=policy
        )

    @activity.defn
    async def check_coverage(self, args: CheckCoverageArgs) -> CoverageCheck:
        """Decide whether the policy covers the claim and the most it would pay."""
        policy = await asyncio.to_thread(self._records.policy, args.policy_number)
        if policy is None:
            return CoverageCheck(
                covered=False,
                payable_amount=Decimal(0),
                reasons=[f"policy {args.policy_number} not found"],
            )
        reasons: list[str] = []
        if policy.status is not PolicyStatus.ACTIVE:
            reasons.append(f"policy {policy.policy_number} is {policy.status}")
        if policy.holder_id != args.claimant_id:
            reasons.append(f"claimant {args.claimant_id} is not the policy holder")
        if args.category not in policy.covered_categories:
            reasons.append(f"category {args.category} is not covered by the policy")
        if args.currency != policy.currency:
            reasons.append(f"claim is in {args.currency}, the policy pays in {policy.currency}")
        if not policy.valid_from <= args.incident_date <= policy.valid_to:
            reasons.append(
                f"incident on {args.incident_date} is outside the policy period "
                f"{policy.valid_from} to {policy.valid_to}"
            )
        payable = max(min(args.amount - policy.deductible, policy.per_claim_limit), Decimal(0))
        if payable == 0 and not reasons:
            reasons.append(f"amount does not exceed the deductible of {money(policy.deductible)}")
        if reasons:
            return CoverageCheck(covered=False, payable_amount=Decimal(0), reasons=reasons)
        return CoverageCheck(covered=True, payable_amount=payable)

    @activity.defn
    async def search_claim_history(self, args: ClaimHistoryQuery) -> ClaimHistory:
        """The claimant's earlier claims, on record or reviewed here, and the repeats."""
        # The LangChain tool and direct callers pass the model's arguments alone.
        query = ClaimHistoryQuery.model_validate(args.model_dump())
        on_file = await asyncio.to_thread(
            self._records.claims_on_file, query.claimant_id, query.claim_id
        )
        return claim_history(on_file, query)

    @activity.defn
    async def screen_watchlist(self, args: ScreenWatchlistArgs) -> WatchlistScreen:
        """Watch-list matches on the claimant or the policy."""
        hits = await asyncio.to_thread(
            self._records.watchlist_matches, args.claimant_id, args.policy_number
        )
        return WatchlistScreen(hits=hits)

    @activity.defn
    async def inventory_documents(self, args: InventoryDocumentsArgs) -> DocumentInventory:
        """Required documents for the category, and which of them are missing."""
        required = await asyncio.to_thread(self._records.required_documents, args.category)
        present = sorted(set(args.document_kinds))
        missing = [kind for kind in required if kind not in present]
        return DocumentInventory(required=required, present=present, missing=missing)

    @activity.defn
    async def check_currency_limit(self, args: CheckCurrencyLimitArgs) -> LimitCheck:
        """The claim's currency against the policy's, and its amount against the limit."""
        policy = await asyncio.to_thread(self._records.policy, args.policy_number)
        if policy is None:
            return LimitCheck(policy_found=False)
        return LimitCheck(
            policy_found=True,
            currency_matches=args.currency == policy.currency,
            policy_currency=policy.currency,
            per_claim_limit=policy.per_claim_limit,
            within_limit=args.amount <= policy.per_claim_limit,
        )


def tool_activities(tools: EvidenceTools) -> dict[str, Callable[[Any], Awaitable[BaseModel]]]:
    """Each tool of the catalogue, by name, and the activity that runs it.

    Read from the catalogue, so a tool declared there without its activity here fails
    when the worker is built, not when the model first calls it.
    """
    found: dict[str, Callable[[Any], Awaitable[BaseModel]]] = {}
    for name, spec in TOOLS.items():
        method = getattr(tools, spec.activity, None)
        if method is None:
            raise TypeError(f"tool {name} has no activity EvidenceTools.{spec.activity}")
        found[name] = method
    return found


def as_langchain_tools(tools: EvidenceTools) -> list[BaseTool]:
    """The same tools as LangChain tools: the schemas the model is bound to, runnable alone.

    In the agent the workflow runs each call as its own activity; these objects carry the
    names, descriptions and pydantic argument schemas the model sees, and run the same
    code when used outside Temporal (a notebook, another LangChain agent).
    """

    def wrap(spec: ToolSpec, method: Callable[[Any], Awaitable[BaseModel]]) -> BaseTool:
        async def run(**kwargs: Any) -> str:
            result = await method(spec.input_type.model_validate(kwargs))
            return result.model_dump_json()

        return StructuredTool.from_function(
            coroutine=run, name=spec.name, description=spec.description, args_schema=spec.args
        )

    return [wrap(TOOLS[name], method) for name, method in tool_activities(tools).items()]
