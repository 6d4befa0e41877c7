"""A labelled dataset of decided claims: a folder with `cases.jsonl` (and `records.json`), or
one `.jsonl` file.

Each line of `cases.jsonl` is one `EvalCase` as JSON. The file is read as a stream, a page
at a time, and never trusted: a line that is not a valid case (bad JSON, a wrong field,
control characters, longer than a line may be, a case id seen before) is reported by its
line number and field and skipped; reading goes on. Only a problem with the source itself
(no such file, unreadable, larger than a dataset may be) stops the reading, as a
`DatasetError` that names the path.

A page ends with a cursor that says where the next one starts: the line and byte offset,
how many cases were taken, and short digests of the case ids seen, so a duplicate on a
later page is refused without reading the earlier pages again.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError

from activities.records import Records
from runtime.errors import UserFacingError
from runtime.text import printable
from workflows.evaluation import MAX_EVAL_CASES, EvalCase

CASES_FILE = "cases.jsonl"
RECORDS_FILE = "records.json"
# A dataset of MAX_EVAL_CASES claims of a few KB each is a few MB; far past that is a
# mistake (the wrong file), refused before any of it is read.
MAX_DATASET_BYTES = 64 * 1024 * 1024
MAX_RECORDS_BYTES = 64 * 1024 * 1024
# One claim holds at most 10,000 characters of description and 50 documents.
MAX_LINE_BYTES = 1024 * 1024
# A page of cases is one activity result: with one line of at most MAX_LINE_BYTES, below
# Temporal's 2 MB payload limit.
MAX_PAGE_BYTES = 1024 * 1024
# A page of problems stays readable and small: past this many, the rest are counted.
MAX_PROBLEMS_LISTED = 50
# Field problems named per line; a line wrong everywhere says so briefly.
_ERRORS_PER_LINE = 3
_DIGEST_BYTES = 8
_CURSOR_PREFIX = "dataset1"


class DatasetError(UserFacingError):
    """The dataset itself cannot be read: missing, unreadable, too large, or a bad cursor."""


@dataclass(frozen=True)
class DatasetFiles:
    """The files of one dataset; `records` is None when it brings no records."""

    cases: Path
    records: Path | None


def dataset_files(path: Path) -> DatasetFiles:
    """The dataset at `path`: a folder holding cases.jsonl (and maybe records.json), or
    a .jsonl file. Raises DatasetError naming the path when there is none."""
    if path.is_dir():
        cases = path / CASES_FILE
        if not cases.is_file():
            raise DatasetError(
                f"dataset folder {printable(str(path))} has no {CASES_FILE}; give a folder "
                f"with {CASES_FILE} (like examples/eval) or a .jsonl file"
            )
        records = path / RECORDS_FILE
        return DatasetFiles(cases, records if records.is_file() else None)
    if path.is_file():
        return DatasetFiles(path, None)
    raise DatasetError(
        f"dataset {printable(str(path))} does not exist; give a folder with {CASES_FILE} "
        "(like examples/eval) or a .jsonl file"
    )


def read_records(path: Path) -> Records:
    """The records a dataset's cases were decided against (policies, earlier claims,
    watch-list entries). Raises DatasetError naming the file when it is not usable."""
    name = printable(str(path))
    try:
        size = path.stat().st_size
        if size > MAX_RECORDS_BYTES:
            raise DatasetError(
                f"records file {name} is {size:,} bytes, more than the "
                f"{MAX_RECORDS_BYTES:,} a dataset's records may be"
            )
        data = path.read_bytes()
    except OSError as error:
        raise DatasetError(
            f"records file {name} cannot be read ({error.strerror or error}); check that it "
            "exists and is readable"
        ) from None
    try:
        return Records.model_validate_json(data)
    except ValidationError as error:
        raise DatasetError(f"records file {name} is not valid: {_problems(error)}") from None


@dataclass(frozen=True)
class DatasetCursor:
    """Where the next page starts, and what the pages before it saw."""

    line: int = 0
    offset: int = 0
    taken: int = 0
    seen: frozenset[bytes] = frozenset()

    def encode(self) -> str:
        digests = base64.urlsafe_b64encode(b"".join(sorted(self.seen))).decode("ascii")
        return f"{_CURSOR_PREFIX}:{self.line}:{self.offset}:{self.taken}:{digests}"

    @classmethod
    def decode(cls, text: str) -> DatasetCursor:
        """The cursor a page ended with; raises DatasetError for anything else."""
        try:
            prefix, line, offset, taken, digests = text.split(":")
            if prefix != _CURSOR_PREFIX:
                raise ValueError(prefix)
            raw = base64.urlsafe_b64decode(digests.encode("ascii"))
            if len(raw) % _DIGEST_BYTES:
                raise ValueError("digests")
            seen = frozenset(raw[i : i + _DIGEST_BYTES] for i in range(0, len(raw), _DIGEST_BYTES))
            cursor = cls(int(line), int(offset), int(taken), seen)
        except (ValueError, binascii.Error, UnicodeEncodeError):
            raise DatasetError(
                "the dataset cursor is not one a page of this dataset ended with; start the "
                "reading again from the first page"
            ) from None
        if min(cursor.line, cursor.offset, cursor.taken) < 0:
            raise DatasetError("the dataset cursor is negative; start again from the first page")
        return cursor


@dataclass
class DatasetPage:
    """Cases read, lines skipped (with why), and the cursor of the next page (None: done)."""

    cases: list[EvalCase] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    cursor: DatasetCursor | None = None


def _digest(case_id: str) -> bytes:
    return hashlib.blake2b(case_id.encode("utf-8"), digest_size=_DIGEST_BYTES).digest()


def _problems(error: ValidationError) -> str:
    """Field problems as people read them: `claim.amount: Input should be greater than 0`."""
    errors = error.errors(include_url=False, include_input=False)
    shown = [
        f"{'.'.join(str(part) for part in e['loc']) or '(line)'}: {e['msg']}"
        for e in errors[:_ERRORS_PER_LINE]
    ]
    if len(errors) > _ERRORS_PER_LINE:
        shown.append(f"and {len(errors) - _ERRORS_PER_LINE} more problems")
    return printable("; ".join(shown))


_END = b""


def _next_line(stream: BinaryIO) -> bytes | None:
    """The next line; b"" at the end of the file, None for a line too long (skipped over
    to its end without holding it)."""
    text = stream.readline(MAX_LINE_BYTES + 1)
    if len(text) > MAX_LINE_BYTES and not text.endswith(b"\n"):
        rest = text
        # Read past the rest of the line a piece at a time, keeping none of it.
        while rest and not rest.endswith(b"\n"):
            rest = stream.readline(MAX_LINE_BYTES)
        return None
    return text


def check_size(path: Path) -> int:
    """The file's size; raises DatasetError naming it when it cannot be read or is too big."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DatasetError(
            f"dataset file {printable(str(path))} cannot be read ({error.strerror or error})"
        ) from None
    if size > MAX_DATASET_BYTES:
        raise DatasetError(
            f"dataset file {printable(str(path))} is {size:,} bytes, more than the "
            f"{MAX_DATASET_BYTES:,} a dataset may be; split it, or check it is the right file"
        )
    return size


