"""Sweeps: small workflows a Temporal Schedule starts, each over many claims at once.

A claim's own timers remind and escalate that claim; these look across claims. Each is
its own workflow type, so the schedule that starts it, its runs and its failures show
apart in the Temporal UI. They read and send through activities alone, and every side
effect carries a key of the sweep and the day or claim it is about, so a run that is
retried, or a schedule that fires twice, changes nothing the second time.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from signals.messages import HumanAction, InterruptPayload
    from workflows.actions import Notice, NoticeReceipt
    from workflows.reconciliation import (
        RECONCILE_PAYOUTS,
        ReconciliationEntry,
        ReconciliationReport,
    )

# The names the worker registers the sweep activities under (activities/sweep_activities.py).
LIST_WAITING_WORK = "list_waiting_work"
FIND_NEW_WATCHLIST_MATCHES = "find_new_watchlist_matches"
SEND_STAFF_NOTICE = "send_staff_notice"
STAFF_WITH_ROLES = "staff_with_roles"

# The operator name a re-screen interrupts a claim as: it must be in the approver directory.
RESCREEN_OPERATOR = "watchlist-rescreen"
# Above the approval wait's priority (50), so a new match pre-empts the wait and the
# claim is assessed again with it.
RESCREEN_PRIORITY = 80
# Who hears about payouts that do not reconcile.
RECONCILIATION_ROLES = ["claims_manager"]
# The sweep key of a notice that is about no single claim.
NO_CLAIM = ""

_READ_TIMEOUT = timedelta(minutes=5)
_SEND_TIMEOUT = timedelta(seconds=30)
_RETRY = RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(minutes=1))


class DigestLine(BaseModel):
    """One claim waiting on a person or a queue, as the digest lists it."""

    claim_id: str
    step: str
    assignee: str
    deadline: datetime | None = None
    overdue: bool = False


class ApproverDigest(BaseModel):
    """What waits for one approver: on them by name or on a queue their role serves."""

    approver: str
    waiting: list[DigestLine] = Field(default_factory=list)

    @property
    def overdue(self) -> list[DigestLine]:
        return [line for line in self.waiting if line.overdue]


class WaitingWorkRequest(BaseModel):
    """The moment the digest is as of (deadlines before it are overdue)."""

    now: datetime
    # Claims read per approver; a digest is a summary, not the whole inbox.
    limit: int = Field(default=100, ge=1, le=1000)


class WaitingWork(BaseModel):
    digests: list[ApproverDigest] = Field(default_factory=list)


class SlaDigestInput(BaseModel):
    """Empty from the schedule; a test or a manual run may name the day."""

    day: str = ""


class SlaDigestResult(BaseModel):
    day: str
    sent_to: list[str] = Field(default_factory=list)
    waiting: int = 0
    overdue: int = 0


class RescreenRequest(BaseModel):
    """Who the interrupts come from; the activity refuses a name not in the directory."""

    operator: str = RESCREEN_OPERATOR


class WatchlistFinding(BaseModel):
    """A watch-list match on a waiting claim that the claim does not yet know of."""

    claim_id: str
    workflow_id: str
    match: str


class RescreenFindings(BaseModel):
    screened: int = 0
    findings: list[WatchlistFinding] = Field(default_factory=list)


class RescreenInput(BaseModel):
    operator: str = RESCREEN_OPERATOR


class RescreenResult(BaseModel):
    screened: int = 0
    interrupted: list[str] = Field(default_factory=list)
    # Claims that finished before their interrupt reached them.
    ended: list[str] = Field(default_factory=list)


class StaffQuery(BaseModel):
    roles: list[str] = Field(min_length=1)


class StaffList(BaseModel):
    names: list[str] = Field(default_factory=list)


class ReconciliationInput(BaseModel):
    """How many days of payouts to compare; the nightly run looks back a little over one."""

    since_days: int = Field(default=2, ge=1, le=365)


class ReconciliationResult(BaseModel):
    mismatches: int = 0
    notified: list[str] = Field(default_factory=list)
    summary: str = ""


def match_marker(match: str) -> str:
    """The words a re-screen note carries, by which a later re-screen knows it was sent."""
    return f"watch-list match {match}"


def rescreen_note(match: str) -> str:
    return (
        f"Hourly re-screen found a new {match_marker(match)} on this claim's claimant or "
        "policy; assess the claim again with it before deciding."
    )


def digest_body(digest: ApproverDigest, day: str) -> str:
    """The digest in plain text, one line per claim, overdue ones first."""
    lines = [f"Claims waiting for {digest.approver} on {day}: {len(digest.waiting)}"]
    overdue = digest.overdue
    if overdue:
        lines.append(f"Overdue ({len(overdue)}):")
        lines += [_line(line) for line in overdue]
    rest = [line for line in digest.waiting if not line.overdue]
    if rest:
        lines.append(f"Waiting ({len(rest)}):")
        lines += [_line(line) for line in rest]
    return "\n".join(lines)


def _line(line: DigestLine) -> str:
    due = f", due {line.deadline:%Y-%m-%d %H:%M} UTC" if line.deadline else ""
    return f"- {line.claim_id}: {line.step}, on {line.assignee}{due}"


def mismatches(report: ReconciliationReport) -> list[tuple[str, ReconciliationEntry]]:
    """Every payout the two sides disagree on, with what kind of disagreement it is."""
    return [
        *(("missing at the gateway", e) for e in report.missing_at_gateway),
        *(("unknown to the claims", e) for e in report.unknown_at_gateway),
        *(("another amount", e) for e in report.amount_mismatch),
    ]


def reconciliation_body(report: ReconciliationReport) -> str:
    """The report in plain text: the summary, then one line per payout to look at."""
    lines = [report.summary()]
    lines += [
        f"- {entry.claim_id} ({kind}): ours {entry.ours or 'none'}, "
        f"{report.gateway} {entry.theirs or 'none'}"
        for kind, entry in mismatches(report)
    ]
    lines.append("Run `claims show CLAIM_ID` on each to see its payout.")
    return "\n".join(lines)


@workflow.defn
class SlaDigestWorkflow:
    """Once a day: one notice to each approver listing what waits for them, overdue first."""

    @workflow.run
    async def run(self, request: SlaDigestInput) -> SlaDigestResult:
        now = workflow.now()
        day = request.day or now.strftime("%Y-%m-%d")
        work: WaitingWork = await workflow.execute_activity(
            LIST_WAITING_WORK,
            WaitingWorkRequest(now=now),
            result_type=WaitingWork,
            start_to_close_timeout=_READ_TIMEOUT,
            retry_policy=_RETRY,
        )
        result = SlaDigestResult(day=day)
        for digest in work.digests:
            if not digest.waiting:
                continue
            await _send(
                Notice(
                    idempotency_key=f"digest/{digest.approver}/{day}",
                    claim_id=NO_CLAIM,
                    recipient=digest.approver,
                    subject=(
                        f"{len(digest.waiting)} claims wait for you, "
                        f"{len(digest.overdue)} overdue ({day})"
                    ),
                    body=digest_body(digest, day),
                )
            )
            result.sent_to.append(digest.approver)
            result.waiting += len(digest.waiting)
            result.overdue += len(digest.overdue)
        return result


@workflow.defn
class WatchlistRescreenWorkflow:
    """Every hour: screen waiting claims again; a new match interrupts its claim once."""

    @workflow.run
    async def run(self, request: RescreenInput) -> RescreenResult:
        found: RescreenFindings = await workflow.execute_activity(
            FIND_NEW_WATCHLIST_MATCHES,
            RescreenRequest(operator=request.operator),
            result_type=RescreenFindings,
            start_to_close_timeout=_READ_TIMEOUT,
            retry_policy=_RETRY,
        )
        result = RescreenResult(screened=found.screened)
        for finding in found.findings:
            payload = InterruptPayload(
                operator=request.operator,
                information=rescreen_note(finding.match),
                priority=RESCREEN_PRIORITY,
            )
            handle = workflow.get_external_workflow_handle(finding.workflow_id)
            try:
                await handle.signal(str(HumanAction.INTERRUPT), payload.model_dump(mode="json"))
            except ApplicationError:
                # The claim ended between the screening and the signal: nothing to interrupt.
                # No patch: before this, the failure ended the run, so no running history
                # holds a failed signal this code would go on from differently.
                result.ended.append(finding.claim_id)
                continue
            result.interrupted.append(finding.claim_id)
        return result


@workflow.defn
class PayoutReconciliationWorkflow:
    """Every night: payouts against the gateway; any mismatch is told to claims managers."""

    @workflow.run
    async def run(self, request: ReconciliationInput) -> ReconciliationResult:
        report: ReconciliationReport = await workflow.execute_activity(
            RECONCILE_PAYOUTS,
            request.since_days,
            result_type=ReconciliationReport,
            start_to_close_timeout=_READ_TIMEOUT,
            retry_policy=_RETRY,
        )
        found = len(mismatches(report))
        result = ReconciliationResult(mismatches=found, summary=report.summary())
        if report.clean:
            return result
        staff: StaffList = await workflow.execute_activity(
            STAFF_WITH_ROLES,
            StaffQuery(roles=RECONCILIATION_ROLES),
            result_type=StaffList,
            start_to_close_timeout=_SEND_TIMEOUT,
            retry_policy=_RETRY,
        )
        day = workflow.now().strftime("%Y-%m-%d")
        for name in staff.names:
            await _send(
                Notice(
                    idempotency_key=f"reconciliation/{name}/{day}",
                    claim_id=NO_CLAIM,
                    recipient=name,
                    subject=f"Payout reconciliation {day}: {found} payouts do not match",
                    body=reconciliation_body(report),
                )
            )
            result.notified.append(name)
        return result


async def _send(notice: Notice) -> NoticeReceipt:
    receipt: NoticeReceipt = await workflow.execute_activity(
        SEND_STAFF_NOTICE,
        notice,
        result_type=NoticeReceipt,
        start_to_close_timeout=_SEND_TIMEOUT,
        retry_policy=_RETRY,
    )
    return receipt


SWEEP_WORKFLOWS = [SlaDigestWorkflow, WatchlistRescreenWorkflow, PayoutReconciliationWorkflow]
