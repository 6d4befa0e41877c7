"""What the pages show, read from Temporal: inbox rows and what a person may do on a claim."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.client import Client

from cli.status_query import inbox_query
from signals.client import claim_handle, current_state
from signals.messages import HumanAction
from workflows import search_attributes as sa
from workflows.agent import summarize
from workflows.authority import Approver, ReviewPolicy
from workflows.evidence import Evidence
from workflows.state import ClaimState, PendingActionType
from workflows.tools import TOOLS

INBOX_LIMIT = 200
DECISIONS = (HumanAction.APPROVE, HumanAction.REJECT, HumanAction.EDIT, HumanAction.REQUEST_INFO)


@dataclass(frozen=True)
class InboxRow:
    claim_id: str
    step: str
    amount: float | None
    assignee: str
    deadline: datetime | None
    overdue: bool
    why: str
    waited: str


def queues_for(policy: ReviewPolicy, person: Approver) -> list[str]:
    """The person's own name and every queue of the ladder their role serves."""
    return [person.name] + [
        level.name for level in policy.escalation_ladder if person.role in level.roles
    ]


def waited_for(since: datetime, now: datetime) -> str:
    """A duration in words a person reads at a glance: 3 d 4 h, 2 h 5 min, 40 s."""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else f"{seconds} s"


async def inbox(
    client: Client, policy: ReviewPolicy, person: Approver, now: datetime
) -> list[InboxRow]:
    """Claims waiting on the person or their queues, oldest deadline first."""
    listed = [
        execution
        async for execution in client.list_workflows(
            inbox_query(queues_for(policy, person)), limit=INBOX_LIMIT
        )
    ]
    claim_ids = [execution.id.removeprefix("claim-") for execution in listed]
    states = await asyncio.gather(
        *(current_state(claim_handle(client, claim_id)) for claim_id in claim_ids)
    )
    rows = []
    for execution, claim_id, state in zip(listed, claim_ids, states, strict=True):
        attributes = execution.typed_search_attributes
        deadline = attributes.get(sa.CLAIM_DEADLINE)
        why, waited = "", ""
        if state is not None and state.pending_actions:
            pending = state.pending_actions[0]
            routing = state.context.routing
            why = "; ".join(routing.reasons) if routing and routing.reasons else pending.detail
            waited = waited_for(pending.created_at, now)
        rows.append(
            InboxRow(
                claim_id=claim_id,
                step=attributes.get(sa.CLAIM_STEP) or "",
                amount=attributes.get(sa.CLAIM_AMOUNT),
                assignee=attributes.get(sa.ASSIGNEE) or "",
                deadline=deadline,
                overdue=deadline is not None and deadline < now,
                why=why,
                waited=waited,
            )
        )
    far = now + timedelta(days=36500)
    rows.sort(key=lambda row: (row.deadline or far, row.claim_id))
    return rows


def allowed_actions(state: ClaimState, policy: ReviewPolicy, person: Approver) -> list[HumanAction]:
    """The actions to offer: decisions when the claim waits on a rung the person's role
    serves (their limit is the claim's to check, and its refusal is shown), operator
    actions while the claim is under review, to the roles the policy grants them.
    """
    if state.current_step.is_final:
        return []
    actions: list[HumanAction] = []
    waiting = next(
        (p for p in state.pending_actions if p.type is PendingActionType.WAIT_FOR_APPROVAL), None
    )
    if waiting is not None and person.role in policy.level(waiting.escalation_level).roles:
        actions.extend(DECISIONS)
    if person.role in policy.operator_roles:
        actions.append(HumanAction.RESUME if state.paused else HumanAction.PAUSE)
        actions.extend((HumanAction.REASSIGN, HumanAction.INTERRUPT, HumanAction.CANCEL))
    return actions


def evidence_rows(evidence: Evidence | None) -> list[tuple[str, str]]:
    """Each tool's finding in one line, in the catalogue's order; unchecked tools say so."""
    if evidence is None:
        return []
    rows = []
    for name, tool in TOOLS.items():
        found = getattr(evidence, tool.evidence_field)
        rows.append((name, summarize(found) if found is not None else "not checked"))
    return rows
