"""The activity that feeds an evaluation its cases, a page at a time.

Cases come from a dataset (a folder with cases.jsonl and records.json, or one .jsonl
file), a folder of exported histories, or a list query over finished reviews on the
server. Each page holds at most PAGE_SIZE cases, a few KB each, far below Temporal's
2 MB payload limit; its cursor says where the next page starts, so an evaluation that
restarts asks for the page it had not finished, not the whole source again.

The first page of a dataset also adds the dataset's records (policies, earlier claims,
watch-list entries) to the system of record, leaving what is there as it is: loading
pays no one and notifies no one, and loading twice adds nothing.

A problem with the source itself (no such folder, an unreadable file, a query the server
refuses) fails the activity for good, with a message that names the path or the query.
A problem with one entry of the source is a line of the page's `skipped`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.records import SystemOfRecord
from evaluation.dataset import (
    DatasetCursor,
    DatasetError,
    dataset_files,
    read_page,
    read_records,
)
from evaluation.from_history import HistoriesFolderError, case_from_history, cases_from_folder
from history.decoding import decode_history
from runtime.errors import UserFacingError
from runtime.logs import get_logger
from runtime.settings import WORKFLOW_TYPE
from runtime.text import printable
from workflows.evaluation import EvalCase, EvalCasePage, EvalSource, EvalSourceKind

# Cases per page: 25 claims of a few KB each, with their recorded evidence.
PAGE_SIZE = 25
# Only finished reviews are cases; a query narrows them further.
FINISHED_REVIEWS = f"WorkflowType = '{WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'"
SOURCE_ERROR = "EvalSourceError"
_HISTORIES_CURSOR = "histories1"
_QUERY_CURSOR = "query1"

log = get_logger(__name__)


def source_error(message: str) -> ApplicationError:
    """A failure of the source itself: retrying cannot help, so it is not retried."""
    return ApplicationError(printable(message), type=SOURCE_ERROR, non_retryable=True)


def _bad_cursor(kind: str) -> ApplicationError:
    return source_error(
        f"the {kind} cursor is not one a page of this source ended with; start the evaluation again"
    )


def _path(source: EvalSource) -> Path:
    if not source.path:
        raise source_error(f"a {source.kind} source needs a path; give the folder or file")
    return Path(source.path)


class EvalCaseLoader:
    """Reads cases for the evaluation workflow from any of the three kinds of source."""

    def __init__(self, records: SystemOfRecord, client: Client, converter: DataConverter) -> None:
        self._records = records
        self._client = client
        self._converter = converter

    @activity.defn(name="load_eval_cases")
    async def load_eval_cases(self, source: EvalSource, cursor: str | None) -> EvalCasePage:
        """The page of cases that starts at `cursor` (None: the first page)."""
        try:
            if source.kind is EvalSourceKind.DATASET:
                page = await self._dataset_page(source, cursor)
            elif source.kind is EvalSourceKind.HISTORIES:
                page = await self._histories_page(source, cursor)
            else:
                page = await self._query_page(source, cursor)
        except (DatasetError, HistoriesFolderError) as error:
            raise source_error(str(error)) from None
        log.info(
            "eval cases loaded",
            kind=str(source.kind),
            cases=len(page.cases),
            skipped=len(page.skipped),
            last_page=page.cursor is None,
        )
        return page

    async def _dataset_page(self, source: EvalSource, cursor: str | None) -> EvalCasePage:
        files = dataset_files(_path(source))
        if cursor is None:
            if files.records is not None:
                records = await asyncio.to_thread(read_records, files.records)
                added = await asyncio.to_thread(self._records.add_records, records)
                log.info("eval dataset records merged", rows_added=added)
            at = None
        else:
            at = DatasetCursor.decode(cursor)
        page = await asyncio.to_thread(
            read_page, files.cases, at, page_size=PAGE_SIZE, limit=source.limit
        )
        return EvalCasePage(
            cases=page.cases,
            cursor=page.cursor.encode() if page.cursor is not None else None,
            skipped=page.skipped,
        )

    async def _histories_page(self, source: EvalSource, cursor: str | None) -> EvalCasePage:
        start, taken = _counts(cursor, _HISTORIES_CURSOR, "histories")
        cases, skipped, following = await cases_from_folder(
            _path(source), self._converter, start=start, count=min(PAGE_SIZE, source.limit - taken)
        )
        taken += len(cases)
        done = following is None or taken >= source.limit
        return EvalCasePage(
            cases=cases,
            cursor=None if done else f"{_HISTORIES_CURSOR}:{following}:{taken}",
            skipped=skipped,
        )

    async def _query_page(self, source: EvalSource, cursor: str | None) -> EvalCasePage:
        query = (source.query or "").strip()
        taken, token = 0, None
        if cursor is not None:
            taken, token = _query_cursor(cursor)
        full = f"{FINISHED_REVIEWS} AND ({query})" if query else FINISHED_REVIEWS
        executions = self._client.list_workflows(
            full, page_size=min(PAGE_SIZE, source.limit - taken), next_page_token=token
        )
        try:
            await executions.fetch_next_page()
        except RPCError as error:
            if error.status in (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.UNIMPLEMENTED):
                raise source_error(
                    f"the server refuses the query {query!r} ({error.message}); write it as "
                    "a Temporal list filter, such as ExecutionStatus='Completed' AND "
                    "StartTime > '2026-11-01T00:00:00Z'"
                ) from None
            raise
        cases: list[EvalCase] = []
        skipped: list[str] = []
        for execution in executions.current_page or []:
            if execution.workflow_type != WORKFLOW_TYPE or taken >= source.limit:
                continue
            found = await self._case_of(execution.id, execution.run_id)
            if isinstance(found, str):
                skipped.append(f"{printable(execution.id)}: {found}")
            else:
                cases.append(found)
                taken += 1
        following = executions.next_page_token
        more = following is not None and following != b"" and taken < source.limit
        return EvalCasePage(
            cases=cases,
            cursor=_encode_query_cursor(taken, following) if more and following else None,
            skipped=skipped,
        )

    async def _case_of(self, workflow_id: str, run_id: str) -> EvalCase | str:
        """The case of one finished run on the server, or why it is none."""
        handle = self._client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            history = await decode_history(await handle.fetch_history(), self._converter)
        except RPCError as error:
            if error.status is RPCStatusCode.NOT_FOUND:
                return "its history is gone (past the namespace's retention period)"
            raise
        except UserFacingError as error:
            return printable(str(error))  # a payload whose key the ring does not hold
        return case_from_history(history)


def _counts(cursor: str | None, prefix: str, kind: str) -> tuple[int, int]:
    if cursor is None:
        return 0, 0
    try:
        name, start, taken = cursor.split(":")
        numbers = int(start), int(taken)
    except ValueError:
        raise _bad_cursor(kind) from None
    if name != prefix or min(numbers) < 0:
        raise _bad_cursor(kind)
    return numbers


def _encode_query_cursor(taken: int, token: bytes) -> str:
    return f"{_QUERY_CURSOR}:{taken}:{base64.urlsafe_b64encode(token).decode('ascii')}"


def _query_cursor(cursor: str) -> tuple[int, bytes]:
    try:
        name, taken, token = cursor.split(":")
        numbers = int(taken)
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise _bad_cursor("query") from None
    if name != _QUERY_CURSOR or numbers < 0 or not raw:
        raise _bad_cursor("query")
    return numbers, raw
