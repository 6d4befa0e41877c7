"""Rich renderings of claims for people: tables of where claims are, and one claim in full.

Almost everything shown was typed by someone outside: claimants, approvers, operators,
anyone who can send a signal. It is printed as literal, printable text only: never read
as rich markup, and with control characters shown as escapes (`runtime.text.printable`).

Below `WIDE` columns the tables drop or merge their less needed columns, so a step, a
tool name or an id is always shown whole: names never end in an ellipsis, and a cell too
long for its column folds onto the next line rather than being cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from temporalio.client import WorkflowExecution

from cli.status_query import WHAT_IF_WORKFLOW_TYPE, step_shown
from runtime.text import printable
from signals.messages import HumanAction
from workflows import search_attributes as sa
from workflows.state import AuditEntry, AuditOutcome, ClaimState, OutcomeStatus, Step

HUMAN_ACTIONS = frozenset(str(a) for a in HumanAction)

WORKFLOW_ID_PREFIX = "claim-"


# At this many columns or more every column is shown; below it, the narrow layout.
WIDE = 120
# A what-if's first transition says where it was forked from (ClaimWhatIfWorkflow).
WHAT_IF_REASON = "what-if rerun of"
DRY_RUN = "dry run"


@dataclass(frozen=True)
class ClaimRow:
    """One claim as `status` and `inbox` list it; `as_json` is the shape scripts read."""

    claim_id: str
    step: str
    amount: Decimal | None
    currency: str
    waiting_on: str
    deadline: datetime | None
    status: str
    workflow_id: str = ""
    what_if: bool = False

    @classmethod
    def from_state(cls, state: ClaimState, status: str = "Running") -> ClaimRow:
        wait = state.pending_actions[0] if state.pending_actions else None
        return cls(
            claim_id=state.context.claim.claim_id,
            step=state.current_step,
            amount=state.context.claim_amount,
            currency=state.context.currency,
            waiting_on=wait.assignee if wait else "",
            deadline=wait.timeout if wait else None,
            status=status,
            workflow_id=state.workflow_id,
            what_if=is_what_if(state),
        )

    @classmethod
    def from_execution(cls, execution: WorkflowExecution, currency: str = "") -> ClaimRow:
        attributes = execution.typed_search_attributes
        amount = attributes.get(sa.CLAIM_AMOUNT)
        status = execution.status.name.title() if execution.status else "Unknown"
        return cls(
            claim_id=execution.id.removeprefix(WORKFLOW_ID_PREFIX),
            step=step_shown(attributes.get(sa.CLAIM_STEP) or "", execution.status),
            amount=Decimal(str(amount)) if amount is not None else None,
            currency=currency,
            waiting_on=attributes.get(sa.ASSIGNEE) or "",
            deadline=attributes.get(sa.CLAIM_DEADLINE),
            status=status,
            workflow_id=execution.id,
            what_if=execution.workflow_type == WHAT_IF_WORKFLOW_TYPE,
        )

    @property
    def step_label(self) -> str:
        """The step, marked when the row is a what-if: it decided nothing about the claim."""
        return f"{self.step} ({DRY_RUN})" if self.what_if else self.step

    def as_json(self) -> dict[str, Any]:
        """The row for `--json`: amounts as exact decimal strings, times in ISO 8601 UTC."""
        return {
            "claim_id": self.claim_id,
            "workflow_id": self.workflow_id,
            "step": self.step,
            "amount": None if self.amount is None else f"{self.amount:.2f}",
            "currency": self.currency or None,
            "waiting_on": self.waiting_on or None,
            "deadline": None if self.deadline is None else self.deadline.isoformat(),
            "status": self.status,
            "what_if": self.what_if,
        }


def is_what_if(state: ClaimState) -> bool:
    """A what-if rerun's state: its first transition, written by the workflow, says so."""
    return bool(state.transitions) and state.transitions[0].reason.startswith(WHAT_IF_REASON)


def literal(text: str, style: str = "") -> Text:
    """People's text as it will be shown: printable, and never read as markup."""
    return Text(printable(text), style=style)


def _row(table: Table, *cells: str | Text) -> None:
    """Add a row of literal text: claimant and model text must never be read as markup."""
    table.add_row(*(literal(c) if isinstance(c, str) else c for c in cells))


def time_left(deadline: datetime, now: datetime | None = None) -> str:
    seconds = int((deadline - (now or datetime.now(UTC))).total_seconds())
    if seconds <= 0:
        return "overdue"
    hours, rest = divmod(seconds, 3600)
    days, hours = divmod(hours, 24)
    minutes = rest // 60
    return f"{days}d {hours}h" if days else f"{hours}h {minutes:02d}m"


