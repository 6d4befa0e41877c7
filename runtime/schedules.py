"""The Temporal Schedules that start the sweeps, and `apply_schedules` that keeps them so.

Each schedule starts one small workflow (workflows/sweeps.py, named here by its type, as
this layer imports no workflow code) on the claims task queue. Every schedule skips a
start while its previous run still runs (overlap SKIP), for a reason of its own, given
with each definition. Applying is idempotent: a missing schedule is created, an existing
one is updated to this definition, and whether it is paused stays as the operator left it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from runtime.errors import UserFacingError
from runtime.logs import get_logger
from runtime.settings import Settings

log = get_logger(__name__)

SUMMARY_MEMO = "summary"


@dataclass(frozen=True)
class SweepSchedule:
    """One schedule: its id, when it fires, what it starts, and why it skips overlaps."""

    schedule_id: str
    workflow_type: str
    summary: str
    cron: str | None
    every: timedelta | None
    catchup_window: timedelta
    why_skip: str

    @property
    def short_name(self) -> str:
        return self.schedule_id.removeprefix("claims-")

    def schedule(self, task_queue: str, *, paused: bool = False, note: str = "") -> Schedule:
        """The schedule as Temporal takes it."""
        return Schedule(
            action=ScheduleActionStartWorkflow(
                self.workflow_type,
                {},
                id=f"{self.schedule_id}-run",
                task_queue=task_queue,
                static_summary=self.summary,
            ),
            spec=ScheduleSpec(
                cron_expressions=[self.cron] if self.cron else [],
                intervals=[ScheduleIntervalSpec(every=self.every)] if self.every else [],
            ),
            policy=SchedulePolicy(
                overlap=ScheduleOverlapPolicy.SKIP, catchup_window=self.catchup_window
            ),
            state=ScheduleState(paused=paused, note=note or self.summary),
        )


SCHEDULES = (
    SweepSchedule(
        schedule_id="claims-sla-digest",
        workflow_type="SlaDigestWorkflow",
        summary="Daily 07:00 UTC: each approver gets a digest of what waits and what is overdue",
        cron="0 7 * * *",
        every=None,
        # A digest a few hours late still helps the morning; one a day late is stale.
        catchup_window=timedelta(hours=6),
        why_skip="a digest still sending would send a second one for the same day",
    ),
    SweepSchedule(
        schedule_id="claims-watchlist-rescreen",
        workflow_type="WatchlistRescreenWorkflow",
        summary="Hourly: waiting claims screened against the watch list; a new match interrupts",
        cron=None,
        every=timedelta(hours=1),
        # Missed hours are not worth replaying: the next run screens every waiting claim.
        catchup_window=timedelta(minutes=30),
        why_skip="two re-screens at once could interrupt a claim twice for one match",
    ),
    SweepSchedule(
        schedule_id="claims-payout-reconciliation",
        workflow_type="PayoutReconciliationWorkflow",
        summary="Nightly 02:00 UTC: payouts compared with the payment gateway; managers told",
        cron="0 2 * * *",
        every=None,
        # Late in the night is fine; past the morning, the next night's run covers it.
        catchup_window=timedelta(hours=8),
        why_skip="a slow gateway must not have two reconciliations reading it at once",
    ),
)


def find_schedule(name: str) -> SweepSchedule:
    """A schedule by id or short name (`sla-digest`); anything else is refused."""
    wanted = name.strip().lower()
    for sweep in SCHEDULES:
        if wanted in (sweep.schedule_id, sweep.short_name):
            return sweep
    known = ", ".join(s.short_name for s in SCHEDULES)
    raise UserFacingError(f"there is no schedule {name!r}; use one of: {known}")


async def apply_schedules(client: Client, settings: Settings) -> list[str]:
    """Create each schedule, or update it to this definition, keeping its paused state.

    Returns what was done to each, as "created claims-sla-digest" or "updated ...".
    """
    done = []
    for sweep in SCHEDULES:
        handle = client.get_schedule_handle(sweep.schedule_id)
        try:
            await client.create_schedule(
                sweep.schedule_id,
                sweep.schedule(settings.task_queue),
                memo={SUMMARY_MEMO: sweep.summary},
            )
            done.append(f"created {sweep.schedule_id}")
        except ScheduleAlreadyRunningError:
            await _update(handle, sweep, settings.task_queue)
            done.append(f"updated {sweep.schedule_id}")
    log.info("schedules applied", schedules=done)
    return done


async def _update(handle: ScheduleHandle, sweep: SweepSchedule, task_queue: str) -> None:
    def updated(current: ScheduleUpdateInput) -> ScheduleUpdate:
        state = current.description.schedule.state
        # An operator's pause, and the note they left with it, outlive a re-apply.
        note = (state.note or "") if state.paused else ""
        return ScheduleUpdate(schedule=sweep.schedule(task_queue, paused=state.paused, note=note))

    await handle.update(updated)
