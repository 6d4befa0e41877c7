"""The claim history search sees the claims reviewed here; the records database fails plainly."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import ActivityEnvironment

from activities.claim_registry import ClaimRegistry
from activities.evidence_tools import MAX_LISTED_CLAIMS, EvidenceTools, as_langchain_tools
from activities.records import SCHEMA_VERSION, RecordsError, SystemOfRecord
from runtime.settings import EXAMPLES_DIR
from tests.helpers import sample_claim
from workflows.claim import Claim
from workflows.evidence import (
    UNDER_REVIEW,
    ClaimHistory,
    ReviewedClaim,
    description_digest,
    identity_key,
)
from workflows.tools import ClaimHistoryQuery, SearchClaimHistoryArgs, validate_tool_call

SEED = EXAMPLES_DIR / "records.json"
NEAR_DUPLICATE = "same policy, incident date and claimant"

# The schema records databases were created with before the registry of reviewed claims.
OLD_SCHEMA = """
CREATE TABLE policies (policy_number TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE prior_claims (
    claim_id TEXT PRIMARY KEY,
    claimant_id TEXT NOT NULL,
    policy_number TEXT NOT NULL,
    amount TEXT NOT NULL,
    incident_date TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX prior_claims_by_claimant ON prior_claims (claimant_id);
CREATE TABLE watchlist (identifier TEXT PRIMARY KEY COLLATE NOCASE);
CREATE TABLE required_documents (
    category TEXT NOT NULL, kind TEXT NOT NULL, PRIMARY KEY (category, kind)
);
"""


@pytest.fixture
def records(tmp_path: Path) -> SystemOfRecord:
    return SystemOfRecord.open(tmp_path / "records.db", SEED)


@pytest.fixture
def registry(records: SystemOfRecord) -> ClaimRegistry:
    return ClaimRegistry(records)


@pytest.fixture
def tools(records: SystemOfRecord) -> EvidenceTools:
    return EvidenceTools(records)


def registered(records: SystemOfRecord) -> list[tuple[Any, ...]]:
    with sqlite3.connect(records.path) as db:
        return db.execute("SELECT * FROM reviewed_claims ORDER BY claim_id").fetchall()


async def register(registry: ClaimRegistry, claim: Claim) -> None:
    await ActivityEnvironment().run(registry.register_reviewed_claim, ReviewedClaim.of(claim))


async def search(tools: EvidenceTools, claim: Claim) -> ClaimHistory:
    """The history search exactly as the workflow runs it for the model's call."""
    query = validate_tool_call(
        claim,
        "search_claim_history",
        {
            "claimant_id": claim.claimant.id,
            "amount": claim.amount,
            "incident_date": claim.incident_date,
        },
    )
    assert isinstance(query, ClaimHistoryQuery), query
    return await ActivityEnvironment().run(tools.search_claim_history, query)


def fullwidth(text: str) -> str:
    """ASCII letters, digits and signs as their full-width forms (A -> U+FF21)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def copy_of(claim: Claim, **changes: object) -> Claim:
    return Claim.model_validate(claim.model_dump() | changes)


def ids(history: ClaimHistory) -> tuple[list[str], list[str]]:
    return [c.claim_id for c in history.prior_claims], [c.claim_id for c in history.duplicates]


async def test_registering_a_claim_again_keeps_one_entry(
    records: SystemOfRecord, registry: ClaimRegistry
) -> None:
    """Retries and concurrent registrations of one claim leave one entry, under review."""
    claim = sample_claim("CLM-1002")

    await register(registry, claim)
    await asyncio.gather(*(register(registry, claim) for _ in range(20)))

    [row] = registered(records)
    assert (
        "CLM-1002",
        "cus-1042",
        "pol-home-200",
        "1250.00",
        "2026-11-18",
        description_digest(claim.description),
        UNDER_REVIEW,
    ) == row


async def test_registering_again_keeps_the_status_and_takes_the_latest_facts(
    records: SystemOfRecord, registry: ClaimRegistry
) -> None:
    """A failed review started anew updates what the claim says; its status stays."""
    claim = sample_claim("CLM-1002")
    await register(registry, claim)
    with sqlite3.connect(records.path) as db:
        db.execute("UPDATE reviewed_claims SET status = 'paid'")

    await register(registry, copy_of(claim, amount=Decimal("900.00")))

    [row] = registered(records)
    assert ("900.00", "paid") == (row[3], row[6])


async def test_a_copy_under_a_new_id_asking_for_less_is_a_duplicate(
    registry: ClaimRegistry, tools: EvidenceTools
) -> None:
    """The reported attack: a reviewed claim copied under a new id, lower amount."""
    original = sample_claim("CLM-1002")
    await register(registry, original)
    copy = copy_of(original, claim_id="CLM-1002-AGAIN", amount=Decimal("990.00"))
    await register(registry, copy)

    history = await search(tools, copy)

    assert (["CLM-0871", "CLM-1002"], ["CLM-1002"]) == ids(history)
    assert f"{NEAR_DUPLICATE}; same description" == history.duplicates[0].reason
    assert UNDER_REVIEW == history.duplicates[0].status


async def test_the_original_sees_its_copy_too(
    registry: ClaimRegistry, tools: EvidenceTools
) -> None:
    """Two copies reviewed at once each find the other: neither is paid unseen."""
    original = sample_claim("CLM-1002")
    copy = copy_of(original, claim_id="CLM-1002-AGAIN", amount=Decimal("990.00"))
    await asyncio.gather(register(registry, original), register(registry, copy))

    histories = await asyncio.gather(search(tools, original), search(tools, copy))

    assert [["CLM-1002-AGAIN"], ["CLM-1002"]] == [ids(h)[1] for h in histories]


async def test_the_claim_under_review_is_not_its_own_duplicate(
    registry: ClaimRegistry, tools: EvidenceTools
) -> None:
    """Registered at intake, the claim is left out of its own history."""
    claim = sample_claim("CLM-1002")
    await register(registry, claim)

    history = await search(tools, claim)

    assert (["CLM-0871"], []) == ids(history)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"incident_date": date(2026, 11, 17)}, id="a day earlier"),
        pytest.param({"incident_date": date(2027, 1, 18)}, id="two months later"),
        pytest.param({"policy_number": "POL-OTHER-1"}, id="another policy"),
        pytest.param(
            {"claimant": {"id": "CUS-2000", "name": "Ann Lee", "email": "a@example.com"}},
            id="another claimant",
        ),
    ],
)
async def test_a_claim_that_differs_in_policy_date_or_claimant_is_not_a_near_duplicate(
    registry: ClaimRegistry, tools: EvidenceTools, changes: dict[str, object]
) -> None:
    """Near means same policy, incident date and claimant; a lower amount keeps the old
    same-amount rule out of it."""
    original = sample_claim("CLM-1002")
    await register(registry, original)
    other = copy_of(original, claim_id="CLM-2000", amount=Decimal("990.00"), **changes)

    history = await search(tools, other)

    assert [] == history.duplicates


@pytest.mark.parametrize(
    ("claimant_id", "policy_number"),
    [
        pytest.param("cus-1042", "pol-home-200", id="lower case"),
        pytest.param("CUS-1042 ", " POL-HOME-200", id="spaces"),
        pytest.param(fullwidth("CUS-1042"), fullwidth("POL-HOME-200"), id="full width"),
    ],
)
async def test_a_copy_spelled_differently_is_still_a_duplicate(
    registry: ClaimRegistry, tools: EvidenceTools, claimant_id: str, policy_number: str
) -> None:
    """Claimant and policy are compared by identity, not spelling."""
    original = sample_claim("CLM-1002")
    await register(registry, original)
    claimant = original.claimant.model_dump() | {"id": claimant_id}
    copy = copy_of(
        original,
        claim_id="CLM-1002-B",
        claimant=claimant,
        policy_number=policy_number,
        amount=Decimal(1000),
        description=original.description.upper() + "  ",
    )

    history = await search(tools, copy)

    assert [("CLM-1002", f"{NEAR_DUPLICATE}; same description")] == [
        (d.claim_id, d.reason) for d in history.duplicates
    ]


async def test_the_same_amount_within_thirty_days_is_still_a_duplicate(
    tools: EvidenceTools,
) -> None:
    """The older rule stays: CLM-1004 repeats the seeded CLM-0950 four days later."""
    history = await search(tools, sample_claim("CLM-1004"))

    assert (["CLM-0950"], ["CLM-0950"]) == ids(history)
    assert "same claimant and amount, incidents within 30 days" == history.duplicates[0].reason


async def test_a_claim_reusing_the_id_of_a_claim_on_record_is_a_duplicate(
    tools: EvidenceTools,
) -> None:
    """A seeded claim paid elsewhere cannot be hidden by submitting under its id."""
    claim = sample_claim("CLM-1002", claim_id="CLM-0950")

    history = await search(tools, claim)

    assert [("CLM-0950", "the same claim id is already on record")] == [
        (d.claim_id, d.reason) for d in history.duplicates
    ]


async def test_a_long_history_is_cut_to_the_most_recent_claims(
    registry: ClaimRegistry, tools: EvidenceTools
) -> None:
    """A claimant with many reviewed claims cannot blow up the tool answer."""
    claim = sample_claim("CLM-1002")
    start = date(2026, 1, 1)
    for n in range(MAX_LISTED_CLAIMS + 20):
        await register(
            registry,
            copy_of(claim, claim_id=f"OLD-{n:03}", incident_date=start + timedelta(days=n)),
        )
    copies = [copy_of(claim, claim_id=f"COPY-{n:03}") for n in range(MAX_LISTED_CLAIMS + 5)]
    for copy in copies:
        await register(registry, copy)

    history = await search(tools, claim)

    total = 1 + 2 * MAX_LISTED_CLAIMS + 25  # the seeded CLM-0871, the old ones, the copies
    assert (MAX_LISTED_CLAIMS, total - MAX_LISTED_CLAIMS) == (
        len(history.prior_claims),
        history.prior_claims_not_listed,
    )
    assert (MAX_LISTED_CLAIMS, 5) == (len(history.duplicates), history.duplicates_not_listed)
    assert "CLM-1002" not in ids(history)[0]


async def test_the_langchain_tool_searches_the_registry_too(
    registry: ClaimRegistry, tools: EvidenceTools
) -> None:
    """Run on its own with the model's arguments, the tool still finds registered copies."""
    original = sample_claim("CLM-1002")
    await register(registry, original)
    tool = {t.name: t for t in as_langchain_tools(tools)}["search_claim_history"]

    answer = await tool.ainvoke(
        {"claimant_id": "CUS-1042", "amount": "990.00", "incident_date": "2026-11-18"}
    )

    assert ["CLM-1002"] == [d.claim_id for d in ClaimHistory.model_validate_json(answer).duplicates]


def test_the_workflow_adds_the_claim_to_the_search_and_the_model_cannot() -> None:
    """The claim id, policy and description digest come from the claim, never the model."""
    claim = sample_claim("CLM-1002")
    arguments: dict[str, object] = {
        "claimant_id": "CUS-1042",
        "amount": "1250.00",
        "incident_date": "2026-11-18",
    }

    query = validate_tool_call(claim, "search_claim_history", arguments)
    refused = validate_tool_call(
        claim, "search_claim_history", arguments | {"claim_id": "CLM-0871"}
    )

    assert isinstance(query, ClaimHistoryQuery)
    assert ("CLM-1002", "POL-HOME-200", description_digest(claim.description)) == (
        query.claim_id,
        query.policy_number,
        query.description_digest,
    )
    assert isinstance(refused, str)
    assert "invalid arguments for search_claim_history" in refused


def test_the_activity_inputs_cross_the_wire_unchanged() -> None:
    """What the workflow sends is what the activities receive."""
    claim = sample_claim("CLM-1002")
    inputs = [
        ReviewedClaim.of(claim),
        ClaimHistoryQuery.for_claim(
            claim,
            SearchClaimHistoryArgs(
                claimant_id="CUS-1042", amount=claim.amount, incident_date=claim.incident_date
            ),
        ),
    ]
    converter = pydantic_data_converter.payload_converter

    decoded = converter.from_payloads(converter.to_payloads(inputs), [type(i) for i in inputs])

    assert inputs == decoded


def test_an_activity_input_of_the_older_shape_still_decodes() -> None:
    """Searches scheduled before the claim id was added run, matching on what they have."""
    old = SearchClaimHistoryArgs(
        claimant_id="CUS-1042", amount=Decimal(1250), incident_date=date(2026, 11, 18)
    )

    query = ClaimHistoryQuery.model_validate_json(old.model_dump_json())

    assert ("", "") == (query.claim_id, query.policy_number)


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("Burst pipe under the sink.", "  burst   PIPE under\tthe sink. ", True),
        ("Burst pipe under the sink.", "Burst\u200b pipe under the\u00ad sink.", True),
        ("Burst pipe under the sink.", fullwidth("Burst") + " pipe under the sink.", True),
        ("Burst pipe under the sink.", "Burst pipe under the bath.", False),
    ],
)
def test_the_description_digest_ignores_case_spacing_and_invisible_characters(
    first: str, second: str, same: bool
) -> None:
    """The digest keeps no text, and the same story retold still matches."""
    assert same == (description_digest(first) == description_digest(second))
    assert 64 == len(description_digest(first))


