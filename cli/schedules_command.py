"""`claims schedules apply|list|pause|unpause|trigger`: the sweeps' Temporal Schedules.

`claims run` applies them for the local server; on a cluster, `claims schedules apply`
does, once per deploy. The same schedules show, and can be paused, in the Temporal UI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, ScheduleDescription, ScheduleHandle
from temporalio.service import RPCError, RPCStatusCode

from cli.base import cli_settings, command, said
from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.schedules import SCHEDULES, SweepSchedule, apply_schedules, find_schedule

# The steps at which a claim waits long enough for the watch list to change under it.

schedules_app = typer.Typer(
    help="The sweeps on schedule: SLA digest, watch-list re-screen, payout reconciliation.",
    no_args_is_help=True,
)
console = Console()


NameArgument = Annotated[
    str,
    typer.Argument(
        metavar="NAME",
        help="sla-digest, watchlist-rescreen or payout-reconciliation (or the full id)",
    ),
]


@schedules_app.command("apply")
@command
async def apply_command() -> None:
    """Create the three schedules, or bring them up to date; a paused one stays paused.

    Example: claims schedules apply
    """
    settings = cli_settings()
    client = await build_client()
    for line in await apply_schedules(client, settings):
        console.print(line, highlight=False)


@schedules_app.command("list")
@command
async def list_command() -> None:
    """Each schedule: paused or not, what it does, its next and last start.

    Example: claims schedules list
    """
    cli_settings()
    client = await build_client()
    table = Table()
    table.add_column("schedule", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("next start (UTC)")
    table.add_column("last start (UTC)")
    table.add_column("what it does")
    for sweep in SCHEDULES:
        description = await _describe(client, sweep)
        if description is None:
            table.add_row(sweep.schedule_id, "missing", "", "", sweep.summary)
            continue
        info = description.info
        state = description.schedule.state
        upcoming = info.next_action_times[0] if info.next_action_times else None
        last = info.recent_actions[-1].started_at if info.recent_actions else None
        table.add_row(
            sweep.schedule_id,
            "paused" if state.paused else "active",
            f"{upcoming:%Y-%m-%d %H:%M}" if upcoming else "",
            f"{last:%Y-%m-%d %H:%M}" if last else "",
            sweep.summary,
        )
    console.print(table)


@schedules_app.command("pause")
@command
async def pause_command(
    name: NameArgument,
    note: Annotated[str, typer.Option("--note", help="why, shown in the Temporal UI")] = "",
) -> None:
    """Stop a schedule starting runs until it is unpaused (a running one finishes).

    Example: claims schedules pause watchlist-rescreen --note "watch list reloading"
    """
    why = note.strip() or "paused with claims schedules pause"
    await _on_schedule(name, "paused", lambda handle: handle.pause(note=why))


@schedules_app.command("unpause")
@command
async def unpause_command(name: NameArgument) -> None:
    """Let a paused schedule start runs again at its next time.

    Example: claims schedules unpause watchlist-rescreen
    """
    note = "unpaused with claims schedules unpause"
    await _on_schedule(name, "unpaused", lambda handle: handle.unpause(note=note))


@schedules_app.command("trigger")
@command
async def trigger_command(name: NameArgument) -> None:
    """Start a run now (skipped if one is still running), paused or not.

    Example: claims schedules trigger sla-digest
    """
    await _on_schedule(name, "triggered", lambda handle: handle.trigger())


async def _on_schedule(
    name: str, done: str, call: Callable[[ScheduleHandle], Awaitable[None]]
) -> None:
    """Do `call` to the named schedule and say `done`; a missing one in plain words."""
    sweep = find_schedule(name)
    cli_settings()
    client = await build_client()
    await _checked(sweep, call(client.get_schedule_handle(sweep.schedule_id)))
    console.print(f"{done} {sweep.schedule_id}", highlight=False)


async def _checked(sweep: SweepSchedule, call: Awaitable[None]) -> None:
    """Run a schedule call; a schedule that does not exist is said in plain words."""
    try:
        await call
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            raise _missing(sweep) from None
        raise


async def _describe(client: Client, sweep: SweepSchedule) -> ScheduleDescription | None:
    try:
        return await client.get_schedule_handle(sweep.schedule_id).describe()
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return None
        raise


def _missing(sweep: SweepSchedule) -> UserFacingError:
    return UserFacingError(
        f"schedule {said(sweep.schedule_id)} does not exist on this server; create it with "
        "claims schedules apply"
    )
