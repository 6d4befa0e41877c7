"""The evaluation workflow on a real dev server: one dry rerun per case and candidate.

The cases come from a loader of the test's own (the same activity name the worker
registers), so these tests are about the workflow: its answers, its bounds, its
continue-as-new and its refusal to pay or notify anyone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Replayer

from activities.payments import Ledger
from evaluation.runner import EvaluationError, start_evaluation, wait_for_result
from runtime.devserver import DevServer
from runtime.workflow_runner import sandboxed_runner
from tests.eval_cases import PagedCases, sample_cases
from tests.helpers import settings_in
from worker import DETERMINISTIC_PACKAGES, build_activities, create_worker
from workflows import claim_eval
from workflows.claim_eval import ClaimEvalRunWorkflow, ClaimEvalWorkflow
from workflows.evaluation import (
    Candidate,
    EvalRequest,
    EvalSource,
    EvalSourceKind,
    Route,
)

pytestmark = pytest.mark.integration

TASK_QUEUE = "claim-eval-it"


CASES = sample_cases()


async def evaluate(
    client: Client, tmp_path: Path, request: EvalRequest, loader: PagedCases
) -> tuple[object, Path]:
    settings = settings_in(tmp_path, CLAIMS_TASK_QUEUE=TASK_QUEUE)
    activities = [*build_activities(settings), loader.load]
    async with create_worker(
        client, settings, interceptors=[], activities=activities, with_eval_loader=False
    ):
        started = await start_evaluation(client, request, TASK_QUEUE)
        result = await wait_for_result(started.handle, lambda _counts: None)
    return result, settings.ledger_db


async def test_each_candidate_reruns_each_case_once_and_nothing_is_paid(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """Two candidates over three cases: six dry reruns, a raised limit auto-approves more.

    CLM-1002 (1,250 USD) is over the default 1,000 auto-approval limit, so the current
    settings send it to a person, and a 5,000 limit lets the agent pay it. The dry runs
    write nothing to the ledger: no payout, no notice.
    """
    client = await dev_server.start()
    request = EvalRequest(
        eval_id="it-two-candidates",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path)),
        candidates=[
            Candidate(name="current"),
            Candidate(name="generous", policy_overrides={"auto_approval_limit": 5000}),
        ],
        concurrency=3,
    )
    loader = PagedCases(CASES)

    result, ledger = await evaluate(client, tmp_path, request, loader)

    routes = {(a.candidate, a.case_id): a.route for a in result.answers}  # type: ignore[attr-defined]
    assert 6 == len(routes)
    assert Route.HUMAN == routes[("current", "CLM-1002")]
    assert Route.AUTO == routes[("generous", "CLM-1002")]
    assert ["CLM-1001", "CLM-1002", "CLM-1004"] == [lab.case_id for lab in result.labels]  # type: ignore[attr-defined]
    assert all(a.model_turns >= 1 and a.input_tokens > 0 for a in result.answers)  # type: ignore[attr-defined]
    assert 2 == loader.pages_served
    assert ([], []) == (
        Ledger(ledger).payouts_for("CLM-1002"),
        Ledger(ledger).notices_for("CLM-1002"),
    )


async def test_a_model_the_worker_cannot_use_is_an_error_not_a_referral(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """A candidate whose model never answers was not evaluated: each rerun is an error.

    Counted as "sent to a person", such a candidate would agree with every human route
    and pass `--fail-if dangerous>0` without a single model turn.
    """
    client = await dev_server.start()
    request = EvalRequest(
        eval_id="it-unusable-model",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path)),
        candidates=[Candidate(name="nokey", llm="openai:gpt-4o-mini")],
    )

    result, _ledger = await evaluate(client, tmp_path, request, PagedCases(CASES[1:2]))

    (answer,) = result.answers  # type: ignore[attr-defined]
    assert "model" in answer.error


async def test_continued_as_new_evaluation_replays_and_counts_each_case_once(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An evaluation that continues as new between pages: every run's history replays,
    and a case met again on a later page (after the hand-over) is evaluated once."""
    monkeypatch.setattr(claim_eval, "RUNS_PER_HISTORY", 2)
    client = await dev_server.start()
    request = EvalRequest(
        eval_id="it-continued",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path)),
        candidates=[Candidate(name="current")],
    )
    loader = PagedCases([*CASES, CASES[0]])

    result, _ledger = await evaluate(client, tmp_path, request, loader)

    answered = sorted(a.case_id for a in result.answers)  # type: ignore[attr-defined]
    assert ["CLM-1001", "CLM-1002", "CLM-1004"] == answered
    runs = [
        execution.run_id
        async for execution in client.list_workflows("WorkflowId = 'eval-it-continued'")
    ]
    assert len(runs) >= 2
    handle = client.get_workflow_handle("eval-it-continued")
    replayer = Replayer(
        workflows=[ClaimEvalWorkflow, ClaimEvalRunWorkflow],
        data_converter=client.data_converter,
        # As the worker runs them: the workflows package shared, so the patched page
        # budget holds in the replay too.
        workflow_runner=sandboxed_runner(client.data_converter, DETERMINISTIC_PACKAGES),
    )
    for run_id in runs:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        await replayer.replay_workflow(history)


