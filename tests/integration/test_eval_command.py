"""`claims eval` end to end: the example dataset, the report, the gate, and a worker killed
halfway that costs no rerun.

Runs the `claims` app in-process (in a thread: each command runs its own event loop)
against a real dev server and `worker.py` processes, as a person would after `make run`.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from activities.payments import Ledger
from cli.eval_command import GATE_FAILED_EXIT
from cli.main import app
from runtime.devserver import DevServer
from runtime.settings import PROJECT_ROOT
from tests.helpers import eventually
from tests.integration.conftest import WorkerProcess
from workflows.claim_eval import ClaimEvalWorkflow
from workflows.evaluation import EvalCounts, eval_workflow_id

pytestmark = pytest.mark.integration

QUEUE = "claim-review-it"
DATASET = PROJECT_ROOT / "examples" / "eval"
# The dataset's first page: its eighth case (CLM-E0008) is one a person cut after reading
# the documents, which a 5,000 limit pays in full.
CASES = 25
KILLED_CASES = 20


def claims(server: DevServer, *args: str) -> Result:
    """`claims --address <server> ...`, in-process."""
    return CliRunner().invoke(app, ["--address", server.address, *args])


async def in_thread(server: DevServer, *args: str) -> Result:
    return await asyncio.to_thread(claims, server, *args)


async def test_a_raised_limit_is_evaluated_reported_in_html_and_gated(
    dev_server: DevServer,
    worker_process: WorkerProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The example dataset under auto_approval_limit=5000 beside the current settings: the
    table, the JSON, the HTML page and `--fail-if dangerous>0`, which the raised limit
    trips (the dataset has claims over 1,000 that a person rejected or paid less), so the
    command exits 3 after writing everything. Nothing is paid: the ledger stays empty.
    """
    monkeypatch.setenv("CLAIMS_TASK_QUEUE", QUEUE)
    monkeypatch.setenv("CLAIMS_DATA_DIR", str(tmp_path))
    await dev_server.start()
    worker_process()
    html = tmp_path / "report.html"

    result = await in_thread(
        dev_server,
        "eval",
        "--dataset",
        str(DATASET),
        "--limit",
        str(CASES),
        "--with-current",
        "--set",
        "auto_approval_limit=5000",
        "--id",
        "it-limit",
        "--json",
        "--html",
        str(html),
        "--fail-if",
        "dangerous>0",
    )

    assert GATE_FAILED_EXIT == result.exit_code, result.output
    report = json.loads(result.stdout)
    by_name = {c["name"]: c for c in report["candidates"]}
    assert {"current", "candidate"} == set(by_name)
    assert CASES == report["cases"]
    assert all(CASES == c["answered"] and 0 == c["errors"] for c in by_name.values())
    assert len(by_name["candidate"]["dangerous"]) > len(by_name["current"]["dangerous"])
    assert "gate failed" in result.stderr
    assert "dangerous" in result.stderr
    assert html.read_text().startswith("<!DOCTYPE html>")
    assert 0o600 == html.stat().st_mode & 0o777
    ledger = Ledger(tmp_path / "ledger.db")
    case_ids = [json.loads(line)["case_id"] for line in DATASET.joinpath("cases.jsonl").open()]
    assert [] == [p for case_id in case_ids[:CASES] for p in ledger.payouts_for(case_id)]
    assert [] == [n for case_id in case_ids[:CASES] for n in ledger.notices_for(case_id)]


async def test_a_worker_killed_mid_evaluation_costs_no_rerun(
    dev_server: DevServer,
    worker_process: WorkerProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Start detached, SIGKILL the only worker once some reruns are done, start another,
    reopen with --id: every case is answered, and each rerun's workflow id ran once.
    """
    monkeypatch.setenv("CLAIMS_TASK_QUEUE", QUEUE)
    monkeypatch.setenv("CLAIMS_DATA_DIR", str(tmp_path))
    client = await dev_server.start()
    slow_model = {"CLAIMS_OFFLINE_LATENCY_MS": "150"}
    worker = worker_process(**slow_model)
    source = ["--dataset", str(DATASET), "--limit", str(KILLED_CASES), "--id", "it-kill"]

    started = await in_thread(dev_server, "eval", *source, "--detach", "--concurrency", "4")
    assert 0 == started.exit_code, started.output
    handle = client.get_workflow_handle(eval_workflow_id("it-kill"))
    before: EvalCounts = await eventually(
        lambda: handle.query(ClaimEvalWorkflow.counts), lambda c: c.answered >= 4
    )
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    worker_process(**slow_model)

    reopened = await in_thread(dev_server, "eval", *source, "--json")

    assert 0 == reopened.exit_code, reopened.output
    assert "reopened" in reopened.stderr
    report = json.loads(reopened.stdout)
    [candidate] = report["candidates"]
    assert (KILLED_CASES, KILLED_CASES, 0) == (
        report["cases"],
        candidate["answered"],
        candidate["errors"],
    )
    assert before.answered < KILLED_CASES
    reruns = [
        execution.id
        async for execution in client.list_workflows(
            "WorkflowType = 'ClaimEvalRunWorkflow' AND WorkflowId STARTS_WITH 'eval-it-kill/'"
        )
    ]
    assert KILLED_CASES == len(reruns) == len(set(reruns))
