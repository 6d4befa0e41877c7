"""Tool activities over the system of record, and the idempotent payout ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.evidence_tools import EvidenceTools
from activities.payments import Ledger, PaymentActivities
from activities.records import RecordsError, SystemOfRecord
from runtime.settings import EXAMPLES_DIR
from tests.helpers import sample_claim
from workflows.actions import CoverageQuery, PayoutOrder, PolicyQuery
from workflows.claim import Claim

RECORDS = SystemOfRecord.from_file(EXAMPLES_DIR / "records.json")


async def coverage_of(claim: Claim) -> tuple[bool, Decimal, list[str]]:
    tools = EvidenceTools(RECORDS)
    env = ActivityEnvironment()
    lookup = await env.run(tools.lookup_policy, PolicyQuery(policy_number=claim.policy_number))
    assert lookup.policy is not None
    check = await env.run(tools.check_coverage, CoverageQuery(claim=claim, policy=lookup.policy))
    return check.covered, check.payable_amount, check.reasons


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        (sample_claim("CLM-1002"), (True, Decimal("1250.00"), [])),
        (sample_claim("CLM-1003"), (True, Decimal("7300.00"), [])),
        (sample_claim("CLM-1004"), (True, Decimal("590.00"), [])),
    ],
)
async def test_coverage_pays_the_amount_less_deductible_within_limit(
    claim: Claim, expected: tuple[bool, Decimal, list[str]]
) -> None:
    assert expected == await coverage_of(claim)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"category": "auto"}, "category auto is not covered"),
        ({"currency": "EUR"}, "claim is in EUR, the policy pays in USD"),
        ({"incident_date": date(2025, 1, 5)}, "outside the policy period"),
        (
            {"claimant": {"id": "CUS-0001", "name": "X", "email": "x@example.com"}},
            "not the policy holder",
        ),
    ],
)
async def test_coverage_refuses_what_the_policy_does_not_cover(
    changes: dict[str, object], reason: str
) -> None:
    covered, payable, reasons = await coverage_of(sample_claim("CLM-1002", **changes))

    assert (False, Decimal(0)) == (covered, payable)
    assert any(reason in r for r in reasons), reasons


async def test_fraud_screen_finds_the_duplicate_and_the_watch_list() -> None:
    tools = EvidenceTools(RECORDS)
    env = ActivityEnvironment()

    duplicate = await env.run(tools.screen_for_fraud, sample_claim("CLM-1004"))
    watched = await env.run(
        tools.screen_for_fraud,
        sample_claim(
            "CLM-1001", claimant={"id": "CUS-9999", "name": "Z", "email": "z@example.com"}
        ),
    )
    clean = await env.run(tools.screen_for_fraud, sample_claim("CLM-1001"))

    assert ["CLM-0950"] == [d.claim_id for d in duplicate.duplicates]
    assert ["CUS-9999"] == watched.watchlist_hits
    assert clean.clean


def test_a_missing_records_file_says_which_setting_to_change(tmp_path: Path) -> None:
    with pytest.raises(RecordsError, match="CLAIMS_RECORDS_FILE"):
        SystemOfRecord.from_file(tmp_path / "nope.json")


async def test_a_repeated_payout_order_pays_once(tmp_path: Path) -> None:
    """Retries and replays reuse the idempotency key; the ledger keeps one payout."""
    ledger = Ledger(tmp_path / "ledger.db")
    payments = PaymentActivities(ledger)
    order = PayoutOrder(
        idempotency_key="claim-X/payout",
        claim_id="X",
        payee_id="C-1",
        amount=Decimal("1250.00"),
        currency="USD",
        approved_by="maria",
    )
    env = ActivityEnvironment()

    first = await env.run(payments.issue_payout, order)
    second = await env.run(payments.issue_payout, order)

    assert (False, True, first.payout_id) == (
        first.already_paid,
        second.already_paid,
        second.payout_id,
    )
    assert [(first.payout_id, "1250.00")] == ledger.payouts_for("X")
