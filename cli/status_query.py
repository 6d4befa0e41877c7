"""The list queries behind `claims status` and `claims inbox`: search attributes only.

Every filter is a condition on a search attribute or the execution status, so one
visibility query answers it for ten claims or ten thousand; no workflow is queried.
Values are quoted for the query language, and a value that cannot be quoted safely is
refused, never pasted in.

Search attributes say where a claim's workflow code last put it. A run terminated, timed
out or failed outside that code keeps them as they were, so a claim "waiting" is one
whose run is still running; a run that continued as new is an earlier chapter of a
claim whose current run is listed on its own, and is never listed.

A rollback (a Temporal reset) starts a new run under the same workflow id and ends the
one it replaced, so a list query can return two runs of one claim. `current_runs` keeps
the claim's current run only: one row per claim, and a claim is shown where it is now,
never where a replaced run left it. What-if reruns (`ClaimWhatIfWorkflow`) are listed
only when asked for, and always as dry runs.

A listing is one page (`PageCursor`): ten thousand open claims are not printed, nor
listed, at once. The first page comes from one list request; a note says how many match
in all (one count request) and gives the token that starts the next page.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from runtime.errors import UserFacingError
from runtime.settings import WORKFLOW_TYPE
from workflows import search_attributes as sa
from workflows.state import Step

WHAT_IF_WORKFLOW_TYPE = "ClaimWhatIfWorkflow"
# Memo key a start may carry the claim's currency in; list results include memos.
CURRENCY_MEMO = "currency"
RUNNING = "ExecutionStatus = 'Running'"
NOT_CONTINUED = "ExecutionStatus != 'ContinuedAsNew'"

# Runs that ended without the workflow's own say: their step is where they were stopped.
_ENDED_ABNORMALLY = {
    WorkflowExecutionStatus.TERMINATED: "terminated",
    WorkflowExecutionStatus.CANCELED: "cancelled",
    WorkflowExecutionStatus.FAILED: "failed",
    WorkflowExecutionStatus.TIMED_OUT: "timed out",
}

# Quotes and backslashes would end or escape a literal; control characters have no place
# in a name. Temporal's query language has no escaping every server agrees on, so refuse.
_UNQUOTABLE = re.compile(r"['\"\\\x00-\x1f\x7f]")


def quote(value: str, what: str) -> str:
    """`value` as a single-quoted literal of the list query language."""
    if _UNQUOTABLE.search(value):
        raise UserFacingError(
            f"{what} {value!r} contains a quote, backslash or control character, which a "
            "list query cannot carry safely; give the name without them"
        )
    return f"'{value}'"


def parse_step(value: str) -> Step:
    """The step to search for; the agent loop's steps are all searchable as `assessing`."""
    try:
        step = Step(value.strip().lower())
    except ValueError:
        valid = ", ".join(step.value for step in Step)
        raise UserFacingError(f"unknown step {value!r}; use one of: {valid}") from None
    return Step.ASSESSING if step in sa.AGENT_LOOP_STEPS else step


def rfc3339(at: datetime) -> str:
    """UTC, to the second, as the query language compares Datetime attributes."""
    if at.tzinfo is None:
        raise ValueError("a query timestamp must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claims_query(
    *,
    step: str | None = None,
    assignee: str | None = None,
    overdue: bool = False,
    running_only: bool = False,
    what_ifs: bool = False,
    now: datetime | None = None,
) -> str:
    """The visibility query for the filters given; all of them must hold.

    With `what_ifs`, dry-run reruns are listed too, under the same filters.
    """
    at_step = parse_step(step) if step is not None else None
    # A claim is at a step other than a final one, waiting on someone, or overdue only
    # while its run runs: a terminated claim keeps the step and deadline it was stopped at.
    live = (
        running_only
        or overdue
        or assignee is not None
        or (at_step is not None and not at_step.is_final)
    )
    types = (
        f"WorkflowType IN ({quote(WORKFLOW_TYPE, 'workflow type')}, "
        f"{quote(WHAT_IF_WORKFLOW_TYPE, 'workflow type')})"
        if what_ifs
        else f"WorkflowType = {quote(WORKFLOW_TYPE, 'workflow type')}"
    )
    conditions = [types, RUNNING if live else NOT_CONTINUED]
    if at_step is not None:
        conditions.append(f"{sa.CLAIM_STEP.name} = {quote(at_step.value, 'step')}")
    if assignee is not None:
        name = assignee.strip()
        if not name:
            raise UserFacingError("--assignee needs a name, such as maria or approvers")
        conditions.append(f"{sa.ASSIGNEE.name} = {quote(name, 'assignee')}")
    if overdue:
        moment = rfc3339(now or datetime.now(UTC))
        conditions.append(f"{sa.AWAITING_HUMAN.name} = true")
        conditions.append(f"{sa.CLAIM_DEADLINE.name} < '{moment}'")
    return " AND ".join(conditions)


