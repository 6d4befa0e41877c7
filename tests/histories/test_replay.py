"""Recorded histories replay against the current workflow code without non-determinism."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

# The sandbox re-imports this module; models must be the same classes the workflow uses,
# and the codec's native cryptography library cannot be imported a second time.
with workflow.unsafe.imports_passed_through():
    from tests.keys import encrypted_test_converter
    from workflows.claim import workflow_id_for
    from workflows.claim_review import ClaimReviewWorkflow
    from workflows.state import ClaimOutcome

HISTORIES = sorted(Path(__file__).parent.glob("*.json"))


def load(path: Path) -> WorkflowHistory:
    """The history under the workflow id it ran with (`claim-<claim_id>`, checked by the run)."""
    text = path.read_text()
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    claim = json.loads(base64.b64decode(started["input"]["payloads"][0]["data"]))
    return WorkflowHistory.from_json(workflow_id_for(claim["claim_id"]), text)


# One history per path through the review, each also as it was before `untrusted-input`.
PATHS = (
    "auto_approve",
    "manual_approve",
    "refused_then_approved",
    "reject",
    "timeout_escalation",
    "edit_then_approve",
    "request_info",
    "pause_interrupt_cancel",
)


def test_the_corpus_covers_every_path() -> None:
    """Every path through the review, and each as it was before a patch, has a history."""
    assert {
        *PATHS,
        # Recorded before the `rejected-before-notice` patch: must keep replaying.
        "reject_before_rejected_before_notice_patch",
        # Recorded before the `search-attribute-resting-steps` patch.
        "auto_approve_before_resting_steps_patch",
        # Everything untrusted bounded and audited: new paths, and every path as it was.
        "temporal_cancellation",
        "continued_as_new_first_run",
        "continued_as_new",
        *(f"{path}_before_untrusted_input_patch" for path in PATHS),
        # Signatures checked and operator roles enforced: every path as it was before.
        *(
            f"{path}_before_signed_actions_patch"
            for path in (*PATHS, "temporal_cancellation", "continued_as_new_first_run")
        ),
        "continued_as_new_before_signed_actions_patch",
    } <= {p.stem for p in HISTORIES}


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    """The current workflow code issues the same commands the recorded run did."""
    replayer = Replayer(workflows=[ClaimReviewWorkflow], data_converter=encrypted_test_converter())

    await replayer.replay_workflow(load(path))


@workflow.defn(name="ClaimReviewWorkflow")
class CarelessWorkflow(ClaimReviewWorkflow):
    """A careless change: a new timer before the review, without `workflow.patched`."""

    @workflow.run
    async def run(self, *args: Any) -> ClaimOutcome:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(*args)


async def test_the_corpus_catches_a_non_deterministic_change() -> None:
    """Replaying against a changed command sequence fails, so it cannot ship unnoticed."""
    replayer = Replayer(workflows=[CarelessWorkflow], data_converter=encrypted_test_converter())

    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(load(HISTORIES[0]))
