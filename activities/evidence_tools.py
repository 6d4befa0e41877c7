"""Tool activities: what an adjuster would look up before forming a view of a claim."""

from __future__ import annotations

from decimal import Decimal

from temporalio import activity

from activities.records import SystemOfRecord, within_days
from workflows.actions import CoverageQuery, PolicyQuery
from workflows.claim import Claim, money
from workflows.evidence import CoverageCheck, FraudScreen, PolicyLookup, PolicyStatus

# Two claims by one person for the same amount within this many days are worth a look.
DUPLICATE_WINDOW_DAYS = 30


class EvidenceTools:
    """Policy lookup, coverage check and fraud screen over the system of record."""

    def __init__(self, records: SystemOfRecord) -> None:
        self._records = records

    @activity.defn
    async def lookup_policy(self, query: PolicyQuery) -> PolicyLookup:
        """Find the policy the claim is made under."""
        policy = self._records.policy(query.policy_number)
        return PolicyLookup(
            policy_number=query.policy_number, found=policy is not None, policy=policy
        )

    @activity.defn
    async def check_coverage(self, query: CoverageQuery) -> CoverageCheck:
        """Decide whether the policy covers the claim and the most it would pay."""
        claim, policy = query.claim, query.policy
        reasons: list[str] = []
        if policy.status is not PolicyStatus.ACTIVE:
            reasons.append(f"policy {policy.policy_number} is {policy.status}")
        if policy.holder_id != claim.claimant.id:
            reasons.append(f"claimant {claim.claimant.id} is not the policy holder")
        if claim.category not in policy.covered_categories:
            reasons.append(f"category {claim.category} is not covered by the policy")
        if claim.currency != policy.currency:
            reasons.append(f"claim is in {claim.currency}, the policy pays in {policy.currency}")
        if not policy.valid_from <= claim.incident_date <= policy.valid_to:
            reasons.append(
                f"incident on {claim.incident_date} is outside the policy period "
                f"{policy.valid_from} to {policy.valid_to}"
            )
        payable = max(min(claim.amount - policy.deductible, policy.per_claim_limit), Decimal(0))
        if payable == 0 and not reasons:
            reasons.append(f"amount does not exceed the deductible of {money(policy.deductible)}")
        if reasons:
            return CoverageCheck(covered=False, payable_amount=Decimal(0), reasons=reasons)
        return CoverageCheck(covered=True, payable_amount=payable)

    @activity.defn
    async def screen_for_fraud(self, claim: Claim) -> FraudScreen:
        """Look for earlier claims that this one repeats, and for watch-listed parties."""
        duplicates = [
            prior
            for prior in self._records.claims_by(claim.claimant.id)
            if prior.claim_id != claim.claim_id
            and prior.amount == claim.amount
            and within_days(prior.incident_date, claim.incident_date, DUPLICATE_WINDOW_DAYS)
        ]
        hits = self._records.watchlist_matches(
            claim.claimant.id, claim.claimant.email, claim.policy_number
        )
        return FraudScreen(duplicates=[d.as_prior_claim() for d in duplicates], watchlist_hits=hits)