def inbox_query(names: Sequence[str]) -> str:
    """Running claims that wait on a person for one of `names` (a person and their queues)."""
    cleaned = [name.strip() for name in names if name.strip()]
    if not cleaned:
        raise UserFacingError("the inbox needs a person's name, such as --as maria")
    listed = ", ".join(quote(name, "name") for name in cleaned)
    return (
        f"WorkflowType = {quote(WORKFLOW_TYPE, 'workflow type')} AND {RUNNING} "
        f"AND {sa.AWAITING_HUMAN.name} = true AND {sa.ASSIGNEE.name} IN ({listed})"
    )


def step_shown(step: str, status: WorkflowExecutionStatus | None) -> str:
    """The step, with how the run ended when it ended without the workflow's own say.

    `awaiting_manager_approval (terminated)`: the claim no longer waits on anyone.
    """
    ended = _ENDED_ABNORMALLY.get(status) if status is not None else None
    if ended is None or (status is WorkflowExecutionStatus.CANCELED and step == Step.CANCELLED):
        return step
    return f"{step} ({ended})" if step else ended


def describe_filters(
    *,
    step: str | None,
    assignee: str | None,
    overdue: bool,
    running_only: bool,
    what_ifs: bool = False,
) -> str:
    """The filters in words, for titles and for 'nothing matches'."""
    parts = ["with what-if dry runs"] if what_ifs else []
    if running_only and not overdue:
        parts.append("running")
    if step is not None:
        parts.append(f"at step {parse_step(step).value}")
    if assignee is not None:
        parts.append(f"waiting on {assignee.strip()}")
    if overdue:
        parts.append("overdue")
    return ", ".join(parts)


async def matching_count(client: Client, query: str) -> int | None:
    """How many claims match, by one count query; None where the server cannot count."""
    try:
        return (await client.count_workflows(query)).count
    except RPCError:
        return None


@dataclass(frozen=True)
class ListedRun:
    """A listed run that is its claim's current one, with the claim's currency if known."""

    execution: WorkflowExecution
    currency: str


# Describing runs at once, but not so many that a long listing floods the server.
_DESCRIBE_AT_ONCE = 8
# "Claim CLM-1002: 1,250.00 USD expense", the summary every review starts with.
_SUMMARY_CURRENCY = re.compile(r"^Claim \S+: [\d,]+(?:\.\d+)? ([A-Z]{3})\b")


async def current_runs(client: Client, executions: Sequence[WorkflowExecution]) -> list[ListedRun]:
    """One entry per claim: the listed run that is the claim's current run, in list order.

    A running run is always its claim's current run. A closed one may have been replaced
    by a rollback: the claim's latest run (by describe) says which, and a claim whose
    current run is not among the listed (it no longer matches the filters) is left out.
    The currency comes from the run's memo, else from the summary the review started with.
    """
    by_id: dict[str, list[WorkflowExecution]] = {}
    for execution in executions:
        by_id.setdefault(execution.id, []).append(execution)
    gate = asyncio.Semaphore(_DESCRIBE_AT_ONCE)

    async def pick(runs: list[WorkflowExecution]) -> ListedRun | None:
        running = [r for r in runs if r.status is WorkflowExecutionStatus.RUNNING]
        memo = await _memo_currency(running[0] if running else runs[0])
        if running and memo:
            return ListedRun(running[0], memo)
        async with gate:
            try:
                latest = await client.get_workflow_handle(runs[0].id).describe()
            except RPCError:
                return ListedRun((running or runs)[0], memo)
            summary = await latest.static_summary() or ""
        current = next((r for r in runs if r.run_id == latest.run_id), None)
        if current is None:
            return None
        found = _SUMMARY_CURRENCY.match(summary)
        return ListedRun(current, memo or (found.group(1) if found else ""))

    picked = await asyncio.gather(*(pick(runs) for runs in by_id.values()))
    return [run for run in picked if run is not None]