def test_identity_keys_fold_case_width_spaces_and_invisible_characters() -> None:
    """Whatever reaches the registry, spelling variants of one identifier meet."""
    assert "cus-1042 a" == identity_key(f" \t{fullwidth('CUS')}\u200b-1042\n\n A\x1b ")


def test_a_reviewed_claim_keeps_identities_and_only_a_digest_of_the_description() -> None:
    """The registry keeps a claim's folded identifiers and a digest of its story, never the text."""
    claim = sample_claim("CLM-1002", description="Water everywhere")

    reviewed = ReviewedClaim.of(claim)

    assert ("cus-1042", "pol-home-200", description_digest("water  EVERYWHERE"), UNDER_REVIEW) == (
        reviewed.claimant_id,
        reviewed.policy_number,
        reviewed.description_digest,
        reviewed.status,
    )
    assert "water" not in reviewed.model_dump_json().casefold()


async def test_an_existing_records_database_gains_the_registry_on_open(tmp_path: Path) -> None:
    """A database made by the older schema is migrated in place; nothing in it is lost."""
    path = tmp_path / "records.db"
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute("INSERT INTO policies VALUES ('POL-KEPT', '{}')")
        db.execute(
            "INSERT INTO prior_claims VALUES "
            "('CLM-0001', 'CUS-1042', 'POL-HOME-200', '1250.00', '2026-11-18', 'paid')"
        )
    db.close()

    records = SystemOfRecord.open(path, tmp_path / "no-seed-needed.json")
    await register(ClaimRegistry(records), sample_claim("CLM-1002", claim_id="CLM-1002-B"))
    history = await search(EvidenceTools(records), sample_claim("CLM-1002"))

    with closing(sqlite3.connect(path)) as db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        policies = db.execute("SELECT policy_number FROM policies").fetchall()
    assert (SCHEMA_VERSION, [("POL-KEPT",)]) == (version, policies)
    assert (["CLM-0001", "CLM-1002-B"], ["CLM-0001", "CLM-1002-B"]) == ids(history)


