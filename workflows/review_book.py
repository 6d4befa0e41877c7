"""The review's books: every change of step, every act, and where the claim stands.

One object keeps the state document and is the only way it changes step: `transition`
bumps the version and records why, `audit` records who did what, and `publish` mirrors
the claim into search attributes and the web UI's details. The workflow, the agent loop
and the desk for people's actions all write through it.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from workflows import search_attributes as sa
    from workflows.metrics import record_outcome
    from workflows.state import (
        AuditEntry,
        AuditOutcome,
        ClaimOutcome,
        ClaimState,
        DecisionKind,
        DecisionRecord,
        OutcomeStatus,
        PendingAction,
        PendingActionType,
        Step,
    )

AGENT_ACTOR = "claim-review-agent"
PATCH_RESTING_STEPS = "search-attribute-resting-steps"
# One search-attribute upsert per workflow task, whatever the task changed; reviews that
# began before it upsert at every change, as they did.
PATCH_COALESCED_SEARCH_ATTRIBUTES = "coalesced-search-attributes"
# One marker for every patch before it: a new review records this one instead of one per
# patch (each also an upsert of TemporalChangeVersion: two history events and a
# visibility write apiece). Where it is recorded, every older patch takes its new branch;
# reviews that began before it ask for the older ones, as they did. `claims patches`
# counts a claim holding it as holding each of them (cli/patches_command.py).
PATCH_ONE_MARKER = "one-patch-marker"
# The audit log lists this many refusals; later ones are counted (see ClaimState).
MAX_LISTED_REFUSALS = 100
MAX_AUDIT_DETAIL = 300
MAX_TRANSITION_REASON = 300
# The web UI's current details list this many of the latest refusals, newest first.
SHOWN_REFUSALS = 3
SHOWN_ACTOR = 32
SHOWN_REASON = 120
# Characters that mean something in the details' Markdown; sender-chosen text escapes them.
_MARKDOWN = frozenset("\\`*_[]<>|~#!")


class ReviewBook:
    """The state document and the one way to change it.

    `hardened` is False only while replaying reviews that began before stored texts and
    listed refusals were bounded; they keep the bookkeeping they started with.
    `coalesced`: `publish` only notes that the claim changed, and `flush` writes it once
    per workflow task (see `keep_published`); False for reviews that began before.
    """

    def __init__(
        self,
        state: ClaimState,
        *,
        hardened: bool,
        coalesced: bool = False,
        patches_implied: bool = False,
    ) -> None:
        self.state = state
        self.hardened = hardened
        self.coalesced = coalesced
        # The review recorded PATCH_ONE_MARKER: every older patch is taken, none is asked.
        self.patches_implied = patches_implied
        self._unpublished = False
        self._changes = 0
        # The latest refusals, counted ones included, for the web UI; kept out of the state
        # document, which a refused action never changes but for its audit line. None until
        # this run refuses something: the audit log (a continued run's too) has them then.
        self._latest_refusals: list[AuditEntry] | None = None

    def transition(self, to: Step, reason: str) -> None:
        """The one way the step changes: version, transition record, search attributes, log."""
        if self.hardened and len(reason) > MAX_TRANSITION_REASON:
            reason = reason[: MAX_TRANSITION_REASON - 1] + "…"
        record = self.state.transition(
            to,
            reason=reason,
            at=workflow.now(),
            history_length=workflow.info().get_current_history_length(),
        )
        self.publish()
        # The reason stays in the state, never in a log line: it may quote the claim.
        workflow.logger.info(
            "claim moved to %s",
            to,
            extra={"step": str(to), "from_step": str(record.from_step), "version": record.version},
        )

    def audit(self, actor: str, action: str, outcome: AuditOutcome, detail: str) -> None:
        """Record who did what. Past a limit, refusals are counted instead of listed.

        Refused messages cost their sender nothing, so a flood of them must not grow the
        state without bound; accepted actions are always listed.
        """
        if self.hardened:
            detail = detail[:MAX_AUDIT_DETAIL]
        if outcome is AuditOutcome.REFUSED:
            self._show_refusal(actor, str(action), detail)
        if self.hardened:
            refused = [e for e in self.state.audit_log if e.outcome is AuditOutcome.REFUSED]
            if outcome is AuditOutcome.REFUSED and len(refused) >= MAX_LISTED_REFUSALS:
                self.state.refusals_not_listed += 1
                return
        entry = self.state.audit(
            at=workflow.now(), actor=actor, action=str(action), outcome=outcome, detail=detail
        )
        # The detail and a refused sender's name stay in the audit log, out of log lines:
        # either may be whatever a caller typed, a claimant's name or text included.
        extra: dict[str, object] = {"step": str(self.state.current_step), "version": entry.version}
        if outcome is not AuditOutcome.REFUSED:
            extra["actor"] = entry.actor
        workflow.logger.info("%s %s", entry.action, entry.outcome, extra=extra)

    def _show_refusal(self, actor: str, action: str, detail: str) -> None:
        """Keep the refusal among the latest few and show them in the web UI at once.

        Only the current details change (a query answer, not a command), so a refusal
        arriving at any point of any review, old ones replaying included, changes nothing
        that replay checks.
        """
        latest = self._latest_refusals = self.latest_refusals()
        latest.append(
            AuditEntry(
                at=workflow.now(),
                version=self.state.version,
                actor=actor,
                action=action,
                outcome=AuditOutcome.REFUSED,
                detail=detail[:MAX_AUDIT_DETAIL],
            )
        )
        del latest[:-SHOWN_REFUSALS]
        self.publish_details()

    def latest_refusals(self) -> list[AuditEntry]:
        """The last few refusals, oldest first, whether the audit log lists them or not."""
        if self._latest_refusals is not None:
            return list(self._latest_refusals)
        refused = [e for e in self.state.audit_log if e.outcome is AuditOutcome.REFUSED]
        return refused[-SHOWN_REFUSALS:]

    def record_decision(self, actor: str, kind: DecisionKind, comment: str) -> DecisionRecord:
        """A decision joins the context; the agent's own are audited here, people's by the desk."""
        decision = DecisionRecord(at=workflow.now(), actor=actor, decision=kind, comment=comment)
        self.state.context.previous_decisions.append(decision)
        if kind in (DecisionKind.AUTO_APPROVE, DecisionKind.ESCALATE):
            self.audit(actor, kind, AuditOutcome.ACCEPTED, comment)
        return decision

    def finish(
        self,
        status: OutcomeStatus,
        decision: DecisionRecord,
        amount: Decimal,
        payout_id: str | None,
    ) -> ClaimOutcome:
        """The outcome of the contract, kept in the state and counted in the metrics."""
        record_outcome(status)
        self.state.outcome = ClaimOutcome(
            claim_id=self.state.context.claim.claim_id,
            status=status,
            decided_by=decision.actor,
            payout_amount=amount,
            currency=self.state.context.currency,
            decided_at=decision.at,
            reason=decision.comment,
            payout_id=payout_id,
        )
        return self.state.outcome

    def patched(self, patch_id: str) -> bool:
        """`workflow.patched` for a patch older than PATCH_ONE_MARKER, which implies it.

        Short-circuits: a review holding the one marker never asks for (and so never
        records) an older patch's marker; one that began before asks as it always did.
        """
        return self.patches_implied or workflow.patched(patch_id)

    def _searchable_step(self) -> str:
        """The step as list queries see it: where a claim can rest, not every loop turn.

        The agent loop flips between assessing and gathering_evidence within seconds;
        upserting each flip cost a visibility write per turn. New reviews show the whole
        loop as `assessing`; the state document keeps the exact step.
        """
        step = self.state.current_step
        if step in sa.AGENT_LOOP_STEPS and self.patched(PATCH_RESTING_STEPS):
            return str(Step.ASSESSING)
        return str(step)

    def _wait(self) -> tuple[PendingAction | None, str | None]:
        """The wait to show (one for a person first) and who it waits on."""
        state = self.state
        wait = next((w for w in state.pending_actions if w.type.needs_a_person), None)
        wait = wait or (state.pending_actions[0] if state.pending_actions else None)
        assignee = (wait.assignee if wait and wait.assignee else None) or state.assignee
        return wait, assignee

    def publish(self) -> None:
        """Mirror where the claim is into search attributes and the UI's current details.

        Coalesced, it only marks the claim as changed: a task that moves the step, the
        assignee and the deadline one after the other (or takes a burst of signals) then
        costs one history event and one visibility write instead of one each.
        """
        if self.coalesced:
            self._unpublished = True
            self._changes += 1
            return
        self._upsert_changes()

    def flush(self) -> None:
        """Write what changed since the last flush, in one upsert (coalesced reviews)."""
        if self._unpublished:
            self._unpublished = False
            self._upsert_changes()

    async def keep_published(self) -> None:
        """Run beside the review: flush once per workflow task, after everything else in it.

        The SDK has no end-of-task hook, but it checks wait conditions only once nothing
        else is ready to run. So once something changed, this waits for such a check again
        and again until a whole turn of the loop changed nothing more (the review woken by
        a signal, the tasks it started), then writes everything in one upsert.
        """
        while True:
            await workflow.wait_condition(lambda: self._unpublished)
            seen = -1
            while seen != self._changes:
                seen = self._changes
                await workflow.wait_condition(lambda: True)
            self.flush()

    def _upsert_changes(self) -> None:
        state = self.state
        wait, assignee = self._wait()
        # Only what changed: each upsert is a history event and a visibility write.
        current = workflow.info().typed_search_attributes
        wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
            (sa.CLAIM_STEP, self._searchable_step()),
            (sa.CLAIM_AMOUNT, float(state.context.claim_amount)),
            (sa.AWAITING_HUMAN, state.awaiting_human),
            (sa.ASSIGNEE, assignee),
            (sa.CLAIM_DEADLINE, wait.timeout if wait else None),
        ]
        updates = [
            key.value_set(value) if value is not None else key.value_unset()
            for key, value in wanted
            if current.get(key) != value
        ]
        if updates:
            workflow.upsert_search_attributes(updates)
        self._set_details(wait, assignee)

    def publish_details(self) -> None:
        """Only the web UI's current details: no command, so safe from any handler."""
        self._set_details(*self._wait())

    def _set_details(self, wait: PendingAction | None, assignee: str | None) -> None:
        state = self.state
        details = f"**{state.current_step}** (version {state.version})"
        if state.paused:
            details += " — paused by an operator"
        if wait is not None and wait.type is PendingActionType.RATE_LIMIT:
            details += f"\n\nRate limited by the model provider until {wait.timeout:%H:%M:%S} UTC"
        elif wait is not None and wait.type is PendingActionType.CONFIGURATION:
            details += (
                f"\n\nWaiting for a valid review policy (next try {wait.timeout:%H:%M:%S} UTC): "
                f"{wait.detail}"
            )
        elif wait is not None:
            details += (
                f"\n\n{wait.type} — {assignee or 'unassigned'} "
                f"until {wait.timeout:%Y-%m-%d %H:%M} UTC"
            )
        if state.context.routing and state.context.routing.reasons:
            details += "\n\nWhy: " + "; ".join(state.context.routing.reasons)
        details += refusals_markdown(self.latest_refusals(), state.refusals_not_listed)
        workflow.set_current_details(details)