def _deadline(deadline: datetime | None) -> str:
    if deadline is None:
        return ""
    return f"{deadline:%Y-%m-%d %H:%M} UTC ({time_left(deadline)})"


def _money(amount: Decimal | None, currency: str = "") -> str:
    return "" if amount is None else f"{amount:,.2f} {currency}".strip()


def claims_table(rows: list[ClaimRow], title: str = "Claims", width: int = WIDE) -> Table:
    """Claims one per row; `title` is literal text (it may hold a name or a filter).

    Narrower than `WIDE`: the deadline shows as time left and the run's status column
    goes (a step that ended abnormally already says so), so five columns fit 80.
    """
    wide = width >= WIDE
    table = Table(title=literal(title), title_justify="left")
    table.add_column("claim", overflow="fold")
    # Wide enough for awaiting_manager_approval; "(terminated)" wraps below it.
    table.add_column("step", min_width=_longest(rows, lambda r: r.step_label, cap=25))
    table.add_column("amount", justify="right", no_wrap=True)
    table.add_column("waiting on", overflow="fold")
    table.add_column("deadline" if wide else "due in", no_wrap=not wide)
    if wide:
        table.add_column("workflow")
    for row in rows:
        step_style = "yellow" if row.step == "awaiting_manager_approval" else ""
        due = _deadline(row.deadline) if wide else _time_left(row.deadline)
        cells: list[str | Text] = [
            row.claim_id,
            literal(row.step_label, step_style),
            _money(row.amount, row.currency),
            row.waiting_on,
            due,
        ]
        if wide:
            cells.append(f"{row.status} ({DRY_RUN})" if row.what_if else row.status)
        _row(table, *cells)
    return table


def _longest(rows: list[Any], text: Any, cap: int) -> int:
    """The longest word in a column, up to `cap`: the width below which a name is cut."""
    words = [word for row in rows for word in str(text(row)).split()]
    return min(max((len(w) for w in words), default=0), cap)


def _time_left(deadline: datetime | None) -> str:
    return "" if deadline is None else time_left(deadline)


def render_state(state: ClaimState, width: int = WIDE) -> Group:
    """The whole state document, in the order a reviewer asks about it.

    A what-if rerun is labelled a dry run in its title, step and outcome: it paid and
    told no one, so its header never reads like a real decision.
    """
    wide = width >= WIDE
    claim = state.context.claim
    what_if = is_what_if(state)
    header = Table.grid(padding=(0, 2))
    _row(header, "workflow", state.workflow_id)
    if what_if:
        _row(header, "run", f"what-if ({DRY_RUN}): {state.transitions[0].reason}")
    step = f"{state.current_step} ({DRY_RUN})" if what_if else state.current_step
    _row(header, "step", literal(step, "bold"))
    _row(header, "version", str(state.version))
    _row(header, "claim", f"{claim.category} · {_money(claim.amount, claim.currency)}")
    _row(header, "claimant", f"{claim.claimant.name} ({claim.claimant.id})")
    _row(header, "policy", claim.policy_number)
    docs = state.context.supporting_docs
    _row(header, "documents", ", ".join(f"{d.doc_id} {d.kind}" for d in docs) or "none")
    if state.outcome:
        _row(header, "outcome", _outcome(state, what_if))
    title = f"Claim {claim.claim_id}" + (f" · what-if ({DRY_RUN})" if what_if else "")
    parts: list[Panel | Table] = [Panel(header, title=literal(title), expand=False)]

    if len(state.runs) > 1:
        latest = state.runs[-1]
        _row(
            header,
            "runs",
            f"{len(state.runs)} (continued as new; this run holds versions "
            f"{latest.first_version} on)",
        )

    if state.pending_actions:
        parts.append(_waits(state, wide))

    ctx = state.context
    if ctx.proposal is not None and not state.current_step.is_final:
        proposal = ctx.proposal
        plan = Table.grid(padding=(0, 2))
        _row(
            plan,
            "pay",
            f"{_money(proposal.payout_amount, proposal.currency)} to {proposal.payee_id}",
        )
        _row(plan, "tell the claimant", proposal.customer_message)
        _row(plan, "revision", str(proposal.revision))
        if proposal.unverified:
            _row(
                plan,
                "unverified",
                "no tool checked what the policy pays: set the payout with `claims edit`; "
                "a second approver confirms it",
            )
        if proposal.approvals:
            _row(plan, "approved so far by", ", ".join(proposal.approvals))
        for change in proposal.edits:
            changes = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in change.changes.items())
            when = f"{change.actor} at {change.at:%Y-%m-%d %H:%M}"
            _row(plan, f"edit v{change.version}", f"{when}: {changes}")
        parts.append(Panel(plan, title="Proposed actions (approve, edit or reject)", expand=False))
    if ctx.information_requests or ctx.notes or state.paused or state.assignee:
        people = Table.grid(padding=(0, 2))
        if state.paused:
            _row(people, "paused", "yes: nothing executes until `claims resume`")
        if state.assignee:
            _row(people, "assigned to", state.assignee)
        for request in ctx.information_requests:
            status = (
                f"received {request.fulfilled_at:%Y-%m-%d %H:%M}"
                if request.fulfilled_at
                else "open"
            )
            _row(
                people,
                "asked for",
                f"{request.what} from {request.from_whom} by {request.requested_by} ({status})",
            )
        for note in ctx.notes:
            _row(people, "staff note", note)
        parts.append(Panel(people, title="People", expand=False))
    if ctx.evidence or ctx.assessment or ctx.routing:
        why = Table.grid(padding=(0, 2))
        if ctx.evidence:
            _row(why, "concerns", "; ".join(ctx.evidence.concerns) or "none")
            _row(why, "payable", _money(ctx.evidence.payable_amount, ctx.currency))
        if ctx.assessment:
            a = ctx.assessment
            _row(
                why,
                "model says",
                f"{a.recommendation} {_money(a.payout_amount, ctx.currency)} "
                f"(confidence {a.confidence:.2f})",
            )
            _row(why, "rationale", a.rationale)
            _row(why, "cited", ", ".join(a.cited_evidence))
        if ctx.routing:
            route = "auto-approve" if ctx.routing.auto_approve else "human decision"
            _row(why, "routing", f"{route}: " + ("; ".join(ctx.routing.reasons) or "all clear"))
        parts.append(Panel(why, title="Why", expand=False))

    if state.llm_state.tool_call_history:
        parts.append(_tool_calls(state, wide))
    if state.llm_state.reasoning_trace:
        parts.append(_trace(state, wide))
    parts.append(_transitions(state, wide))
    if state.audit_log:
        parts.append(_audit(state, wide))
    return Group(*parts)