def assert_plain(error: pytest.ExceptionInfo[RecordsError], *expected: str) -> None:
    """A message naming what and where, and no chained traceback behind it."""
    message = str(error.value)
    for text in expected:
        assert text in message, message
    assert error.value.__cause__ is None
    assert error.value.__suppress_context__


def test_a_records_database_under_a_file_names_the_folder(tmp_path: Path) -> None:
    """A records database path through a file is refused naming folder, file and setting."""
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")

    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(blocker / "records.db", SEED)

    assert_plain(
        error, f"cannot create the folder {blocker}", f"{blocker} is a file", "CLAIMS_RECORDS_DB"
    )


def test_a_records_database_path_that_is_a_folder_says_so(tmp_path: Path) -> None:
    """A records database path that is a folder is refused as such, naming CLAIMS_RECORDS_DB."""
    path = tmp_path / "records.db"
    path.mkdir()

    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(path, SEED)

    assert_plain(error, f"records database {path}", "not a folder", "CLAIMS_RECORDS_DB")


def test_a_folder_that_cannot_be_created_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A records database whose folder cannot be created is refused naming it and why."""

    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    path = tmp_path / "ro" / "records.db"

    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(path, SEED)

    assert_plain(error, f"cannot create the folder {path.parent}", "Permission denied")


def read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open every records connection read-only, as a read-only file would be (tests run
    as root, whom file permissions do not stop)."""
    connect = sqlite3.connect

    def connect_read_only(path: Path, **kwargs: Any) -> sqlite3.Connection:
        read_only: sqlite3.Connection = connect(
            f"{Path(path).as_uri()}?mode=ro", uri=True, **kwargs
        )
        return read_only

    monkeypatch.setattr(sqlite3, "connect", connect_read_only)


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "new"])
def test_a_read_only_records_database_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exists: bool
) -> None:
    """The worker writes the registry, so a database it cannot write fails at start."""
    path = tmp_path / "records.db"
    if exists:
        SystemOfRecord.open(path, SEED)
    else:
        path.touch()
    read_only(monkeypatch)

    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(path, SEED)

    assert_plain(error, f"records database {path}", "read-only", "CLAIMS_RECORDS_DB")


