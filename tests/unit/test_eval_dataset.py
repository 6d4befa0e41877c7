"""The evaluation dataset: the committed files are the generator's, and the reader refuses
every bad line by number and field without ever raising on content."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from activities.records import Records, SystemOfRecord
from evaluation.dataset import (
    MAX_DATASET_BYTES,
    MAX_LINE_BYTES,
    DatasetCursor,
    DatasetError,
    dataset_files,
    read_all,
    read_page,
    read_records,
)
from examples.eval import generate
from workflows.evaluation import AGENT_DECIDER, EvalCase, Route
from workflows.state import OutcomeStatus

COMMITTED = Path(generate.__file__).resolve().parent
ROOT = COMMITTED.parents[1]


@pytest.fixture(scope="module")
def committed_lines() -> list[str]:
    return (COMMITTED / "cases.jsonl").read_text(encoding="utf-8").splitlines()


def a_case(case_id: str = "CASE-1", **changes: Any) -> dict[str, Any]:
    """A valid case as JSON data; one field changed per test."""
    case: dict[str, Any] = {
        "case_id": case_id,
        "claim": {
            "claim_id": case_id,
            "policy_number": "POL-E9999",
            "claimant": {"id": "CUS-E9999", "name": "Ada Test", "email": "ada@example.com"},
            "amount": 120.5,
            "currency": "USD",
            "incident_date": "2026-10-01",
            "category": "expense",
            "description": "Taxi fares.",
            "documents": [],
            "submitted_by": "intake",
        },
        "final": {
            "status": "completed",
            "payout_amount": 120.5,
            "decided_by": AGENT_DECIDER,
            "route": "auto",
        },
    }
    case.update(changes)
    return case


def write_lines(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def test_generator_writes_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    """Regenerating gives the committed dataset exactly: the generator has no clock."""
    generate.write(tmp_path)
    for name in ("cases.jsonl", "records.json"):
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_every_committed_line_is_a_case(committed_lines: list[str]) -> None:
    """Each line validates as EvalCase; ids are unique and of the dataset's own range."""
    cases = [EvalCase.model_validate_json(line) for line in committed_lines]
    assert 250 <= len(cases) <= 1000
    ids = [c.case_id for c in cases]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("CLM-E") for i in ids)


def test_committed_ids_do_not_collide_with_the_example_records() -> None:
    """No policy, claimant or claim id of the dataset is one examples/ already uses."""
    examples = Records.model_validate_json((ROOT / "examples" / "records.json").read_bytes())
    dataset = read_records(COMMITTED / "records.json")
    assert not {p.policy_number for p in examples.policies} & {
        p.policy_number for p in dataset.policies
    }
    assert not {c.claim_id for c in examples.prior_claims} & {
        c.claim_id for c in dataset.prior_claims
    }
    example_claims = {p.stem for p in (ROOT / "examples" / "claims").glob("*.json")}
    cases, _ = read_all(COMMITTED / "cases.jsonl")
    assert not example_claims & {c.case_id for c in cases}


def test_labels_follow_the_evidence(committed_lines: list[str]) -> None:
    """Every kind the issue names is there, and each label is what the evidence supports."""
    cases = [EvalCase.model_validate_json(line) for line in committed_lines]
    kinds = {c.tags[0] for c in cases}
    assert set(generate.KINDS) == kinds
    for case in cases:
        generate.check_label(case)
        coverage = case.recorded_evidence["check_coverage"]
        payable = Decimal(str(coverage["payable_amount"]))
        if "paid_less_on_inspection" in case.tags:
            # A person cut the payout after reading the documents: less than the records allow.
            assert coverage["covered"]
            assert 0 < case.final.payout_amount < payable
        elif case.final.status is OutcomeStatus.COMPLETED:
            assert coverage["covered"]
            assert case.final.payout_amount == payable
        else:
            assert case.final.payout_amount == 0
        if case.final.route is Route.AUTO:
            assert case.final.decided_by == AGENT_DECIDER
        else:
            assert case.final.decided_by != AGENT_DECIDER
    injected = [c for c in cases if "prompt_injection" in c.tags]
    assert all(c.final.status is OutcomeStatus.REJECTED for c in injected)
    assert all(
        "instruction" in c.claim.description.lower()
        or "assistant" in c.claim.description.lower()
        or "approve" in c.claim.description.lower()
        for c in injected
    )


def test_add_records_is_idempotent_and_pays_nothing(tmp_path: Path) -> None:
    """The dataset's records go in once: a second load adds no row, seeded rows stay."""
    records = SystemOfRecord.open(tmp_path / "r.db", ROOT / "examples" / "records.json")
    dataset = read_records(COMMITTED / "records.json")
    added = records.add_records(dataset)
    assert added == (
        len(dataset.policies) + len(dataset.prior_claims) + len(dataset.watchlist)
    )  # the required documents are the seeded ones already
    assert records.add_records(dataset) == 0
    assert records.policy("POL-E0001") is not None
    assert records.policy("POL-HOME-200") is not None