def read_page(
    path: Path,
    cursor: DatasetCursor | None = None,
    *,
    page_size: int = 25,
    limit: int = MAX_EVAL_CASES,
    page_max_bytes: int = MAX_PAGE_BYTES,
) -> DatasetPage:
    """Up to `page_size` cases from `cursor` on, stopping after `limit` cases in all.

    A page also ends before its cases' lines would pass `page_max_bytes` (one case at
    least), so a page of long cases is still one payload Temporal stores.

    Never raises on the file's content: each unusable line is a problem in `skipped`. The
    next page's cursor is None once the file or the limit is reached.
    """
    cursor = cursor or DatasetCursor()
    size = check_size(path)
    name = path.name
    page = DatasetPage()
    seen = set(cursor.seen)
    taken = cursor.taken
    line, offset = cursor.line, cursor.offset
    not_listed = 0
    page_bytes = 0
    if offset > size:
        raise DatasetError(
            f"dataset file {printable(str(path))} is shorter than when its reading began; "
            "start the evaluation again"
        )
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            while taken < limit and len(page.cases) < page_size:
                text = _next_line(stream)
                if text == _END:
                    return _finish(page, not_listed, name, None)
                if page.cases and text is not None and page_bytes + len(text) > page_max_bytes:
                    break  # this line starts the next page
                line, offset = line + 1, stream.tell()
                problem, case = _read_line(text, seen)
                if case is not None:
                    page_bytes += len(text or b"")
                    page.cases.append(case)
                    seen.add(_digest(case.case_id))
                    taken += 1
                elif problem is None:
                    continue
                elif len(page.skipped) < MAX_PROBLEMS_LISTED:
                    page.skipped.append(f"{name} line {line}: {problem}")
                else:
                    not_listed += 1
            at_end = offset >= size
    except OSError as error:
        raise DatasetError(
            f"dataset file {printable(str(path))} cannot be read ({error.strerror or error})"
        ) from None
    done = taken >= limit or at_end
    next_cursor = None if done else DatasetCursor(line, offset, taken, frozenset(seen))
    return _finish(page, not_listed, name, next_cursor)


def _finish(
    page: DatasetPage, not_listed: int, name: str, cursor: DatasetCursor | None
) -> DatasetPage:
    if not_listed:
        page.skipped.append(f"{name}: {not_listed} more lines skipped, not listed")
    page.cursor = cursor
    return page


def _read_line(text: bytes | None, seen: set[bytes]) -> tuple[str | None, EvalCase | None]:
    """(why the line is no case, None) or (None, the case); (None, None) for a blank line."""
    if text is None:
        return f"longer than {MAX_LINE_BYTES:,} bytes, which no case is", None
    if not text.strip():
        return None, None
    try:
        case = EvalCase.model_validate_json(text)
    except ValidationError as error:
        return _problems(error), None
    except (ValueError, RecursionError) as error:
        return printable(f"not a case: {str(error)[:200]}"), None
    if _digest(case.case_id) in seen:
        return (
            f"case_id: {printable(case.case_id)} is already an earlier line's case; "
            "each case id may appear once"
        ), None
    return None, case


def read_all(path: Path, limit: int = MAX_EVAL_CASES) -> tuple[list[EvalCase], list[str]]:
    """Every case of the dataset file at `path` (up to `limit`) and every line skipped."""
    cases: list[EvalCase] = []
    skipped: list[str] = []
    cursor: DatasetCursor | None = None
    while True:
        page = read_page(path, cursor, page_size=MAX_EVAL_CASES, limit=limit)
        cases.extend(page.cases)
        skipped.extend(page.skipped)
        if page.cursor is None:
            return cases, skipped
        cursor = page.cursor


def dumps_case(case: EvalCase) -> str:
    """One line of cases.jsonl: the case as compact JSON, keys in the model's order."""
    return json.dumps(json.loads(case.model_dump_json()), ensure_ascii=False, separators=(",", ":"))