async def test_a_registry_that_became_read_only_fails_the_activity_plainly(
    registry: ClaimRegistry, records: SystemOfRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database that turns read-only after start fails the registering activity plainly."""
    read_only(monkeypatch)

    with pytest.raises(RecordsError) as error:
        await register(registry, sample_claim("CLM-1002"))

    assert_plain(error, f"records database {records.path}", "read-only")


@pytest.mark.parametrize(
    "failure",
    [
        PermissionError(13, "Permission denied"),
        sqlite3.OperationalError("attempt to write a readonly database"),
    ],
    ids=["permission", "readonly"],
)
def test_a_connection_refused_for_permissions_says_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """A connection refused for permissions, by the OS or by SQLite, is reported as read-only."""

    def refuse(*args: object, **kwargs: object) -> sqlite3.Connection:
        raise failure

    monkeypatch.setattr(sqlite3, "connect", refuse)

    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(tmp_path / "records.db", SEED)

    assert_plain(error, str(tmp_path / "records.db"), "read-only")


def test_a_corrupt_records_database_says_what_is_lost_by_reseeding(tmp_path: Path) -> None:
    """A file that is not SQLite is refused, offering a backup and saying what reseeding loses."""
    path = tmp_path / "records.db"
    path.write_bytes(b"this is not sqlite" * 100)

    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(path, SEED)

    assert_plain(error, f"records database {path}", "backup", "no longer checked for duplicates")


def test_a_seed_file_that_is_a_folder_says_which_setting_to_change(tmp_path: Path) -> None:
    """A seed path that is a folder is refused as unreadable, naming CLAIMS_RECORDS_FILE."""
    with pytest.raises(RecordsError) as error:
        SystemOfRecord.open(tmp_path / "records.db", tmp_path)

    assert_plain(error, f"records seed file {tmp_path} cannot be read", "CLAIMS_RECORDS_FILE")