def test_a_folder_or_a_file_and_refusals_naming_the_path(tmp_path: Path) -> None:
    """A folder needs cases.jsonl; a missing path is refused by name."""
    files = dataset_files(COMMITTED)
    assert files.cases.name == "cases.jsonl"
    assert files.records is not None
    single = write_lines(tmp_path / "few.jsonl", json.dumps(a_case()))
    assert dataset_files(single).records is None
    with pytest.raises(DatasetError, match=r"no cases\.jsonl"):
        dataset_files(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        dataset_files(tmp_path / "nothing")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(DatasetError, match=r"bad\.json is not valid"):
        read_records(tmp_path / "bad.json")


def test_bad_lines_are_reported_by_number_and_field_and_skipped(tmp_path: Path) -> None:
    """Wrong types, control characters, bad JSON, a truncated last line and a repeated id
    are each a line of `skipped`; the good cases around them are read."""
    wrong_amount = a_case("CASE-2")
    wrong_amount["claim"]["amount"] = "lots"
    control = a_case("CASE-3")
    control["claim"]["description"] = "fine\x00\x1b[31mred"
    path = write_lines(
        tmp_path / "cases.jsonl",
        json.dumps(a_case("CASE-1")),
        json.dumps(wrong_amount),
        "",
        json.dumps(control),
        "not json at all \x07",
        b"\xff\xfe bytes",
        "[1, 2, 3]",
        json.dumps(a_case("CASE-1")),
        json.dumps(a_case("CASE-4")),
        json.dumps(a_case("CASE-5"))[:40],
    )
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    cases, skipped = read_all(path)
    assert [c.case_id for c in cases] == ["CASE-1", "CASE-4"]
    assert skipped[0].startswith("cases.jsonl line 2: claim.amount: ")
    assert skipped[1].startswith("cases.jsonl line 4: claim.description")
    assert [s.split(":")[0] for s in skipped] == [
        f"cases.jsonl line {n}" for n in (2, 4, 5, 6, 7, 8, 10)
    ]
    assert "already an earlier line's case" in skipped[5]
    assert all(s.isprintable() for s in skipped)


def test_a_huge_line_is_skipped_without_being_held(tmp_path: Path) -> None:
    """A line past the limit is one problem; the case after it is read."""
    path = tmp_path / "cases.jsonl"
    with path.open("wb") as out:
        out.write(b'{"case_id": "' + b"x" * (MAX_LINE_BYTES + 10) + b'"}\n')
        out.write(json.dumps(a_case("CASE-9")).encode() + b"\n")
    cases, skipped = read_all(path)
    assert [c.case_id for c in cases] == ["CASE-9"]
    assert skipped == [
        f"cases.jsonl line 1: longer than {MAX_LINE_BYTES:,} bytes, which no case is"
    ]


def test_deep_nesting_is_a_bad_line(tmp_path: Path) -> None:
    """JSON nested past any parser's depth is reported, not raised."""
    path = write_lines(tmp_path / "cases.jsonl", "[" * 100_000 + "]" * 100_000)
    cases, skipped = read_all(path)
    assert cases == []
    assert len(skipped) == 1
    assert skipped[0].startswith("cases.jsonl line 1: ")


def test_a_file_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    """Past 64 MiB the dataset is refused by name (a sparse file: nothing is written)."""
    path = tmp_path / "huge.jsonl"
    with path.open("wb") as out:
        out.truncate(MAX_DATASET_BYTES + 1)
    with pytest.raises(DatasetError, match=r"huge\.jsonl is .* bytes"):
        read_page(path)


def test_pages_follow_the_cursor_and_the_limit(tmp_path: Path) -> None:
    """Pages of 2 from 5 cases give 2, 2, 1; a duplicate on a later page is still refused;
    the limit stops the reading early; a forged cursor is refused."""
    path = write_lines(
        tmp_path / "cases.jsonl",
        *(json.dumps(a_case(f"CASE-{n}")) for n in range(1, 6)),
        json.dumps(a_case("CASE-1")),
    )
    seen: list[str] = []
    sizes = []
    cursor: DatasetCursor | None = None
    skipped: list[str] = []
    while True:
        page = read_page(path, cursor, page_size=2)
        sizes.append(len(page.cases))
        seen.extend(c.case_id for c in page.cases)
        skipped.extend(page.skipped)
        if page.cursor is None:
            break
        cursor = DatasetCursor.decode(page.cursor.encode())
    assert seen == [f"CASE-{n}" for n in range(1, 6)]
    assert sizes == [2, 2, 1]
    assert len(skipped) == 1
    assert "line 6" in skipped[0]
    limited = read_page(path, None, page_size=10, limit=3)
    assert len(limited.cases) == 3
    assert limited.cursor is None
    for forged in ("", "dataset1:1:2", "dataset1:-1:0:0:", "other:1:1:1:", "dataset1:1:1:1:AAA"):
        with pytest.raises(DatasetError, match="cursor"):
            DatasetCursor.decode(forged)


def test_a_page_of_large_cases_stays_below_a_payload(tmp_path: Path) -> None:
    """Cases of up to a megabyte each (long staff notes): a page stops before a megabyte
    of them, the line that would pass it starting the next page, so no page is a
    result Temporal refuses; every case is read once across the pages."""
    notes = ["n" * 30_000] * 20
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "".join(json.dumps(a_case(f"BIG-{i}", notes=notes)) + "\n" for i in range(5)),
        encoding="utf-8",
    )
    seen: list[str] = []
    cursor = None
    while True:
        page = read_page(path, cursor)
        assert len(page.cases) >= 1
        assert sum(len(c.model_dump_json()) for c in page.cases) <= 1_100_000
        seen.extend(c.case_id for c in page.cases)
        if page.cursor is None:
            break
        cursor = page.cursor
    assert [f"BIG-{i}" for i in range(5)] == seen
