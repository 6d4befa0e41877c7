"""Rich renderings of claims for people: tables of where claims are, and one claim in full.

Almost everything shown was typed by someone outside: claimants, approvers, operators,
anyone who can send a signal. It is printed as literal, printable text only: never read
as rich markup, and with control characters shown as escapes (`runtime.text.printable`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text
from temporalio.client import WorkflowExecution

from cli.status_query import step_shown
from runtime.text import printable
from signals.messages import HumanAction
from workflows import search_attributes as sa
from workflows.state import AuditEntry, AuditOutcome, ClaimState

HUMAN_ACTIONS = frozenset(str(a) for a in HumanAction)

WORKFLOW_ID_PREFIX = "claim-"


@dataclass(frozen=True)
class ClaimRow:
    claim_id: str
    step: str
    amount: Decimal | None
    currency: str
    waiting_on: str
    deadline: datetime | None
    status: str

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
        )

    @classmethod
    def from_execution(cls, execution: WorkflowExecution) -> ClaimRow:
        attributes = execution.typed_search_attributes
        amount = attributes.get(sa.CLAIM_AMOUNT)
        status = execution.status.name.title() if execution.status else "Unknown"
        return cls(
            claim_id=execution.id.removeprefix(WORKFLOW_ID_PREFIX),
            step=step_shown(attributes.get(sa.CLAIM_STEP) or "", execution.status),
            amount=Decimal(str(amount)) if amount is not None else None,
            currency="",
            waiting_on=attributes.get(sa.ASSIGNEE) or "",
            deadline=attributes.get(sa.CLAIM_DEADLINE),
            status=status,
        )


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


def claims_table(rows: list[ClaimRow], title: str = "Claims") -> Table:
    """Claims one per row; `title` is literal text (it may hold a name or a filter)."""
    table = Table(title=literal(title), title_justify="left")
    for column in ("claim", "step", "amount", "waiting on", "deadline", "workflow"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for row in rows:
        step_style = "yellow" if row.step == "awaiting_manager_approval" else ""
        _row(
            table,
            row.claim_id,
            literal(row.step, step_style),
            _money(row.amount, row.currency),
            row.waiting_on,
            _deadline(row.deadline),
            row.status,
        )
    return table


def render_state(state: ClaimState) -> Group:
    """The whole state document, in the order a reviewer asks about it."""
    claim = state.context.claim
    header = Table.grid(padding=(0, 2))
    _row(header, "workflow", state.workflow_id)
    _row(header, "step", literal(state.current_step, "bold"))
    _row(header, "version", str(state.version))
    _row(header, "claim", f"{claim.category} · {_money(claim.amount, claim.currency)}")
    _row(header, "claimant", f"{claim.claimant.name} ({claim.claimant.id})")
    _row(header, "policy", claim.policy_number)
    docs = state.context.supporting_docs
    _row(header, "documents", ", ".join(f"{d.doc_id} {d.kind}" for d in docs) or "none")
    if state.outcome:
        o = state.outcome
        _row(
            header,
            "outcome",
            f"{o.status} by {o.decided_by}, payout {_money(o.payout_amount, o.currency)}",
        )
    parts: list[Panel | Table] = [
        Panel(header, title=literal(f"Claim {claim.claim_id}"), expand=False)
    ]

    if len(state.runs) > 1:
        latest = state.runs[-1]
        _row(
            header,
            "runs",
            f"{len(state.runs)} (continued as new; this run holds versions "
            f"{latest.first_version} on)",
        )

    if state.pending_actions:
        waits = Table(title="Pending actions", title_justify="left")
        columns = ["type", "assignee", "level", "deadline", "on timeout", "resumed by"]
        # The detail says what a wait is about: what was asked for, or why the policy failed.
        with_detail = any(w.detail for w in state.pending_actions)
        for column in [*columns, "detail"] if with_detail else columns:
            waits.add_column(column)
        for wait in state.pending_actions:
            cells = [
                wait.type,
                f"{wait.assignee} ({', '.join(wait.assignee_roles)})"
                if wait.assignee_roles
                else wait.assignee,
                str(wait.escalation_level),
                _deadline(wait.timeout),
                wait.on_timeout,
                wait.trigger,
            ]
            _row(waits, *cells, *([wait.detail] if with_detail else []))
        parts.append(waits)

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
        tools = Table(title="Tool calls", title_justify="left")
        for column in ("at", "tool", "arguments", "result", "ms", "error"):
            tools.add_column(column)
        for call in state.llm_state.tool_call_history:
            _row(
                tools,
                f"{call.at:%H:%M:%S}",
                call.name,
                ", ".join(f"{k}={v}" for k, v in call.arguments.items()),
                call.result_summary,
                f"{call.duration_ms:.0f}",
                call.error or "",
            )
        parts.append(tools)

    if state.llm_state.reasoning_trace:
        trace = Table(title="Reasoning trace", title_justify="left")
        for column in ("at", "model", "prompt", "response", "tokens", "ms", "attempt"):
            trace.add_column(column)
        for step in state.llm_state.reasoning_trace:
            c = step.call
            model = c.model + (" (offline)" if c.offline else "")
            tokens = (
                f"{c.token_usage.input_tokens}+{c.token_usage.output_tokens}"
                if c.token_usage
                else ""
            )
            _row(
                trace,
                f"{step.at:%H:%M:%S}",
                model,
                f"{c.prompt_version}: {c.prompt_summary}",
                c.response_summary,
                tokens,
                f"{c.latency_ms:.0f}",
                str(c.attempt),
            )
        parts.append(trace)

    transitions = Table(title="Transitions", title_justify="left")
    for column in ("version", "at", "from", "to", "reason", "event"):
        transitions.add_column(column)
    for t in state.transitions:
        _row(
            transitions,
            str(t.version),
            f"{t.at:%Y-%m-%d %H:%M:%S}",
            t.from_step or "",
            t.to_step,
            t.reason,
            str(t.history_length),
        )
    parts.append(transitions)

    if state.audit_log:
        audit = Table(title="Audit log", title_justify="left")
        for column in ("at", "version", "actor", "action", "outcome", "signature", "detail"):
            audit.add_column(column)
        for e in state.audit_log:
            style = "red" if e.outcome is AuditOutcome.REFUSED else ""
            _row(
                audit,
                f"{e.at:%Y-%m-%d %H:%M:%S}",
                str(e.version),
                e.actor,
                e.action,
                literal(e.outcome, style),
                signature_mark(e),
                e.detail,
            )
        if state.refusals_not_listed:
            audit.caption = (
                f"and {state.refusals_not_listed} more refused actions, counted but not listed"
            )
        parts.append(audit)
    return Group(*parts)


def signature_mark(entry: AuditEntry) -> Text:
    """`verified by <key id>` or `unverified` for an accepted action of a person."""
    if entry.outcome is not AuditOutcome.ACCEPTED or entry.action not in HUMAN_ACTIONS:
        return Text("")
    if entry.verified_by:
        return Text(f"verified by {entry.verified_by}", style="green")
    return Text("unverified", style="yellow")


def print_error(console: Console, message: str) -> None:
    """One error, which may quote input: printable, never markup, its own lines kept."""
    console.print(
        f"[bold red]error:[/] {escape(printable(message, multiline=True))}", highlight=False
    )
