"""Worker metrics on a Prometheus endpoint: the SDK's and the agent's own."""

from __future__ import annotations

import asyncio
import urllib.request

import pytest

from runtime.devserver import DevServer
from runtime.ports import free_port
from signals.client import claim_handle
from starter import start_claim
from tests.helpers import eventually, unique_claim
from tests.integration.conftest import WorkerProcess

pytestmark = pytest.mark.integration


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


async def test_worker_exposes_claim_and_sdk_metrics(
    dev_server: DevServer, worker_process: WorkerProcess
) -> None:
    """After one auto-approved claim: outcomes, model tokens and latency, SDK task metrics."""
    port = free_port()
    client = await dev_server.start()
    worker_process(CLAIMS_METRICS_PORT=str(port))
    claim = unique_claim("CLM-1001")
    await start_claim(client, claim, "claim-review-it")
    await claim_handle(client, claim.claim_id).result()

    # The SDK records a workflow's completion after the workflow's own last metric: wait
    # for both, or a busy machine scrapes between them.
    metrics = await eventually(
        lambda: asyncio.to_thread(scrape, port),
        lambda text: "claim_outcomes" in text and "temporal_workflow_completed{" in text,
    )

    lines = metrics.splitlines()

    def sample(name: str, *labels: str) -> float:
        [line] = [
            line
            for line in lines
            if line.startswith(name + "{") and all(label in line for label in labels)
        ]
        return float(line.rsplit(" ", 1)[1])

    assert 1 == sample("claim_outcomes", 'outcome="completed"')
    assert sample("claim_llm_tokens", 'direction="input"', 'model="offline"') > 0
    assert 2 == sample("claim_llm_latency_count")
    assert 1 == sample("temporal_workflow_completed")
