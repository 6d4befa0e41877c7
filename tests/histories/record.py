"""Record the replay corpus: one history per path through the review, from real servers.

Run after a deliberate workflow change that new claims should follow (and after making
running claims safe with `workflow.patched`):

    .venv/bin/python -m tests.histories.record

Paths that need no timer run on a real dev server; the 72-hour escalation runs on the
time-skipping test server, which is the same protocol with a faster clock.

An evaluation (`ClaimEvalWorkflow` and one of its `ClaimEvalRunWorkflow` children) is
recorded too, as `evaluation*.json`; to record it alone:

    .venv/bin/python -m tests.histories.record evaluation
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from evaluation.runner import start_evaluation, wait_for_result
from runtime.client import ensure_search_attributes
from runtime.devserver import DevServer
from runtime.logs import configure_logging
from runtime.settings import EXAMPLES_DIR
from signals.client import act, claim_handle
from signals.messages import HumanAction
from starter import start_claim
from tests.eval_cases import PagedCases, sample_cases
from tests.helpers import TEST_SERVER, eventually, rests, sample_claim, settings_in
from tests.keys import encrypted_test_converter
from worker import build_activities, create_worker
from workflows import claim_eval
from workflows.claim_review import ClaimReviewWorkflow
from workflows.evaluation import (
    Candidate,
    EvalRequest,
    EvalSource,
    EvalSourceKind,
    child_workflow_id,
    eval_workflow_id,
)
from workflows.search_attributes import CLI_TYPES
from workflows.state import Step

HERE = Path(__file__).parent
FLOOD = 300
KEPT_EARLIER_RUNS = 2
Scenario = Callable[[Client, str], Awaitable[str]]


async def _until_waiting(client: Client, claim_id: str, after_version: int = 0) -> None:
    """Until the claim waits for a person in the run it rests in (it continues as new on
    reaching the gate), so every recording takes the same path."""
    handle = claim_handle(client, claim_id)
    await eventually(
        lambda: handle.query(ClaimReviewWorkflow.state),
        lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL and s.version > after_version,
    )
    await eventually(lambda: rests(handle), bool, what="the claim to rest at the gate")


async def auto_approve(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1001", claim_id="REPLAY-AUTO")
    await start_claim(client, claim, task_queue)
    await claim_handle(client, claim.claim_id).result()
    return claim.claim_id


async def manual_approve(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1002", claim_id="REPLAY-APPROVE")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria", "comment": "photos ok"})
    await handle.result()
    return claim.claim_id


async def refused_then_approved(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1003", claim_id="REPLAY-REFUSED")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await handle.signal(ClaimReviewWorkflow.approve, {"approver": "sam"})
    await handle.signal(ClaimReviewWorkflow.approve, {"comment": "no approver"})
    await handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
    await handle.result()
    return claim.claim_id


async def reject(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1004", claim_id="REPLAY-REJECT")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await handle.signal(ClaimReviewWorkflow.reject, {"approver": "maria", "comment": "duplicate"})
    await handle.result()
    return claim.claim_id


async def edit_then_approve(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1002", claim_id="REPLAY-EDIT")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await act(
        client,
        claim.claim_id,
        HumanAction.EDIT,
        {"approver": "maria", "payout_amount": 1000, "customer_message": "We pay 1,000.00 USD."},
    )
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"})
    await handle.result()
    return claim.claim_id


async def request_info(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1003", claim_id="REPLAY-INFO")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await handle.signal(
        ClaimReviewWorkflow.request_info, {"requested_by": "maria", "what": "repair photos"}
    )
    await handle.signal(
        ClaimReviewWorkflow.submit_document,
        {
            "submitted_by": "claimant",
            "document": {"doc_id": "A-3", "kind": "photo", "uri": "s3://d/A-3.jpg"},
        },
    )
    await _until_waiting(client, claim.claim_id, after_version=9)
    await handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
    await handle.result()
    return claim.claim_id


async def pause_interrupt_cancel(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1004", claim_id="REPLAY-OPERATOR")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await act(client, claim.claim_id, HumanAction.PAUSE, {"operator": "lee"})
    await act(
        client, claim.claim_id, HumanAction.REASSIGN, {"operator": "lee", "assignee": "maria"}
    )
    await act(
        client,
        claim.claim_id,
        HumanAction.INTERRUPT,
        {"operator": "lee", "information": "second claim reported", "priority": 80},
    )
    await act(client, claim.claim_id, HumanAction.RESUME, {"operator": "lee"})
    await act(
        client, claim.claim_id, HumanAction.CANCEL, {"operator": "lee", "reason": "duplicate"}
    )
    await handle.result()
    return claim.claim_id


async def temporal_cancellation(client: Client, task_queue: str) -> str:
    claim = sample_claim("CLM-1002", claim_id="REPLAY-TEMPORAL-CANCEL")
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    handle = claim_handle(client, claim.claim_id)
    await handle.signal("approve", args=[{"approver": "maria"}, {}])
    await handle.signal("aprove", {"approver": "maria"})
    await handle.cancel()
    await handle.result()
    return claim.claim_id


async def continued_as_new(client: Client, task_queue: str) -> str:
    """A flood of refused signals between two approvals: the review continues as new."""
    claim = sample_claim("CLM-1003", claim_id="REPLAY-CONTINUED", amount=12800)
    await start_claim(client, claim, task_queue)
    await _until_waiting(client, claim.claim_id)
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"})
    handle = claim_handle(client, claim.claim_id)
    for number in range(FLOOD):
        await handle.signal("approve", {"approver": "mallory", "comment": f"flood {number}"})
    await eventually(lambda: handle.query(ClaimReviewWorkflow.state), lambda s: len(s.runs) > 2)
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "dana"})
    await handle.result()
    return claim.claim_id


async def timeout_escalation(env: WorkflowEnvironment, task_queue: str) -> str:
    claim = sample_claim("CLM-1002", claim_id="REPLAY-ESCALATE")
    await start_claim(env.client, claim, task_queue)
    await _until_waiting(env.client, claim.claim_id)
    await env.sleep(timedelta(hours=73))
    handle = claim_handle(env.client, claim.claim_id)
    await handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
    await handle.result()
    return claim.claim_id


# The evaluation's recording: three decided cases, two candidates, two cases a page.
EVAL_ID = "replay-evaluation"
EVAL_CASES_A_PAGE = 2
# The child whose history is kept: a rerun the current settings send to a person.
EVAL_CHILD = ("current", "CLM-1002")


async def evaluation(client: Client, task_queue: str) -> None:
    """Two candidates over three cases, continued as new after the first page.

    `RUNS_PER_HISTORY` is lowered to two reruns while this runs (as the continue-as-new
    integration test does), so the first page's four reruns hand over to a second run.
    The replay test lowers it the same way.
    """
    request = EvalRequest(
        eval_id=EVAL_ID,
        source=EvalSource(kind=EvalSourceKind.DATASET, path="/srv/claims/eval-dataset"),
        candidates=[
            Candidate(name="current"),
            Candidate(name="generous", policy_overrides={"auto_approval_limit": 5000}),
        ],
        concurrency=2,
    )
    runs_per_history = claim_eval.RUNS_PER_HISTORY
    claim_eval.RUNS_PER_HISTORY = 2
    try:
        started = await start_evaluation(client, request, task_queue)
        await wait_for_result(started.handle, lambda _counts: None)
    finally:
        claim_eval.RUNS_PER_HISTORY = runs_per_history
    last = await client.get_workflow_handle(eval_workflow_id(EVAL_ID)).fetch_history()
    first_run_id = last.events[0].workflow_execution_started_event_attributes
    first = client.get_workflow_handle(
        eval_workflow_id(EVAL_ID), run_id=first_run_id.continued_execution_run_id
    )
    child = client.get_workflow_handle(child_workflow_id(EVAL_ID, *EVAL_CHILD))
    await _export_history(await first.fetch_history(), "evaluation_first_run")
    await _export_history(last, "evaluation")
    await _export_history(await child.fetch_history(), "evaluation_run")


async def record_evaluation() -> None:
    """The evaluation's recordings alone, on a dev server and worker of their own.

    Its worker reads cases from `PagedCases`, not the dataset loader, so the pages (and
    the continue-as-new between them) are the same at every recording.
    """
    cases = sample_cases()
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_in(Path(tmp))
        activities = [
            *build_activities(settings),
            PagedCases(cases, per_page=EVAL_CASES_A_PAGE).load,
        ]
        server = DevServer.headless(Path(tmp) / "temporal.db", CLI_TYPES)
        client = await server.start(data_converter=encrypted_test_converter())
        try:
            async with create_worker(
                client, settings, activities=activities, with_eval_loader=False
            ):
                await evaluation(client, settings.task_queue)
        finally:
            server.stop()


async def _export(client: Client, claim_id: str, name: str) -> None:
    """The latest run as `<name>.json`; the runs before it as `<name>_run_<k>.json`, the
    first run's k being 1 (a review continues as new at every approval gate it reaches).

    Past `KEPT_EARLIER_RUNS` they are not kept: a flood's middle runs repeat one handover.
    """
    latest = await claim_handle(client, claim_id).fetch_history()
    earlier: list[WorkflowHistory] = []
    history = latest
    while previous := history.events[
        0
    ].workflow_execution_started_event_attributes.continued_execution_run_id:
        run = client.get_workflow_handle(latest.workflow_id, run_id=previous)
        history = await run.fetch_history()
        earlier.insert(0, history)
    for number, run_history in enumerate(earlier[:KEPT_EARLIER_RUNS], start=1):
        await _export_history(run_history, f"{name}_run_{number}")
    await _export_history(latest, name)


async def _export_history(history: WorkflowHistory, name: str) -> None:
    path = HERE / f"{name}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"{path.name}: {len(history.events)} events")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # A small history budget, so that the flood scenario continues as new quickly.
        approvers = Path(tmp) / "approvers.toml"
        approvers.write_text(
            f"history_budget_events = {FLOOD // 2}\n"
            + (EXAMPLES_DIR / "approvers.toml").read_text()
        )
        settings = settings_in(Path(tmp), CLAIMS_APPROVERS_FILE=str(approvers))
        server = DevServer.headless(Path(tmp) / "temporal.db", CLI_TYPES)
        client = await server.start(data_converter=encrypted_test_converter())
        try:
            async with create_worker(client, settings):
                scenarios: list[Scenario] = [
                    auto_approve,
                    manual_approve,
                    refused_then_approved,
                    reject,
                    edit_then_approve,
                    request_info,
                    pause_interrupt_cancel,
                    temporal_cancellation,
                    continued_as_new,
                ]
                for scenario in scenarios:
                    claim_id = await scenario(client, settings.task_queue)
                    await _export(client, claim_id, scenario.__name__)
        finally:
            server.stop()

        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER), data_converter=encrypted_test_converter()
        )
        try:
            await ensure_search_attributes(env.client, CLI_TYPES)
            async with create_worker(env.client, settings):
                claim_id = await timeout_escalation(env, settings.task_queue)
                await _export(env.client, claim_id, "timeout_escalation")
        finally:
            await env.shutdown()

    await record_evaluation()


if __name__ == "__main__":
    configure_logging("console", "WARNING")
    # `python -m tests.histories.record evaluation` records the evaluation's histories only.
    asyncio.run(record_evaluation() if sys.argv[1:] == ["evaluation"] else main())
