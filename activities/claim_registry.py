"""The registry of reviewed claims: every claim this system reviews, kept for later ones.

A copy of a claim under a new id must meet its original in the history search, whether
the original came from the seeded records or was reviewed (and perhaps paid) here. The
workflow registers each claim at intake, before any tool runs; the history search then
reads the registry beside the seeded records (see `activities.evidence_tools`).
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from activities.records import SystemOfRecord
from workflows.evidence import ReviewedClaim


class ClaimRegistry:
    """Writes the registry of reviewed claims kept in the records database."""

    def __init__(self, records: SystemOfRecord) -> None:
        self._records = records

    @activity.defn
    async def register_reviewed_claim(self, claim: ReviewedClaim) -> None:
        """Record a claim as under review; a retry or a second registration changes nothing
        but the facts, which take the claim as last submitted."""
        await asyncio.to_thread(self._records.register_reviewed_claim, claim)
