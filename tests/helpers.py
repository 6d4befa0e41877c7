"""Shared test helpers: sample claims, settings in a temp dir, and eventual assertions."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from temporalio.client import Client, WorkflowHandle

from runtime.settings import EXAMPLES_DIR, Settings
from workflows.claim import Claim
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import ClaimOutcome, ClaimState, Step

T = TypeVar("T")

BIN_DIR = Path(sys.executable).parent
TEST_SERVER = BIN_DIR / "temporal-test-server"
TEMPORAL_CLI = BIN_DIR / "temporal"


def sample_claim(sample: str = "CLM-1002", **changes: object) -> Claim:
    """A claim from examples/claims, optionally changed (and validated again)."""
    data = json.loads((EXAMPLES_DIR / "claims" / f"{sample}.json").read_text())
    return Claim.model_validate(data | changes)


def unique_claim(sample: str = "CLM-1002", **changes: object) -> Claim:
    """A sample claim under a fresh id, so tests sharing a server never collide."""
    return sample_claim(sample, claim_id=f"{sample}-{uuid.uuid4().hex[:8]}", **changes)


def settings_in(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env(
        {
            "CLAIMS_DATA_DIR": str(tmp_path),
            "CLAIMS_TASK_QUEUE": f"claims-test-{uuid.uuid4().hex[:8]}",
            **env,
        }
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    within: float = 15.0,
    interval: float = 0.05,
) -> T:
    """Poll `probe` until `until(result)` holds; fail with the last result if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await probe()
        if until(result):
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value: {result!r}")
        await asyncio.sleep(interval)


Handle = WorkflowHandle[ClaimReviewWorkflow, ClaimOutcome]


async def start(client: Client, claim: Claim, task_queue: str) -> Handle:
    """Start a review the way the starter does, minus the checks tests do not need."""
    return await client.start_workflow(
        ClaimReviewWorkflow.run, claim, id=claim.workflow_id, task_queue=task_queue
    )


async def state_of(handle: Handle) -> ClaimState:
    return await handle.query(ClaimReviewWorkflow.state)


async def until_step(handle: Handle, step: Step) -> ClaimState:
    return await eventually(lambda: state_of(handle), lambda s: s.current_step is step)