def _outcome(state: ClaimState, what_if: bool) -> str:
    """How the review ended; a what-if says what it would have done, never that it did."""
    o = state.outcome
    assert o is not None
    if not what_if:
        return f"{o.status} by {o.decided_by}, payout {_money(o.payout_amount, o.currency)}"
    if o.status is OutcomeStatus.COMPLETED:
        return (
            f"would pay {_money(o.payout_amount, o.currency)} ({DRY_RUN}: decided by "
            f"{o.decided_by}; nothing was paid or sent)"
        )
    if o.status is OutcomeStatus.NEEDS_HUMAN:
        return f"would wait for a person ({DRY_RUN}): {o.reason}"
    return f"would be {o.status} by {o.decided_by} ({DRY_RUN}; nothing was sent)"


def _table(title: str, columns: list[str], fixed: dict[str, int] | None = None) -> Table:
    """A titled table whose cells fold instead of ending in an ellipsis.

    `fixed` gives columns holding names (steps, tools) the width of their longest word,
    so no name is cut at any terminal width.
    """
    table = Table(title=title, title_justify="left")
    for column in columns:
        least = (fixed or {}).get(column)
        table.add_column(column, overflow="fold", min_width=least)
    return table


def _waits(state: ClaimState, wide: bool) -> Table:
    """The pending actions; narrow terminals get one row per field instead of columns."""
    waits = state.pending_actions
    with_detail = any(w.detail for w in waits)
    if not wide:
        table = Table(title="Pending actions", title_justify="left", show_header=False)
        table.add_column("field", no_wrap=True)
        table.add_column("value", overflow="fold")
        for n, wait in enumerate(waits):
            if n:
                table.add_section()
            _row(table, "type", wait.type)
            _row(table, "assignee", _assignee(wait.assignee, wait.assignee_roles))
            _row(table, "level", str(wait.escalation_level))
            _row(table, "deadline", _deadline(wait.timeout))
            _row(table, "on timeout", wait.on_timeout)
            _row(table, "resumed by", wait.trigger)
            if wait.detail:
                _row(table, "detail", wait.detail)
        return table
    columns = ["type", "assignee", "level", "deadline", "on timeout", "resumed by"]
    # The detail says what a wait is about: what was asked for, or why the policy failed.
    table = _table("Pending actions", [*columns, "detail"] if with_detail else columns)
    for wait in waits:
        cells = [
            wait.type,
            _assignee(wait.assignee, wait.assignee_roles),
            str(wait.escalation_level),
            _deadline(wait.timeout),
            wait.on_timeout,
            wait.trigger,
        ]
        _row(table, *cells, *([wait.detail] if with_detail else []))
    return table