async def _memo_currency(execution: WorkflowExecution) -> str:
    try:
        value = await execution.memo_value(CURRENCY_MEMO, default="")
    # A memo we cannot decode (a key no longer in the ring) is a memo we do without.
    except Exception:
        return ""
    return value if isinstance(value, str) else ""


# Claims on one page of `claims status` and `claims inbox`: a terminal's worth, at once.
PAGE_SIZE = 50
# The most executions Temporal returns for one list request (its default limit).
MAX_PAGE_SIZE = 1000
# "120.<server token>": how many runs came before the page, then Temporal's own token.
_OFFSET_END = "."


@dataclass
class PageCursor:
    """One page of a listing: how many runs, where it starts and, once listed, where the
    next one starts (`next_token`, None on the last page).

    `offset` counts the runs of the pages before, so a page can say which claims it shows
    ("51 to 100 of 10,000"); Temporal's token says where its list request resumes.
    """

    size: int = PAGE_SIZE
    offset: int = 0
    server_token: bytes | None = None
    next_token: str | None = None

    @classmethod
    def from_options(cls, size: int, token: str | None) -> PageCursor:
        """The page `--limit` and `--page-token` ask for; either one wrong is refused."""
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise UserFacingError(
                f"--limit {size} is out of range; give a page size from 1 to {MAX_PAGE_SIZE}"
            )
        if token is None:
            return cls(size)
        offset, server_token = parse_page_token(token)
        return cls(size, offset, server_token)


def page_token(offset: int, server_token: bytes) -> str:
    """The token a person passes back with --page-token: printable, one word."""
    encoded = base64.urlsafe_b64encode(server_token).decode("ascii").rstrip("=")
    return f"{offset}{_OFFSET_END}{encoded}"


def parse_page_token(token: str) -> tuple[int, bytes]:
    """The offset and Temporal's token in a --page-token; anything else is refused."""
    offset, _, encoded = token.strip().partition(_OFFSET_END)
    try:
        if not offset.isdigit() or not encoded:
            raise ValueError(token)
        return int(offset), base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (ValueError, binascii.Error):
        raise UserFacingError(
            "this --page-token is not one a listing printed; copy it whole from the note "
            "under the previous page, or leave it out to start from the first page"
        ) from None


async def list_page(client: Client, query: str, cursor: PageCursor) -> list[WorkflowExecution]:
    """One list request: the page's runs, newest first; sets `cursor.next_token`."""
    iterator = client.list_workflows(
        query, page_size=cursor.size, next_page_token=cursor.server_token
    )
    try:
        await iterator.fetch_next_page()
    except RPCError as error:
        if cursor.server_token is None or error.status is not RPCStatusCode.INVALID_ARGUMENT:
            raise
        raise UserFacingError(
            "Temporal did not accept this --page-token; a token only continues the listing "
            "that printed it, with the same filters: run that command again, or leave the "
            "token out to start from the first page"
        ) from None
    executions = list(iterator.current_page or [])
    following = iterator.next_page_token
    cursor.next_token = (
        page_token(cursor.offset + len(executions), following) if following and executions else None
    )
    return executions


def page_note(cursor: PageCursor, shown: int, total: int | None) -> list[str]:
    """What to say under a page: which claims it shows of how many, and how to go on.

    Nothing for a first page that holds every match. `total` None: the server could not
    count. The token goes on a line of its own, whole, to be copied.
    """
    if cursor.next_token is None and cursor.offset == 0:
        return []
    of = f" of {total:,}" if total is not None else ""
    if shown == 0:
        return [f"No claims after the first {cursor.offset:,}{of}; that page was the last."]
    where = f"Showing claims {cursor.offset + 1:,} to {cursor.offset + shown:,}{of}"
    if cursor.next_token is None:
        return [f"{where}; this is the last page."]
    return [
        f"{where}. For the next {cursor.size}, run the same command with",
        f"  --page-token {cursor.next_token}",
    ]


# Where a claim waits on people: what the hourly watch-list re-screen reads.
RESCREENED_STEPS = (Step.AWAITING_MANAGER_APPROVAL, Step.AWAITING_DOCUMENTS)


def rescreen_query() -> str:
    """Running claims waiting for a decision or for documents: what the re-screen reads."""
    steps = ", ".join(quote(step.value, "step") for step in RESCREENED_STEPS)
    return f"{claims_query(running_only=True)} AND {sa.CLAIM_STEP.name} IN ({steps})"
