"""The embedded dev server refuses payloads over 512 KiB, before they reach a history.

Temporal records every signal it accepts, refused by the claim or not; with its default
2 MB limit a few dozen big signals push a history to the 50 MB at which the server
terminates the claim. No worker runs here: the limit is the server's own.
"""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from runtime.devserver import BLOB_SIZE_ERROR_BYTES, BLOB_SIZE_WARN_BYTES, DevServer
from tests.helpers import Handle, start, unique_claim
from workflows.claim_review import ClaimReviewWorkflow

pytestmark = pytest.mark.integration
KIB = 1024


async def signalled_sizes(client: Client, handle: Handle) -> list[int]:
    """The size of each signal the claim's history holds."""
    history = await client.get_workflow_handle(handle.id).fetch_history()
    return [
        event.workflow_execution_signaled_event_attributes.input.ByteSize()
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


def approval(comment_bytes: int) -> dict[str, str]:
    return {"approver": "maria", "comment": "x" * comment_bytes}


async def test_a_signal_over_the_limit_is_refused_and_leaves_no_trace(
    dev_server: DevServer,
) -> None:
    """100 KiB passes, 300 KiB passes (the server logs a warning), 600 KiB is refused
    with INVALID_ARGUMENT, and only the two accepted signals are in the history."""
    client = await dev_server.start()
    handle = await start(client, unique_claim("CLM-1002"), "no-worker-listens-here")

    await handle.signal(ClaimReviewWorkflow.approve, approval(100 * KIB))
    await handle.signal(ClaimReviewWorkflow.approve, approval(300 * KIB))
    with pytest.raises(RPCError) as refused:
        await handle.signal(ClaimReviewWorkflow.approve, approval(600 * KIB))

    assert (512 * KIB, 256 * KIB) == (BLOB_SIZE_ERROR_BYTES, BLOB_SIZE_WARN_BYTES)
    assert (RPCStatusCode.INVALID_ARGUMENT, "Blob data size exceeds limit.") == (
        refused.value.status,
        refused.value.message,
    )
    sizes = await signalled_sizes(client, handle)
    assert 2 == len(sizes), sizes
    assert 100 * KIB < sizes[0] < BLOB_SIZE_WARN_BYTES < sizes[1] < BLOB_SIZE_ERROR_BYTES
