"""Recorded histories replay against the current workflow code without non-determinism."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message
from temporalio import workflow
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.histories import EVALUATIONS, claim_recordings

# The sandbox re-imports this module; models must be the same classes the workflow uses,
# and the codec's native cryptography library cannot be imported a second time.
with workflow.unsafe.imports_passed_through():
    from runtime.settings import EXAMPLES_DIR
    from runtime.workflow_runner import sandboxed_runner
    from tests.keys import TEST_KEY_RING, encrypted_test_converter
    from worker import DETERMINISTIC_PACKAGES
    from workflows import claim_eval
    from workflows.claim import workflow_id_for
    from workflows.claim_eval import ClaimEvalRunWorkflow, ClaimEvalWorkflow
    from workflows.claim_review import ClaimReviewWorkflow
    from workflows.evaluation import child_workflow_id, eval_workflow_id
    from workflows.state import ClaimOutcome

RECORDINGS = sorted(Path(__file__).parent.glob("*.json"))
# The evaluation's recordings replay apart (its own workflows, the worker's sandbox);
# every other recording is a claim review's.
HISTORIES = claim_recordings()


async def load(path: Path) -> WorkflowHistory:
    """The history as stored (encrypted, or plain for recordings made before encryption),
    under the workflow id it ran with (`claim-<claim_id>`, checked by the run)."""
    text = path.read_text()  # noqa: ASYNC240 - a small file, read once per test
    raw = WorkflowHistory.from_json(path.stem, text)
    first = raw.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    [claim] = await encrypted_test_converter().decode([first], [dict])
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
# What `tests.histories.record` writes now, encrypted with the test keys.
CURRENT = (
    *PATHS,
    "temporal_cancellation",
    "continued_as_new_first_run",
    "continued_as_new",
)
# The paths that reach an approval gate, where a review now continues as new.
GATED = (*(path for path in PATHS if path != "auto_approve"), "temporal_cancellation")
SAMPLE_CLAIMANTS = [
    json.loads(p.read_text())["claimant"]["name"]
    for p in sorted((EXAMPLES_DIR / "claims").glob("*.json"))
]


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
        # Recorded in plain text before payloads were encrypted: still replay.
        *(f"{path}_before_encryption" for path in CURRENT),
        # Search attributes upserted at every change, before one upsert per task.
        *(f"{path}_before_coalesced_search_attributes_patch" for path in CURRENT),
        # One marker per patch passed, before one marker stood for every earlier patch.
        *(f"{path}_before_one_patch_marker_patch" for path in CURRENT),
        # An evaluation continued as new once, and one of its dry reruns.
        *EVALUATIONS,
        # Each run that reached an approval gate and continued as new there, and every
        # gated path as it was before: one run from the claim to its outcome.
        *(f"{path}_run_1" for path in (*GATED, "continued_as_new")),
        "request_info_run_2",
        "pause_interrupt_cancel_run_2",
        "continued_as_new_run_2",
        *(f"{path}_before_rest_at_approval_gate_patch" for path in GATED),
    } <= {p.stem for p in RECORDINGS}


def _claim_upserts_per_task(events: Sequence[HistoryEvent]) -> list[int]:
    """Upserts of the claim's own search attributes after each completed workflow task.

    The SDK's own upsert of `TemporalChangeVersion`, one per patch, is not counted.
    """
    counts: list[int] = []
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            counts.append(0)
        elif event.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes
            if set(fields.indexed_fields) != {"TemporalChangeVersion"}:
                counts[-1] += 1
    return counts


@pytest.mark.parametrize("name", CURRENT)
def test_the_current_recordings_upsert_once_per_task_at_most(name: str) -> None:
    """Whatever a workflow task changed (step, assignee, deadline), one upsert writes it."""
    path = Path(__file__).parent / f"{name}.json"
    counts = _claim_upserts_per_task(WorkflowHistory.from_json(name, path.read_text()).events)

    assert sum(counts) > 0
    assert max(counts) == 1


@pytest.mark.parametrize("name", CURRENT)
def test_the_current_recordings_hold_one_patch_marker(name: str) -> None:
    """A new review records `one-patch-marker` alone, for every earlier patch it takes.

    Each marker is also an upsert of TemporalChangeVersion: one per patch was two history
    events and a visibility write apiece.
    """
    path = Path(__file__).parent / f"{name}.json"
    events = WorkflowHistory.from_json(name, path.read_text()).events
    markers = [
        json.loads(payload.data)["id"]
        for event in events
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == "core_patch"
        for payload in event.marker_recorded_event_attributes.details["patch-data"].payloads
    ]

    assert ["one-patch-marker"] == markers


def _payloads(message: Message) -> Iterator[Payload]:
    """Every payload in a history message, outside search attributes (never encrypted)."""
    for field, value in message.ListFields():
        if field.message_type is None or isinstance(value, SearchAttributes):
            continue
        if field.message_type.GetOptions().map_entry:
            children = (
                list(value.values())
                if field.message_type.fields_by_name["value"].message_type
                else []
            )
        elif field.is_repeated:
            children = list(value)
        else:
            children = [value]
        for child in children:
            if isinstance(child, Payload):
                yield child
            elif not isinstance(child, SearchAttributes):
                yield from _payloads(child)


@pytest.mark.parametrize("name", CURRENT)
def test_the_current_recordings_hold_only_ciphertext(name: str) -> None:
    """Every payload of a current recording is encrypted with a test key; no name shows.

    Search attributes stay plain for Temporal to index (claim step, amount, assignee).
    """
    path = Path(__file__).parent / f"{name}.json"
    history = WorkflowHistory.from_json(name, path.read_text()).events
    # Patch markers are written by the SDK's core in plain JSON; they name only the patch.
    found = [
        p
        for event in history
        if event.marker_recorded_event_attributes.marker_name != "core_patch"
        for p in _payloads(event)
    ]

    assert found
    assert {b"binary/encrypted"} == {p.metadata["encoding"] for p in found}
    assert {p.metadata["encryption-key-id"] for p in found} <= {
        k.key_id.encode() for k in TEST_KEY_RING.keys
    }
    for claimant in SAMPLE_CLAIMANTS:
        assert claimant.encode() not in path.read_bytes()


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    """The current workflow code issues the same commands the recorded run did."""
    replayer = Replayer(workflows=[ClaimReviewWorkflow], data_converter=encrypted_test_converter())

    await replayer.replay_workflow(await load(path))


@pytest.mark.parametrize("name", CURRENT)
async def test_recorded_history_replays_on_the_workers_runner(name: str) -> None:
    """As a worker replays a claim it had not cached: the workflows package passed through,
    serialization contexts answered outside the sandbox, every payload decrypted."""
    converter = encrypted_test_converter()
    replayer = Replayer(
        workflows=[ClaimReviewWorkflow],
        data_converter=converter,
        workflow_runner=sandboxed_runner(converter, DETERMINISTIC_PACKAGES),
    )

    result = await replayer.replay_workflow(await load(Path(__file__).parent / f"{name}.json"))

    assert result.replay_failure is None


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
        await replayer.replay_workflow(await load(HISTORIES[0]))


async def load_evaluation(path: Path) -> WorkflowHistory:
    """An evaluation's history under the id it ran with: `eval-<id>` for the evaluation,
    `eval-<id>/<candidate>/<case>` for a rerun (its parent names the evaluation)."""
    text = path.read_text()  # noqa: ASYNC240 - a small file, read once per test
    started = WorkflowHistory.from_json(path.stem, text).events[0]
    attributes = started.workflow_execution_started_event_attributes
    [request] = await encrypted_test_converter().decode([attributes.input.payloads[0]], [dict])
    parent = attributes.parent_workflow_execution.workflow_id
    if not parent:
        return WorkflowHistory.from_json(eval_workflow_id(request["eval_id"]), text)
    eval_id = parent.removeprefix(eval_workflow_id(""))
    run_id = child_workflow_id(eval_id, request["candidate"], request["case_id"])
    return WorkflowHistory.from_json(run_id, text)


def test_the_evaluation_recordings_are_what_the_recorder_writes() -> None:
    """The first run ended by continuing as new, the second by its result, and a rerun is
    one of its children: the paths the evaluation replay checks."""
    ends = {}
    for name in EVALUATIONS:
        path = Path(__file__).parent / f"{name}.json"
        events = WorkflowHistory.from_json(name, path.read_text()).events
        ends[name] = (events[0].workflow_execution_started_event_attributes, events[-1])

    assert ends["evaluation_first_run"][1].HasField(
        "workflow_execution_continued_as_new_event_attributes"
    )
    assert ends["evaluation"][0].continued_execution_run_id
    assert ends["evaluation"][1].HasField("workflow_execution_completed_event_attributes")
    assert "ClaimEvalRunWorkflow" == ends["evaluation_run"][0].workflow_type.name
    assert ends["evaluation_run"][0].parent_workflow_execution.workflow_id


@pytest.mark.parametrize("name", EVALUATIONS)
def test_the_evaluation_recordings_hold_only_ciphertext(name: str) -> None:
    """An evaluation carries whole claims in its inputs: every payload is encrypted."""
    test_the_current_recordings_hold_only_ciphertext(name)


@pytest.mark.parametrize("name", EVALUATIONS)
async def test_evaluation_history_replays(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluation and its rerun replay as the worker runs them: the workflows package
    passed through the sandbox, with the two-rerun budget the recording continued at."""
    monkeypatch.setattr(claim_eval, "RUNS_PER_HISTORY", 2)
    replayer = Replayer(
        workflows=[ClaimEvalWorkflow, ClaimEvalRunWorkflow],
        data_converter=encrypted_test_converter(),
        workflow_runner=sandboxed_runner(encrypted_test_converter(), DETERMINISTIC_PACKAGES),
    )

    await replayer.replay_workflow(await load_evaluation(Path(__file__).parent / f"{name}.json"))
