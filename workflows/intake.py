"""Intake: what is wrong with a claim on its face, before any tool is asked."""

from __future__ import annotations

from datetime import date

from workflows.claim import Claim


def intake_findings(claim: Claim, *, today: date) -> list[str]:
    """Concerns a clerk would note at the counter; none of them refuses the claim outright."""
    findings: list[str] = []
    if claim.incident_date > today:
        findings.append(f"incident date {claim.incident_date} is in the future")
    if not claim.documents:
        findings.append("no supporting documents attached")
    return findings