def _assignee(assignee: str, roles: list[str]) -> str:
    return f"{assignee} ({', '.join(roles)})" if roles else assignee


def _tool_calls(state: ClaimState, wide: bool) -> Table:
    """Tool calls; narrow: the tool name whole, the error folded into the result."""
    calls = state.llm_state.tool_call_history
    fixed = {"tool": _longest(calls, lambda c: c.name, cap=32)}
    if wide:
        table = _table("Tool calls", ["at", "tool", "arguments", "result", "ms", "error"], fixed)
    else:
        table = _table("Tool calls", ["tool", "arguments", "result"], fixed)
    for call in calls:
        arguments = ", ".join(f"{k}={v}" for k, v in call.arguments.items())
        if wide:
            _row(
                table,
                f"{call.at:%H:%M:%S}",
                call.name,
                arguments,
                call.result_summary,
                f"{call.duration_ms:.0f}",
                call.error or "",
            )
        else:
            result = literal(call.result_summary)
            if call.error:
                result = literal(f"error: {call.error}", "red")
            _row(table, call.name, arguments, result)
    return table


def _trace(state: ClaimState, wide: bool) -> Table:
    """The model turns; narrow: model, prompt and response, without timings."""
    columns = ["at", "model", "prompt", "response", "tokens", "ms", "attempt"]
    table = _table("Reasoning trace", columns if wide else ["model", "prompt", "response"])
    for step in state.llm_state.reasoning_trace:
        c = step.call
        model = c.model + (" (offline)" if c.offline else "")
        prompt = f"{c.prompt_version}: {c.prompt_summary}"
        if not wide:
            _row(table, model, prompt, c.response_summary)
            continue
        tokens = (
            f"{c.token_usage.input_tokens}+{c.token_usage.output_tokens}" if c.token_usage else ""
        )
        _row(
            table,
            f"{step.at:%H:%M:%S}",
            model,
            prompt,
            c.response_summary,
            tokens,
            f"{c.latency_ms:.0f}",
            str(c.attempt),
        )
    return table


def _transitions(state: ClaimState, wide: bool) -> Table:
    """Every change of step; narrow: the step reached only (the row above is where from)."""
    steps = max((len(s) for s in Step), default=0)
    if wide:
        columns = ["version", "at", "from", "to", "reason", "event"]
        table = _table("Transitions", columns, {"from": steps, "to": steps})
    else:
        table = _table("Transitions", ["v", "at (UTC)", "to", "reason"], {"to": steps})
    for t in state.transitions:
        if wide:
            _row(
                table,
                str(t.version),
                f"{t.at:%Y-%m-%d %H:%M:%S}",
                t.from_step or "",
                t.to_step,
                t.reason,
                str(t.history_length),
            )
        else:
            _row(table, str(t.version), f"{t.at:%m-%d %H:%M}", t.to_step, t.reason)
    return table


def _audit(state: ClaimState, wide: bool) -> Table:
    """Who did what; narrow: the signature under the outcome, the time to the minute."""
    if wide:
        columns = ["at", "version", "actor", "action", "outcome", "signature", "detail"]
    else:
        columns = ["at (UTC)", "actor", "action", "outcome", "detail"]
    table = _table("Audit log", columns, {"outcome": len(AuditOutcome.ACCEPTED)})
    for e in state.audit_log:
        style = "red" if e.outcome is AuditOutcome.REFUSED else ""
        if wide:
            _row(
                table,
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                str(e.version),
                e.actor,
                e.action,
                literal(e.outcome, style),
                signature_mark(e),
                e.detail,
            )
            continue
        outcome = literal(e.outcome, style)
        mark = signature_mark(e)
        if mark.plain:
            outcome.append("\n")
            outcome.append_text(mark)
        _row(table, f"{e.at:%m-%d %H:%M}", e.actor, e.action, outcome, e.detail)
    if state.refusals_not_listed:
        table.caption = (
            f"and {state.refusals_not_listed} more refused actions, counted but not listed"
        )
    return table


def signature_mark(entry: AuditEntry) -> Text:
    """`verified by <key id>` or `unverified` for an accepted action of a person."""
    if entry.outcome is not AuditOutcome.ACCEPTED or entry.action not in HUMAN_ACTIONS:
        return Text("")
    if entry.verified_by:
        return Text(f"verified by {entry.verified_by}", style="green")
    return Text("unverified", style="yellow")


def print_error(console: Console, message: str) -> None:
    """One error, which may quote input: printable, never markup, its own lines kept.

    Never folded by us: a path or a command in it stays whole for copying, and the
    terminal wraps long lines itself.
    """
    console.print(
        f"[bold red]error:[/] {escape(printable(message, multiline=True))}",
        highlight=False,
        soft_wrap=True,
    )
