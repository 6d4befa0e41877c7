"""Finished reviews' histories as evaluation cases, over the committed replay corpus; and a
folder of exported histories read without ever raising on what it holds."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from evaluation.from_history import (
    MAX_SKIPPED_PER_PAGE,
    HistoriesFolderError,
    case_from_file,
    case_from_history,
    cases_from_folder,
    history_files,
)
from history.replay import load_decoded_history
from tests.keys import encrypted_test_converter
from workflows.evaluation import AGENT_DECIDER, EvalCase, Route
from workflows.evidence import Recommendation
from workflows.state import OutcomeStatus
from workflows.tools import TOOLS

CORPUS = Path(__file__).resolve().parents[1] / "histories"


async def read(name: str) -> EvalCase | str:
    return await case_from_file(CORPUS / f"{name}.json", encrypted_test_converter())


async def test_an_auto_approval_is_an_auto_case() -> None:
    """The agent paid it: route auto both then and finally, every tool's answer kept."""
    case = await read("auto_approve")
    assert isinstance(case, EvalCase)
    assert case.case_id == "REPLAY-AUTO"
    assert case.workflow_id == "claim-REPLAY-AUTO"
    assert case.final.status is OutcomeStatus.COMPLETED
    assert case.final.route is Route.AUTO
    assert case.final.decided_by == AGENT_DECIDER
    assert case.original.recommendation is Recommendation.APPROVE
    assert case.original.route is Route.AUTO
    assert set(case.recorded_evidence) == set(TOOLS)
    for name, answer in case.recorded_evidence.items():
        TOOLS[name].result.model_validate(answer)


async def test_an_edited_payout_keeps_what_the_agent_proposed() -> None:
    """A person paid less than the agent's assessment: both amounts are in the case."""
    case = await read("edit_then_approve")
    assert isinstance(case, EvalCase)
    assert case.final.route is Route.HUMAN
    assert case.final.decided_by == "maria"
    assert case.final.payout_amount == Decimal(1000)
    assert case.original.payout_amount == Decimal(1250)
    assert case.original.route is Route.HUMAN


async def test_a_rejection_is_a_human_case() -> None:
    """A person rejected it after the agent referred it."""
    case = await read("reject")
    assert isinstance(case, EvalCase)
    assert case.final.status is OutcomeStatus.REJECTED
    assert case.final.payout_amount == 0
    assert case.original.recommendation is Recommendation.REFER


async def test_a_continued_review_is_read_from_its_last_run() -> None:
    """The last run carries the evidence and assessment; the first run is no case."""
    case = await read("continued_as_new")
    assert isinstance(case, EvalCase)
    assert case.final.decided_by == "dana"
    assert set(case.recorded_evidence) == set(TOOLS)
    assert case.original.route is Route.HUMAN
    first = await read("continued_as_new_first_run")
    assert first == "it continued as new; its last run holds the decision"


@pytest.mark.parametrize("name", ["pause_interrupt_cancel", "temporal_cancellation"])
async def test_a_cancelled_review_is_no_case(name: str) -> None:
    """No decision, no label: the reason says so."""
    reason = await read(name)
    assert isinstance(reason, str)
    assert "cancelled" in reason


async def test_every_corpus_history_gives_a_case_or_a_reason() -> None:
    """Nothing in the corpus makes the reading raise."""
    converter = encrypted_test_converter()
    for path in sorted(CORPUS.glob("*.json")):
        found = await case_from_file(path, converter)
        assert isinstance(found, EvalCase | str), path.name


async def test_unfinished_foreign_and_encrypted_histories_give_reasons() -> None:
    """A running review, another workflow type, an empty history and payloads still
    encrypted (read without the key ring) are each a reason, not an error."""
    history = await load_decoded_history(CORPUS / "auto_approve.json", encrypted_test_converter())
    running = WorkflowHistory(history.workflow_id, list(history.events[:20]))
    assert case_from_history(running) == "the review is still running"
    copy = History()
    copy.events.extend(history.events)
    copy.events[0].workflow_execution_started_event_attributes.workflow_type.name = "Other\x1b"
    foreign = case_from_history(WorkflowHistory("x", list(copy.events)))
    assert isinstance(foreign, str)
    assert foreign.startswith("it is a Other\\x1b")
    assert case_from_history(WorkflowHistory("x", [])) == (
        "the history does not begin with the workflow's start"
    )
    still_encrypted = await case_from_file(CORPUS / "auto_approve.json", DataConverter.default)
    assert isinstance(still_encrypted, str)
    assert "encrypted" in still_encrypted


async def test_a_folder_of_histories_pages_and_skips_what_is_not_one(tmp_path: Path) -> None:
    """Non-JSON, garbage, a symlink loop and a subfolder are skipped with a reason; the
    histories are read a page at a time in name order."""
    for name in ("auto_approve", "reject", "pause_interrupt_cancel"):
        shutil.copy(CORPUS / f"{name}.json", tmp_path / f"{name}.json")
    (tmp_path / "notes.txt").write_text("not a history")
    (tmp_path / "garbage.json").write_bytes(b"\xff\x00{")
    (tmp_path / "loop.json").symlink_to(tmp_path / "loop.json")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "folder.json" / "inner.json").write_text("{}")
    converter = encrypted_test_converter()
    assert "notes.txt" not in history_files(tmp_path)
    cases, skipped, cursor = await cases_from_folder(tmp_path, converter, count=1)
    assert [c.case_id for c in cases] == ["REPLAY-AUTO"]
    assert cursor is not None
    all_cases = list(cases)
    all_skipped = list(skipped)
    while cursor is not None:
        cases, skipped, cursor = await cases_from_folder(tmp_path, converter, start=cursor, count=1)
        all_cases.extend(cases)
        all_skipped.extend(skipped)
    assert [c.case_id for c in all_cases] == ["REPLAY-AUTO", "REPLAY-REJECT"]
    reasons = dict(s.split(": ", 1) for s in all_skipped)
    assert set(reasons) == {
        "folder.json",
        "garbage.json",
        "loop.json",
        "pause_interrupt_cancel.json",
    }
    assert reasons["loop.json"] == "not a regular file"
    assert all(s.isprintable() for s in all_skipped)


async def test_a_missing_folder_is_refused_by_name(tmp_path: Path) -> None:
    """The folder itself wrong is the one error: it names the path."""
    with pytest.raises(HistoriesFolderError, match="does not exist"):
        history_files(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(HistoriesFolderError, match="not a folder"):
        history_files(tmp_path / "file")


async def test_a_folder_of_many_unusable_files_pages_with_a_bounded_list(tmp_path: Path) -> None:
    """Thousands of files that are no history: each page reads a bounded number of files
    and lists a bounded number of them, counting the rest, so no page outgrows a payload
    and the reading resumes where the page stopped."""
    for index in range(600):
        (tmp_path / f"junk{index:04}.json").write_text("{")
    shutil.copy(CORPUS / "auto_approve.json", tmp_path / "zz_auto_approve.json")
    converter = encrypted_test_converter()
    cases, skipped, cursor = await cases_from_folder(tmp_path, converter)
    assert [] == cases
    assert len(skipped) <= MAX_SKIPPED_PER_PAGE + 1
    assert skipped[-1].endswith("more files skipped, not listed")
    pages = 1
    while cursor is not None:
        cases, skipped, cursor = await cases_from_folder(tmp_path, converter, start=cursor)
        pages += 1
    assert ["REPLAY-AUTO"] == [c.case_id for c in cases]
    assert pages >= 2
