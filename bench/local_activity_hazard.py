"""Check whether local activities replay safely next to queries and signals.

    .venv/bin/python -m bench.local_activity_hazard [--runs N]

Runs `LocalReadWorkflow` N times on a dev server while a client queries it without pause
and sends a signal around its first workflow task, then replays every history. With
temporalio 1.35 a query can make the worker finish the first workflow task before it hands
over the local activity's result; the result then arrives a task later, after the signal,
while a replay hands it over in the first task. Histories that fail to replay are the
reason the agent's tools are regular activities: when this reports none, local activities
are worth another look.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Replayer, Worker

from bench.hazard_workflow import LocalReadWorkflow, act_on_it, read_rules
from runtime.devserver import DevServer
from runtime.logs import configure_logging
from workflows.search_attributes import CLI_TYPES

TASK_QUEUE = "local-read-hazard"


@dataclass
class Tally:
    runs: int = 0
    late_results: int = 0  # a workflow task scheduled right after the local activity's marker
    not_replaying: int = 0


async def keep_querying(handle: WorkflowHandle[LocalReadWorkflow, int]) -> None:
    while True:
        with contextlib.suppress(Exception):
            await handle.query(LocalReadWorkflow.is_paused)
        await asyncio.sleep(0.002)


async def one_run(client: Client, tally: Tally) -> None:
    handle = await client.start_workflow(
        LocalReadWorkflow.run, id=f"hazard-{uuid.uuid4().hex[:10]}", task_queue=TASK_QUEUE
    )
    poller = asyncio.create_task(keep_querying(handle))
    try:
        # Around the first workflow task (no need for a secure random here).
        await asyncio.sleep(random.uniform(0, 0.08))  # noqa: S311
        await handle.signal(LocalReadWorkflow.pause)
        await handle.result()
    finally:
        poller.cancel()
    history = await handle.fetch_history()
    events = list(history.events)
    tally.runs += 1
    tally.late_results += any(
        a.HasField("marker_recorded_event_attributes")
        and b.HasField("workflow_task_scheduled_event_attributes")
        for a, b in itertools.pairwise(events)
    )
    try:
        await Replayer(workflows=[LocalReadWorkflow]).replay_workflow(history)
    except Exception:
        tally.not_replaying += 1


async def main(runs: int) -> Tally:
    tally = Tally()
    with tempfile.TemporaryDirectory() as tmp:
        server = DevServer.headless(Path(tmp) / "hazard.db", CLI_TYPES)
        client = await server.start()
        try:
            async with Worker(
                client,
                task_queue=TASK_QUEUE,
                workflows=[LocalReadWorkflow],
                activities=[read_rules, act_on_it],
            ):
                for _ in range(0, runs, 8):
                    await asyncio.gather(*(one_run(client, tally) for _ in range(8)))
        finally:
            server.stop()
    return tally


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=48)
    args = parser.parse_args()
    configure_logging("console", "ERROR")
    tally = asyncio.run(main(args.runs))
    print(
        f"{tally.runs} runs: {tally.late_results} with the local activity's result handed "
        f"over a task late, {tally.not_replaying} histories that do not replay"
    )


if __name__ == "__main__":
    cli()
