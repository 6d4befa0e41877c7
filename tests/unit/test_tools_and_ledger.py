"""Tool activities over the SQLite system of record (the payout ledger: test_ledger.py)."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities.evidence_tools import EvidenceTools, as_langchain_tools
from activities.records import RecordsError, SystemOfRecord
from runtime.settings import EXAMPLES_DIR
from tests.helpers import sample_claim
from workflows.claim import Claim
from workflows.tools import (
    CheckCoverageArgs,
    CheckCurrencyLimitArgs,
    ClaimHistoryQuery,
    InventoryDocumentsArgs,
    ScreenWatchlistArgs,
    SearchClaimHistoryArgs,
    validate_tool_call,
)


@pytest.fixture
def tools(tmp_path: Path) -> EvidenceTools:
    return EvidenceTools(
        SystemOfRecord.open(tmp_path / "records.db", EXAMPLES_DIR / "records.json")
    )


def coverage_args(claim: Claim) -> CheckCoverageArgs:
    return CheckCoverageArgs(
        policy_number=claim.policy_number,
        claimant_id=claim.claimant.id,
        category=claim.category,
        amount=claim.amount,
        currency=claim.currency,
        incident_date=claim.incident_date,
    )


@pytest.mark.parametrize(
    ("sample", "payable"),
    [
        ("CLM-1001", "420.00"),
        ("CLM-1002", "1250.00"),
        ("CLM-1003", "7300.00"),
        ("CLM-1004", "590.00"),
    ],
)
async def test_coverage_pays_the_amount_less_deductible_within_limit(
    tools: EvidenceTools, sample: str, payable: str
) -> None:
    """A covered claim is payable at its amount less the policy's deductible, with no reasons."""
    check = await ActivityEnvironment().run(
        tools.check_coverage, coverage_args(sample_claim(sample))
    )

    assert (True, Decimal(payable), []) == (check.covered, check.payable_amount, check.reasons)


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
        ({"policy_number": "POL-OLD-500"}, "policy POL-OLD-500 is lapsed"),
        ({"policy_number": "POL-NOPE"}, "policy POL-NOPE not found"),
    ],
)
async def test_coverage_refuses_what_the_policy_does_not_cover(
    tools: EvidenceTools, changes: dict[str, object], reason: str
) -> None:
    """Wrong category, currency, period or holder, a lapsed or unknown policy: nothing payable,
    and the reason given.
    """
    claim = sample_claim("CLM-1002", **changes)

    check = await ActivityEnvironment().run(tools.check_coverage, coverage_args(claim))

    assert (False, Decimal(0)) == (check.covered, check.payable_amount)
    assert any(reason in r for r in check.reasons), check.reasons


async def test_claim_history_flags_the_duplicate(tools: EvidenceTools) -> None:
    """A paid claim by the same claimant for the same amount days earlier is flagged a duplicate."""
    claim = sample_claim("CLM-1004")
    args = ClaimHistoryQuery.for_claim(
        claim,
        SearchClaimHistoryArgs(
            claimant_id=claim.claimant.id, amount=claim.amount, incident_date=claim.incident_date
        ),
    )

    history = await ActivityEnvironment().run(tools.search_claim_history, args)

    assert (["CLM-0950"], ["CLM-0950"]) == (
        [c.claim_id for c in history.prior_claims],
        [c.claim_id for c in history.duplicates],
    )


async def test_watchlist_matches_claimant_or_policy(tools: EvidenceTools) -> None:
    """A watchlisted claimant is hit whatever the case it is written in; a clean one is not."""
    env = ActivityEnvironment()

    watched = await env.run(
        tools.screen_watchlist, ScreenWatchlistArgs(claimant_id="cus-9999", policy_number="P")
    )
    clean = await env.run(
        tools.screen_watchlist, ScreenWatchlistArgs(claimant_id="CUS-1042", policy_number="P")
    )

    assert (["cus-9999"], []) == (watched.hits, clean.hits)


async def test_document_inventory_names_what_is_missing(tools: EvidenceTools) -> None:
    """The inventory lists the documents a category requires and names those not on file."""
    args = InventoryDocumentsArgs(category="property", document_kinds=["photo"])

    inventory = await ActivityEnvironment().run(tools.inventory_documents, args)

    assert (["photo", "repair_estimate"], ["repair_estimate"]) == (
        inventory.required,
        inventory.missing,
    )


async def test_currency_and_limit_check(tools: EvidenceTools) -> None:
    """The policy's currency within its limit passes; another currency over the limit fails both."""
    env = ActivityEnvironment()
    ok = await env.run(
        tools.check_currency_limit,
        CheckCurrencyLimitArgs(policy_number="POL-EXP-100", amount=Decimal(420), currency="USD"),
    )
    over = await env.run(
        tools.check_currency_limit,
        CheckCurrencyLimitArgs(policy_number="POL-EXP-100", amount=Decimal(2500), currency="EUR"),
    )

    assert (True, True) == (ok.currency_matches, ok.within_limit)
    assert (False, False) == (over.currency_matches, over.within_limit)


async def test_langchain_tools_run_the_same_code(tools: EvidenceTools) -> None:
    """The LangChain tools bound to the model are the activities' code, usable on their own."""
    by_name = {t.name: t for t in as_langchain_tools(tools)}

    answer = await by_name["lookup_policy"].ainvoke({"policy_number": "POL-HOME-200"})

    assert 6 == len(by_name)
    assert "CUS-1042" == json.loads(answer)["policy"]["holder_id"]


@pytest.mark.parametrize(
    ("name", "arguments", "error"),
    [
        ("delete_claim", {}, "unknown tool 'delete_claim'"),
        ("lookup_policy", {}, "invalid arguments for lookup_policy"),
        ("lookup_policy", {"policy_number": "POL-1", "x": 1}, "invalid arguments"),
        ("lookup_policy", {"policy_number": "POL-OTHER"}, "policy_number is POL-HOME-200"),
        (
            "inventory_documents",
            {"category": "property", "document_kinds": ["photo", "police_report"]},
            "no document of kind police_report is on file",
        ),
    ],
)
def test_calls_the_workflow_refuses_before_any_activity_runs(
    name: str, arguments: dict[str, object], error: str
) -> None:
    """Unknown tools, bad arguments and questions about other claims are tool errors."""
    checked = validate_tool_call(sample_claim("CLM-1002"), name, arguments)

    assert isinstance(checked, str)
    assert error in checked


def test_records_database_is_seeded_once(tmp_path: Path) -> None:
    """The seed file fills a new database; later opens keep what the database holds."""
    path = tmp_path / "records.db"
    SystemOfRecord.open(path, EXAMPLES_DIR / "records.json")

    reopened = SystemOfRecord.open(path, tmp_path / "seed-no-longer-needed.json")

    assert reopened.policy("POL-HOME-200") is not None


def test_a_missing_seed_file_says_which_setting_to_change(tmp_path: Path) -> None:
    """A new records database without its seed file is refused, naming CLAIMS_RECORDS_FILE."""
    with pytest.raises(RecordsError, match="CLAIMS_RECORDS_FILE"):
        SystemOfRecord.open(tmp_path / "records.db", tmp_path / "nope.json")
