"""Starts claim reviews from JSON files, refusing any claim that is not valid.

Every file is validated before anything starts, so a batch with one bad claim starts
nothing and names the file, the field and the reason. Files are untrusted: too big, not
UTF-8, nested too deep or not a JSON object are each refused the same way, never with a
traceback. A claim already under review (or already reviewed) is reported, never started
twice; a review that failed or was terminated can be started again.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.process_exit import run_and_exit
from runtime.settings import Settings
from runtime.text import printable
from workflows import search_attributes as sa
from workflows.claim import Claim, money
from workflows.claim_review import ClaimReviewWorkflow

# A claim is a few kilobytes; the largest accepted leaves ample room under Temporal's
# payload limit, so an oversized claim is refused here, naming the file, not by gRPC.
MAX_CLAIM_FILE_BYTES = 256 * 1024
# A claim's JSON is three levels deep; anything far deeper is not a claim.
MAX_JSON_DEPTH = 16
FILE = "(file)"
CLAIM = "(claim)"


@dataclass(frozen=True)
class ClaimProblem:
    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        field, reason = _clip(self.field, 80), _clip(self.reason, 300)
        return printable(f"{self.file}: {field}: {reason}")


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters: a refusal may quote the input it refuses."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _RefusedError(ValueError):
    """A problem found while decoding, before the claim model sees the data."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """An object; a key given twice is refused, not silently the last one."""
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise _RefusedError(key, "given more than once in the same object; keep one")
        data[key] = value
    return data


def _no_constant(name: str) -> object:
    raise _RefusedError(FILE, f"{name} is not a JSON number")


def _check_shape(data: object) -> None:
    """Refuse nesting past MAX_JSON_DEPTH and strings no encoder can write (lone surrogates)."""
    pending: list[tuple[object, tuple[str, ...]]] = [(data, ())]
    while pending:
        value, where = pending.pop()
        if len(where) > MAX_JSON_DEPTH:
            raise _RefusedError(
                ".".join(where[:MAX_JSON_DEPTH]) + ".…",
                f"nested deeper than {MAX_JSON_DEPTH} levels; a claim is not",
            )
        if isinstance(value, dict):
            pending.extend((v, (*where, str(k))) for k, v in value.items())
            for key in value:
                _check_text(str(key), where or (CLAIM,))
        elif isinstance(value, list):
            pending.extend((v, (*where, str(n))) for n, v in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, where or (CLAIM,))


def _check_text(text: str, where: tuple[str, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _RefusedError(
            ".".join(where), f"holds an unpaired surrogate (\\u{ord(text[error.start]):04x})"
        ) from None


_JSON_KINDS: dict[type, str] = {
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
}


def _decode_json(text: str) -> object:
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as error:
        raise _RefusedError(FILE, f"malformed JSON at line {error.lineno}: {error.msg}") from None
    except RecursionError:
        raise _RefusedError(
            FILE, "nested too deeply to read; a claim is a shallow JSON object"
        ) from None
    except _RefusedError:
        raise
    except ValueError as error:
        # Integers of more digits than Python converts, and the like.
        raise _RefusedError(FILE, f"not a readable JSON value: {error}") from None
    _check_shape(data)
    if not isinstance(data, dict):
        kind = _JSON_KINDS.get(type(data), "a single value")
        raise _RefusedError(CLAIM, f"a claim is a JSON object ({{...}}), not {kind}")
    return data


class InvalidClaimsError(UserFacingError):
    def __init__(self, problems: list[ClaimProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        found = (
            "a claim file has a problem, so no claim was started; fix it and try again:"
            if len(problems) == 1
            else f"the claim files have {len(problems)} problems, so no claim was started; "
            "fix them and try again:"
        )
        super().__init__(f"{found}\n{lines}")


def validate_claim_json(text: str, source: Path) -> Claim | list[ClaimProblem]:
    """The claim in `text`, or every problem with it, each naming its field."""
    try:
        data = _decode_json(text)
    except _RefusedError as refused:
        return [ClaimProblem(source, refused.field, refused.reason)]
    try:
        return Claim.model_validate(data)
    except ValidationError as error:
        return [
            ClaimProblem(
                source,
                ".".join(str(part) for part in e["loc"]) or CLAIM,
                "required field is missing" if e["type"] == "missing" else e["msg"],
            )
            for e in error.errors(include_url=False)
        ]
    except RecursionError:
        return [ClaimProblem(source, CLAIM, "nested too deeply to check")]


def read_claim_file(path: Path) -> str | ClaimProblem:
    """The text of a claim file, or why it cannot be one: checked before it is read whole."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return ClaimProblem(path, FILE, "is a directory; name the claim files in it")
        if not stat.S_ISREG(info.st_mode):
            return ClaimProblem(path, FILE, "is not a regular file; save the claim to a file")
        if info.st_size > MAX_CLAIM_FILE_BYTES:
            return _too_big(path, info.st_size)
        with path.open("rb") as file:
            # The file may have grown since stat; never read more than the limit allows.
            raw = file.read(MAX_CLAIM_FILE_BYTES + 1)
    except OSError as error:
        return ClaimProblem(path, FILE, f"cannot read: {error.strerror or error}")
    if len(raw) > MAX_CLAIM_FILE_BYTES:
        return _too_big(path, len(raw))
    try:
        # utf-8-sig: a byte-order mark, as some editors write, is not an error.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return ClaimProblem(path, FILE, f"not UTF-8 text at byte {error.start}; save it as UTF-8")


