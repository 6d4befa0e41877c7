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

from activities.records import SystemOfRecord
from workflows.claim import money
from workflows.evidence import (
    ClaimHistory,
    CoverageCheck,
    DocumentInventory,
    LimitCheck,
    PolicyLookup,
    PolicyStatus,
    WatchlistScreen,
)
from workflows.tools import (
    TOOLS,
    CheckCoverageArgs,
    CheckCurrencyLimitArgs,
    InventoryDocumentsArgs,
    LookupPolicyArgs,
    ScreenWatchlistArgs,
    SearchClaimHistoryArgs,
    ToolSpec,
)

# Two claims by one person for the same amount within this many days are worth a look.
DUPLICATE_WINDOW = timedelta(days=30)


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
    async def search_claim_history(self, args: SearchClaimHistoryArgs) -> ClaimHistory:
        """The claimant's earlier claims, and those this one looks like a repeat of."""
        prior = await asyncio.to_thread(self._records.claims_by, args.claimant_id)
        duplicates = [
            p
            for p in prior
            if p.amount == args.amount
            and abs(p.incident_date - args.incident_date) <= DUPLICATE_WINDOW
        ]
        return ClaimHistory(prior_claims=prior, duplicates=duplicates)

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


def as_langchain_tools(tools: EvidenceTools) -> list[BaseTool]:
    """The same tools as LangChain tools: the schemas the model is bound to, runnable alone.

    In the agent the workflow runs each call as its own activity; these objects carry the
    names, descriptions and pydantic argument schemas the model sees, and run the same
    code when used outside Temporal (a notebook, another LangChain agent).
    """

    def wrap(spec: ToolSpec, method: Callable[[Any], Awaitable[BaseModel]]) -> BaseTool:
        async def run(**kwargs: Any) -> str:
            result = await method(spec.args.model_validate(kwargs))
            return result.model_dump_json()

        return StructuredTool.from_function(
            coroutine=run, name=spec.name, description=spec.description, args_schema=spec.args
        )

    methods: dict[str, Callable[[Any], Awaitable[BaseModel]]] = {
        "lookup_policy": tools.lookup_policy,
        "check_coverage": tools.check_coverage,
        "search_claim_history": tools.search_claim_history,
        "screen_watchlist": tools.screen_watchlist,
        "inventory_documents": tools.inventory_documents,
        "check_currency_limit": tools.check_currency_limit,
    }
    return [wrap(TOOLS[name], method) for name, method in methods.items()]
