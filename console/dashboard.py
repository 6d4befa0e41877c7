"""Where every claim is: counts from the list query, decisions from the claims' own states.

Counts per step, per assignee and overdue come from search attributes alone. Who decided
(the agent's rules or a person) and how long people took are read from the state of the
claims closed in the chart's window, at most `DECIDED_LIMIT` of them.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from cli.status_query import claims_query, rfc3339
from signals.client import claim_handle, current_state
from workflows import search_attributes as sa
from workflows.state import ClaimState, Step

LIST_LIMIT = 5000
DECIDED_LIMIT = 500
CHART_DAYS = 14
CONCURRENT_QUERIES = 16
BAR_AREA_HEIGHT = 120
BAR_WIDTH = 28
BAR_GAP = 8


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    shown: str  # the value in words, for the bar's text and title
    x: int
    y: int
    height: int


@dataclass(frozen=True)
class Chart:
    title: str
    unit: str
    bars: list[Bar]
    width: int
    height: int = BAR_AREA_HEIGHT + 40


@dataclass
class Dashboard:
    per_step: Counter[str] = field(default_factory=Counter)
    waiting_on: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    decided_today: int = 0
    auto_approved: int = 0
    human_decided: int = 0
    throughput: Chart | None = None
    human_wait: Chart | None = None


def bar_chart(title: str, unit: str, values: list[tuple[str, float, str]]) -> Chart:
    """Bars scaled to the largest value; coordinates for an SVG drawn by the template."""
    top = max((value for _, value, _ in values), default=0) or 1
    bars = []
    for index, (label, value, shown) in enumerate(values):
        height = round(BAR_AREA_HEIGHT * value / top)
        x = BAR_GAP + index * (BAR_WIDTH + BAR_GAP)
        bars.append(Bar(label, value, shown, x, 20 + BAR_AREA_HEIGHT - height, height))
    return Chart(title, unit, bars, width=BAR_GAP + len(values) * (BAR_WIDTH + BAR_GAP))


def human_wait(state: ClaimState) -> timedelta | None:
    """From the claim's first wait for a person to the decision; None if none was needed."""
    if state.outcome is None:
        return None
    entered = next(
        (t.at for t in state.transitions if t.to_step is Step.AWAITING_MANAGER_APPROVAL), None
    )
    return state.outcome.decided_at - entered if entered is not None else None


async def _states(client: Client, executions: list[WorkflowExecution]) -> list[ClaimState]:
    gate = asyncio.Semaphore(CONCURRENT_QUERIES)

    async def one(execution: WorkflowExecution) -> ClaimState | None:
        async with gate:
            return await current_state(claim_handle(client, execution.id.removeprefix("claim-")))

    found = await asyncio.gather(*(one(e) for e in executions[:DECIDED_LIMIT]))
    return [state for state in found if state is not None]


async def dashboard(client: Client, now: datetime) -> Dashboard:
    board = Dashboard()
    async for execution in client.list_workflows(claims_query(running_only=True), limit=LIST_LIMIT):
        attributes = execution.typed_search_attributes
        board.per_step[attributes.get(sa.CLAIM_STEP) or "starting"] += 1
        if attributes.get(sa.AWAITING_HUMAN):
            board.waiting_on[attributes.get(sa.ASSIGNEE) or "nobody named"] += 1
            deadline = attributes.get(sa.CLAIM_DEADLINE)
            if deadline is not None and deadline < now:
                board.overdue += 1
    since = (now - timedelta(days=CHART_DAYS - 1)).replace(hour=0, minute=0, second=0)
    closed_query = (
        f"{claims_query()} AND ExecutionStatus = 'Completed' AND CloseTime >= '{rfc3339(since)}'"
    )
    closed = [
        e
        async for e in client.list_workflows(closed_query, limit=DECIDED_LIMIT)
        if e.status is WorkflowExecutionStatus.COMPLETED and e.close_time is not None
    ]
    per_day: Counter[date] = Counter()
    waits: dict[date, list[float]] = {}
    for state in await _states(client, closed):
        if state.outcome is None:
            continue
        day = state.outcome.decided_at.date()
        per_day[day] += 1
        board.decided_today += day == now.date()
        routing = state.context.routing
        if routing is not None and routing.auto_approve:
            board.auto_approved += 1
        else:
            board.human_decided += 1
        waited = human_wait(state)
        if waited is not None:
            waits.setdefault(day, []).append(waited.total_seconds() / 3600)
    days = [since.date() + timedelta(days=n) for n in range(CHART_DAYS)]
    board.throughput = bar_chart(
        "Claims decided per day",
        "claims",
        [(d.strftime("%d %b"), per_day[d], str(per_day[d])) for d in days],
    )
    medians = [(d, statistics.median(waits[d]) if d in waits else 0.0) for d in days]
    board.human_wait = bar_chart(
        "Median wait for a person, per day of decision",
        "hours",
        [(d.strftime("%d %b"), m, f"{m:.1f} h") for d, m in medians],
    )
    return board