def _too_big(path: Path, size: int) -> ClaimProblem:
    return ClaimProblem(
        path,
        FILE,
        f"{size:,} bytes is more than a claim may hold ({MAX_CLAIM_FILE_BYTES:,} bytes); "
        "attach large documents by reference (uri), not inline",
    )


def load_claims(paths: list[Path]) -> list[Claim]:
    """Every claim in `paths`, or InvalidClaimsError listing every problem in every file."""
    claims: list[Claim] = []
    problems: list[ClaimProblem] = []
    seen: dict[str, Path] = {}
    for path in paths:
        text = read_claim_file(path)
        if isinstance(text, ClaimProblem):
            problems.append(text)
            continue
        result = validate_claim_json(text, path)
        if isinstance(result, list):
            problems.extend(result)
        elif result.claim_id in seen:
            problems.append(
                ClaimProblem(
                    path, "claim_id", f"{result.claim_id} is also in {seen[result.claim_id]}"
                )
            )
        else:
            seen[result.claim_id] = path
            claims.append(result)
    if problems:
        raise InvalidClaimsError(problems)
    return claims


class StartStatus(StrEnum):
    STARTED = "started"
    ALREADY_UNDER_REVIEW = "already under review"
    ALREADY_REVIEWED = "already reviewed"
    # A review that ended without a decision (failed, terminated, timed out) is started
    # again; this says one could not be, for the rare race that finds it so.
    ENDED_NOT_RESTARTED = "review ended without a decision and could not be started again"


@dataclass(frozen=True)
class StartResult:
    claim: Claim
    status: StartStatus


async def start_claim(client: Client, claim: Claim, task_queue: str) -> StartResult:
    """Start the review of `claim`, unless one is running or one completed.

    A review that failed or was terminated (a bad approvers file, an operator's terminate)
    decided nothing, so the claim may be started again; a completed one may not.
    """
    try:
        await client.start_workflow(
            ClaimReviewWorkflow.run,
            claim,
            id=claim.workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CLAIM_STEP, "intake"),
                    SearchAttributePair(sa.CLAIM_AMOUNT, float(claim.amount)),
                    SearchAttributePair(sa.AWAITING_HUMAN, False),
                ]
            ),
            # Shown by the UI before decoding too: the claim id, amount and kind, never a name.
            static_summary=f"Claim {claim.claim_id}: {money(claim.amount)} {claim.currency} "
            f"{claim.category}",
            # Read by `claims status` with the list, so amounts show their currency at once.
            memo={"currency": claim.currency},
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(claim.workflow_id).describe()
        return StartResult(claim, _not_started(description.status))
    return StartResult(claim, StartStatus.STARTED)


def _not_started(status: WorkflowExecutionStatus | None) -> StartStatus:
    if status in (WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW):
        return StartStatus.ALREADY_UNDER_REVIEW
    if status == WorkflowExecutionStatus.COMPLETED:
        return StartStatus.ALREADY_REVIEWED
    return StartStatus.ENDED_NOT_RESTARTED


async def start_claims(client: Client, claims: list[Claim], task_queue: str) -> list[StartResult]:
    return list(await asyncio.gather(*(start_claim(client, c, task_queue) for c in claims)))


async def _main(paths: list[Path]) -> None:
    claims = load_claims(paths)
    client = await build_client()
    for result in await start_claims(client, claims, Settings.from_env().task_queue):
        print(printable(f"{result.claim.workflow_id}: {result.status}"))


def main() -> None:
    run_and_exit(_start_from_arguments)


def _start_from_arguments() -> None:
    if len(sys.argv) < 2:
        print("usage: python starter.py CLAIM.json [CLAIM.json ...]", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(_main([Path(arg) for arg in sys.argv[1:]]))
    except UserFacingError as error:
        print(f"error: {printable(str(error), multiline=True)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
