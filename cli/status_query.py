"""The list query behind `claims status`: filters over search attributes only.

Every filter is a condition on a search attribute, so one visibility query answers it for
ten claims or ten thousand; no workflow is queried. Values are quoted for the query
language, and a value that cannot be quoted safely is refused, never pasted in.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from temporalio.client import Client
from temporalio.service import RPCError

from runtime.errors import UserFacingError
from runtime.settings import WORKFLOW_TYPE
from workflows import search_attributes as sa
from workflows.state import Step

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
    now: datetime | None = None,
) -> str:
    """The visibility query for the filters given; all of them must hold."""
    conditions = [f"WorkflowType = {quote(WORKFLOW_TYPE, 'workflow type')}"]
    if running_only or overdue:
        # A claim terminated while it waited keeps its last deadline; it is not overdue.
        conditions.append("ExecutionStatus = 'Running'")
    if step is not None:
        conditions.append(f"{sa.CLAIM_STEP.name} = {quote(parse_step(step).value, 'step')}")
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


def describe_filters(
    *, step: str | None, assignee: str | None, overdue: bool, running_only: bool
) -> str:
    """The filters in words, for titles and for 'nothing matches'."""
    parts = []
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