async def test_an_evaluation_stops_taking_cases_before_its_state_outgrows_a_payload(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With room for one answered case only, the evaluation reruns one and says why it
    stopped, instead of growing a result Temporal would refuse to store."""
    monkeypatch.setattr(claim_eval, "PROGRESS_BYTES_BUDGET", 6000)
    client = await dev_server.start()
    request = EvalRequest(
        eval_id="it-budget",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path)),
        candidates=[Candidate(name="current")],
    )
    loader = PagedCases(CASES)

    result, _ledger = await evaluate(client, tmp_path, request, loader)

    assert ["CLM-1001"] == [a.case_id for a in result.answers]  # type: ignore[attr-defined]
    assert "stops at 1 cases" in result.skipped[-1]  # type: ignore[attr-defined]
    assert 1 == loader.pages_served


async def test_an_id_in_use_by_other_settings_is_refused_not_reopened(
    dev_server: DevServer, tmp_path: Path
) -> None:
    """`--id` of an evaluation started with other candidates or another source: reopening
    it would print and gate that evaluation's numbers as if they were these settings'."""
    client = await dev_server.start()
    source = EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path))
    first = EvalRequest(eval_id="it-same-id", source=source, candidates=[Candidate(name="a")])
    started = await start_evaluation(client, first, "no-worker-here")
    try:
        assert started.started
        again = await start_evaluation(client, first.model_copy(update={"concurrency": 2}), "q")
        assert not again.started
        other = first.model_copy(
            update={"candidates": [Candidate(name="a", llm="openai:gpt-4o-mini")]}
        )
        with pytest.raises(EvaluationError, match="other settings"):
            await start_evaluation(client, other, "no-worker-here")
    finally:
        await started.handle.terminate("test over")


async def test_the_rerun_cap_says_where_it_stopped(
    dev_server: DevServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two candidates under a cap of two reruns: one case is evaluated and the report
    says the rest were left out by the cap, rather than the source looking shorter."""
    monkeypatch.setattr(claim_eval, "MAX_EVAL_RUNS", 2)
    client = await dev_server.start()
    request = EvalRequest(
        eval_id="it-run-cap",
        source=EvalSource(kind=EvalSourceKind.DATASET, path=str(tmp_path)),
        candidates=[Candidate(name="a"), Candidate(name="b")],
    )

    result, _ledger = await evaluate(client, tmp_path, request, PagedCases(CASES))

    assert ["CLM-1001"] == [label.case_id for label in result.labels]  # type: ignore[attr-defined]
    assert "2 reruns at most" in result.skipped[-1]  # type: ignore[attr-defined]
