"""`claims patches` against a real dev server: a claim started with the current code
carries every patch through its one marker, by its search attribute and by its history."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from cli.patches_command import IMPLYING_PATCH, KNOWN_PATCHES, patch_query
from runtime.devserver import DevServer
from starter import start_claim
from tests.helpers import eventually, unique_claim
from tests.integration.conftest import WorkerProcess

pytestmark = pytest.mark.integration

CLAIMS = Path(sys.executable).parent / "claims"
# A new review records one marker, which stands for every earlier patch; patches after it
# (a refused payout's) are recorded only where their code runs.
_IDS = [patch.patch_id for patch in KNOWN_PATCHES]
PASSED_BY_A_WAITING_CLAIM = tuple(_IDS[: _IDS.index(IMPLYING_PATCH) + 1])


async def patches_json(*options: str, env: dict[str, str]) -> dict[str, object]:
    """`claims patches --json`, run again if it hits temporalio/sdk-python#300 at exit."""
    for _ in range(3):
        process = await asyncio.create_subprocess_exec(
            CLAIMS, "patches", "--json", *options, env=env, stdout=subprocess.PIPE
        )
        output, _ = await process.communicate()
        if process.returncode != -signal.SIGABRT:
            break
    assert 0 == process.returncode, output.decode()
    document: dict[str, object] = json.loads(output)
    return document


async def test_a_waiting_claim_shows_the_patches_it_passed(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """The claim waits for a person, so it is running: its one marker counts it for every
    patch, the rejection's (not reached yet, but implied) included, by the search
    attribute and by its history alike, and each may be deprecated (every running claim
    holds the marker)."""
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, "claim-review-it")

    async def carrying(patch_id: str) -> int:
        return (await client.count_workflows(patch_query(patch_id))).count

    for patch_id in PASSED_BY_A_WAITING_CLAIM:
        await eventually(
            functools.partial(carrying, patch_id), lambda count: count == 1, interval=0.2
        )
    env = os.environ | {"TEMPORAL_ADDRESS": dev_server.address, "TEMPORAL_NAMESPACE": "default"}
    by_attribute, by_history = await asyncio.gather(
        patches_json(env=env), patches_json("--histories", env=env)
    )
    for document in (by_attribute, by_history):
        uses = {use["patch_id"]: use for use in document["patches"]}  # type: ignore[attr-defined]
        for patch_id in PASSED_BY_A_WAITING_CLAIM:
            assert (1, 1, "deprecate") == (
                uses[patch_id]["running"],
                uses[patch_id]["with_marker"],
                uses[patch_id]["verdict"],
            ), document
    assert "TemporalChangeVersion" == by_attribute["source"]
    assert "their histories" == by_history["source"]