def refusals_markdown(latest: list[AuditEntry], not_listed: int = 0) -> str:
    """The latest refusals as a Markdown block for the current details, newest first.

    A refused signal leaves no mark of its own in the web UI's event list: it looks just
    like an accepted one. Whatever a sender chose (name, action, the reason quoting it)
    is shown as one short line of plain text.
    """
    if not latest:
        return ""
    lines = ["", "", "**Refused lately** (newest first):"]
    for entry in reversed(latest):
        lines.append(
            f"- {entry.at:%Y-%m-%d %H:%M:%S} UTC: {_plain(entry.action, SHOWN_ACTOR)} "
            f"from {_plain(entry.actor, SHOWN_ACTOR)}: {_plain(entry.detail, SHOWN_REASON)}"
        )
    if not_listed == 1:
        lines.append("- 1 refusal past the audit log's limit was counted, not listed")
    elif not_listed:
        lines.append(f"- {not_listed} refusals past the audit log's limit were counted, not listed")
    return "\n".join(lines)


def _plain(text: str, limit: int) -> str:
    """One printable line of at most `limit` characters, with Markdown's marks escaped."""
    flat = " ".join(text.split())
    shown = "".join(
        c for c in flat if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
    )
    if len(shown) > limit:
        shown = shown[: limit - 1] + "…"
    return "".join("\\" + c if c in _MARKDOWN else c for c in shown) or "?"
