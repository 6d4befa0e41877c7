"""What the scheduled sweeps read and send: waiting claims, watch-list matches, staff notices.

The list queries are the ones `claims inbox` runs (cli/status_query.py); this layer may
not import the CLI, so the worker hands them in (`inbox_query`, `waiting_query`). Claims
are read by search attributes and, for a re-screen, by the claim's `state` query, so
what a claim already knows is read from the claim itself, never from a second record.

Staff notices go to the same outbox as a claim's notices, through the ledger. They have
their own activity because `send_notice` serves only a claim review (it refuses every
other workflow type, so a what-if run can never send); this one serves only the sweeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowExecution
from temporalio.exceptions import ApplicationError

from activities.payments import WHAT_IF_CANNOT_EXECUTE, Ledger
from activities.records import SystemOfRecord
from activities.review_policy import load_review_policy_file
from workflows import search_attributes as sa
from workflows.actions import Notice, NoticeReceipt
from workflows.authority import operator_refusal
from workflows.state import ClaimState
from workflows.sweeps import (
    RESCREEN_OPERATOR,
    SWEEP_WORKFLOWS,
    ApproverDigest,
    DigestLine,
    RescreenFindings,
    RescreenRequest,
    StaffList,
    StaffQuery,
    WaitingWork,
    WaitingWorkRequest,
    WatchlistFinding,
    match_marker,
)

RESCREEN_OPERATOR_UNKNOWN = "RescreenOperatorUnknown"
# The claim prefix of a review's workflow id (workflows.claim.workflow_id_for).
_CLAIM_PREFIX = "claim-"
# Claims queried at once during a re-screen.
_QUERY_AT_ONCE = 8
_SWEEP_TYPES = {cls.__name__ for cls in SWEEP_WORKFLOWS}


class SweepActivities:
    """The sweeps' reads and their one write, over the client, directory, records and outbox."""

    def __init__(
        self,
        client: Client,
        *,
        approvers_file: Path,
        records: SystemOfRecord,
        ledger: Ledger,
        inbox_query: Callable[[Sequence[str]], str],
        waiting_query: str,
    ) -> None:
        self._client = client
        self._approvers_file = approvers_file
        self._records = records
        self._ledger = ledger
        self._inbox_query = inbox_query
        self._waiting_query = waiting_query

    @activity.defn
    async def list_waiting_work(self, request: WaitingWorkRequest) -> WaitingWork:
        """Per approver, the claims waiting on them or their queues (the inbox query)."""
        policy = await asyncio.to_thread(load_review_policy_file, self._approvers_file)
        digests = []
        for approver in policy.approvers:
            if approver.name == RESCREEN_OPERATOR:
                # The re-screen's own name in the directory: a sweep, not a person to page.
                continue
            queues = [lvl.name for lvl in policy.escalation_ladder if approver.role in lvl.roles]
            query = self._inbox_query([approver.name, *queues])
            runs = await self._list(query, request.limit)
            digests.append(
                ApproverDigest(
                    approver=approver.name,
                    waiting=[_digest_line(run, request.now) for run in runs],
                )
            )
        return WaitingWork(digests=digests)

    @activity.defn
    async def find_new_watchlist_matches(self, request: RescreenRequest) -> RescreenFindings:
        """Watch-list matches on waiting claims that neither their screening nor a staff
        note has recorded; a claim that no longer answers is left for the next run.
        """
        policy = await asyncio.to_thread(load_review_policy_file, self._approvers_file)
        refused = operator_refusal(policy, request.operator)
        if refused is not None:
            raise ApplicationError(
                f"the watch-list re-screen cannot interrupt claims: {refused}. Add it to "
                f"{self._approvers_file} as an [[approvers]] entry (role adjuster, "
                "approval_limit 0), or pause the schedule claims-watchlist-rescreen",
                type=RESCREEN_OPERATOR_UNKNOWN,
                non_retryable=True,
            )
        runs = await self._list(self._waiting_query, None)
        gate = asyncio.Semaphore(_QUERY_AT_ONCE)

        async def screen(run: WorkflowExecution) -> list[WatchlistFinding]:
            async with gate:
                state = await self._state(run)
            if state is None:
                return []
            claim = state.context.claim
            hits = await asyncio.to_thread(
                self._records.watchlist_matches, claim.claimant.id, claim.policy_number
            )
            return [
                WatchlistFinding(claim_id=claim.claim_id, workflow_id=run.id, match=hit)
                for hit in hits
                if not _already_known(state, hit)
            ]

        found = await asyncio.gather(*(screen(run) for run in runs))
        activity.logger.info(
            "watch-list re-screen", extra={"screened": len(runs), "new": sum(map(len, found))}
        )
        return RescreenFindings(
            screened=len(runs), findings=[f for per_claim in found for f in per_claim]
        )

    @activity.defn
    async def staff_with_roles(self, query: StaffQuery) -> StaffList:
        """Names in the approver directory holding one of the roles."""
        policy = await asyncio.to_thread(load_review_policy_file, self._approvers_file)
        return StaffList(names=[a.name for a in policy.approvers if a.role in query.roles])

    @activity.defn
    async def send_staff_notice(self, notice: Notice) -> NoticeReceipt:
        """Put a staff notice in the outbox once per key; only a sweep may send one."""
        workflow_type = activity.info().workflow_type
        if workflow_type not in _SWEEP_TYPES:
            raise ApplicationError(
                f"staff notice refused: it was asked for by {workflow_type!r}; only the "
                "scheduled sweeps send staff notices (a claim review uses send_notice)",
                type=WHAT_IF_CANNOT_EXECUTE,
                non_retryable=True,
            )
        return await asyncio.to_thread(self._ledger.send, notice)

    async def _list(self, query: str, limit: int | None) -> list[WorkflowExecution]:
        return [run async for run in self._client.list_workflows(query, limit=limit)]

    async def _state(self, run: WorkflowExecution) -> ClaimState | None:
        handle = self._client.get_workflow_handle(run.id, run_id=run.run_id)
        try:
            state: ClaimState = await handle.query("state", result_type=ClaimState)
        # A claim that ended, or whose worker is busy or gone, is screened next hour.
        except Exception:
            return None
        return state


def _digest_line(run: WorkflowExecution, now: datetime) -> DigestLine:
    attributes = run.typed_search_attributes
    deadline = attributes.get(sa.CLAIM_DEADLINE)
    return DigestLine(
        claim_id=run.id.removeprefix(_CLAIM_PREFIX),
        step=attributes.get(sa.CLAIM_STEP) or "",
        assignee=attributes.get(sa.ASSIGNEE) or "",
        deadline=deadline,
        overdue=deadline is not None and deadline < now,
    )


def _already_known(state: ClaimState, hit: str) -> bool:
    evidence = state.context.evidence
    if evidence is not None and evidence.watchlist is not None and hit in evidence.watchlist.hits:
        return True
    marker = match_marker(hit)
    return any(marker in note for note in state.context.notes)


def sweep_activity_list(sweeps: SweepActivities) -> list[Any]:
    """The sweep activities, for the worker to register."""
    return [
        sweeps.list_waiting_work,
        sweeps.find_new_watchlist_matches,
        sweeps.staff_with_roles,
        sweeps.send_staff_notice,
    ]
