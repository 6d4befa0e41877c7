"""The case loader of the evaluation: a list query over finished reviews on a real dev
server, paged by cursor; a dataset whose records merge once; sources refused by name."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.records import SystemOfRecord
from evaluation import loading
from evaluation.loading import EvalCaseLoader
from runtime.devserver import DevServer
from runtime.settings import PROJECT_ROOT
from tests.helpers import eventually, settings_in, start, unique_claim
from tests.keys import encrypted_test_converter
from worker import create_worker
from workflows.evaluation import EvalCasePage, EvalSource, EvalSourceKind, Route

pytestmark = pytest.mark.integration

DATASET = PROJECT_ROOT / "examples" / "eval"
CORPUS = PROJECT_ROOT / "tests" / "histories"


async def every_page(loader: EvalCaseLoader, source: EvalSource) -> list[EvalCasePage]:
    pages = [await loader.load_eval_cases(source, None)]
    while pages[-1].cursor is not None:
        pages.append(await loader.load_eval_cases(source, pages[-1].cursor))
    return pages


async def test_a_query_pages_through_finished_reviews_only(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two auto-approved claims are two cases, a page each; a claim still waiting for a
    person is no case; a query the server refuses fails for good, naming the query."""
    client = await dev_server.start(data_converter=encrypted_test_converter())
    settings = settings_in(tmp_path)
    records = SystemOfRecord.open(settings.records_db, settings.records_file)
    loader = EvalCaseLoader(records, client, client.data_converter)
    async with create_worker(client, settings, interceptors=[]):
        # The second is a different trip, so it is no duplicate of the first.
        other_trip = {"amount": Decimal("310.00"), "incident_date": date(2026, 10, 2)}
        finished = [unique_claim("CLM-1001"), unique_claim("CLM-1001", **other_trip)]
        for claim in finished:
            await (await start(client, claim, settings.task_queue)).result()
        await start(client, unique_claim("CLM-1002"), settings.task_queue)
        source = EvalSource(kind=EvalSourceKind.QUERY, query="ExecutionStatus = 'Completed'")
        await eventually(
            lambda: loader.load_eval_cases(source, None),
            lambda page: len(page.cases) == 2,
            what="both finished reviews listed",
        )
        monkeypatch.setattr(loading, "PAGE_SIZE", 1)
        pages = await every_page(loader, source)
    cases = [case for page in pages for case in page.cases]
    assert sorted(c.case_id for c in cases) == sorted(c.claim_id for c in finished)
    assert len(pages[0].cases) == 1
    assert pages[0].cursor is not None
    assert pages[0].cursor.startswith("query1:1:")
    for case in cases:
        assert case.final.route is Route.AUTO
        assert case.original.route is Route.AUTO
        assert case.workflow_id == f"claim-{case.case_id}"
        assert set(case.recorded_evidence) >= {"lookup_policy", "check_coverage"}
    limited = await loader.load_eval_cases(source.model_copy(update={"limit": 1}), None)
    assert len(limited.cases) == 1
    assert limited.cursor is None
    with pytest.raises(ApplicationError, match="refuses the query") as refused:
        await loader.load_eval_cases(
            EvalSource(kind=EvalSourceKind.QUERY, query="ExecutionStatus = ("), None
        )
    assert refused.value.non_retryable
    with pytest.raises(ApplicationError, match="cursor") as forged:
        await loader.load_eval_cases(source, "query1:x:AAAA")
    assert forged.value.non_retryable


def offline_loader(tmp_path: Path) -> tuple[EvalCaseLoader, SystemOfRecord]:
    """A loader for the file kinds, which never call the server."""
    records = SystemOfRecord.open(tmp_path / "r.db", PROJECT_ROOT / "examples" / "records.json")
    return EvalCaseLoader(records, cast(Client, None), encrypted_test_converter()), records


async def test_a_dataset_merges_its_records_once_and_pages_by_25(tmp_path: Path) -> None:
    """The committed dataset: 300 cases in pages of 25, its records added on the first page
    only, and the limit respected."""
    loader, records = offline_loader(tmp_path)
    assert records.policy("POL-E0001") is None
    source = EvalSource(kind=EvalSourceKind.DATASET, path=str(DATASET))
    pages = await every_page(loader, source)
    assert [len(p.cases) for p in pages] == [25] * 12
    assert records.policy("POL-E0001") is not None
    assert all(not p.skipped for p in pages)
    again = await loader.load_eval_cases(source.model_copy(update={"limit": 30}), None)
    assert len(again.cases) == 25
    assert again.cursor is not None
    last = await loader.load_eval_cases(source.model_copy(update={"limit": 30}), again.cursor)
    assert len(last.cases) == 5
    assert last.cursor is None


async def test_a_histories_folder_gives_cases_and_reasons(tmp_path: Path) -> None:
    """Exported histories (here the replay corpus) are cases; a cancelled one is a reason."""
    loader, _ = offline_loader(tmp_path)
    folder = tmp_path / "exported"
    folder.mkdir()
    for name in ("auto_approve", "edit_then_approve", "pause_interrupt_cancel"):
        shutil.copy(CORPUS / f"{name}.json", folder / f"{name}.json")
    source = EvalSource(kind=EvalSourceKind.HISTORIES, path=str(folder))
    pages = await every_page(loader, source)
    cases = [c.case_id for p in pages for c in p.cases]
    assert cases == ["REPLAY-AUTO", "REPLAY-EDIT"]
    assert [s.split(":")[0] for p in pages for s in p.skipped] == ["pause_interrupt_cancel.json"]


@pytest.mark.parametrize(
    ("kind", "path", "named"),
    [
        (EvalSourceKind.DATASET, "nowhere", "does not exist"),
        (EvalSourceKind.HISTORIES, "nowhere", "does not exist"),
        (EvalSourceKind.DATASET, None, "needs a path"),
    ],
)
async def test_a_wrong_source_fails_for_good_naming_it(
    tmp_path: Path, kind: EvalSourceKind, path: str | None, named: str
) -> None:
    """A missing folder or file is a non-retryable failure whose message names it."""
    loader, _ = offline_loader(tmp_path)
    where = str(tmp_path / path) if path else None
    with pytest.raises(ApplicationError, match=named) as refused:
        await loader.load_eval_cases(EvalSource(kind=kind, path=where), None)
    assert refused.value.non_retryable
    if where:
        assert where in str(refused.value)
