"""The scale benchmark's pieces: claims that all wait and are no duplicates, its
arithmetic, what it reads of a process and a disk, and how it judges its figures."""

from __future__ import annotations

import dataclasses
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from activities.review_policy import load_review_policy_file
from bench.scale import (
    TARGETS,
    ScaleReport,
    disk_bytes,
    paging_note,
    percentile,
    results_json,
    rss_mb,
    scale_records,
    summary,
    waiting_claim,
    waiting_query,
)
from runtime.settings import EXAMPLES_DIR


def report(**changes: object) -> ScaleReport:
    """A report whose figures sit exactly at their targets, changed as a test says."""
    figures: dict[str, object] = {
        "claims": 10_000,
        "approvals": 1000,
        "approval_concurrency": 20,
        "seconds_to_all_waiting": 900.0,
        "worker_rss_mb": 500.0,
        "worker_peak_rss_mb": 520.0,
        "worker_rss_mb_after_approvals": 480.0,
        "status_seconds": 2.0,
        "status_runs": [2.1, 2.0, 1.9],
        "status_says": "Showing claims 1 to 50 of 10,000.",
        "inbox_seconds": 2.0,
        "inbox_runs": [2.0, 2.0, 2.0],
        "console_inbox_seconds": 2.0,
        "console_inbox_runs": [2.0, 2.0, 2.0],
        "console_inbox_rows": 200,
        "approvals_seconds": 60.0,
        "approval_ms_p50": 400.0,
        "approval_ms_p90": 1000.0,
        "approvals_refused": 0,
        "first_refusal": "",
        "disk_bytes": 300_000_000,
        "disk_bytes_empty": 1_000_000,
        "disk_bytes_per_claim": 29_900.0,
    }
    return ScaleReport(**(figures | changes))  # type: ignore[arg-type]


def test_every_claim_has_a_policy_and_claimant_of_its_own(tmp_path: Path) -> None:
    """No two claims of the run share a claimant or policy, and each policy is on record."""
    records = json.loads(scale_records(tmp_path, 300).read_text())
    on_record = {p["policy_number"]: p["holder_id"] for p in records["policies"]}
    claims = [waiting_claim(i) for i in range(300)]

    assert 300 == len({c.claim_id for c in claims})
    assert 300 == len({c.claimant.id for c in claims})
    assert all(on_record[c.policy_number] == c.claimant.id for c in claims)


def test_every_claim_is_over_the_auto_approval_limit_so_it_waits_for_a_person() -> None:
    """CLM-1002's amount, above what the shipped policy approves without a person."""
    policy = load_review_policy_file(EXAMPLES_DIR / "approvers.toml")

    assert Decimal(waiting_claim(7).amount) > policy.auto_approval_limit


def test_the_waiting_count_asks_for_running_claims_awaiting_a_person() -> None:
    """The count that ends the wait: claims still running that wait on someone."""
    query = waiting_query()

    assert "ExecutionStatus = 'Running'" in query
    assert "AwaitingHuman = true" in query


def test_percentiles_lie_between_the_nearest_values() -> None:
    """p50 and p90 of 1..10 ms; no latencies at all is an error, not a zero."""
    latencies = [float(n) for n in range(10, 0, -1)]

    assert (5.5, 9.1) == (percentile(latencies, 0.5), round(percentile(latencies, 0.9), 6))
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.9)


def test_the_resident_memory_of_a_live_process_is_read() -> None:
    """This process has some memory resident, and its peak is at least that."""
    now, peak = rss_mb(os.getpid())

    assert 0 < now <= peak


def test_the_disk_counts_the_write_ahead_log_and_its_index(tmp_path: Path) -> None:
    """SQLite in WAL mode keeps recent writes beside the database; they are counted."""
    db = tmp_path / "scale.db"
    db.write_bytes(b"d" * 100)
    Path(f"{db}-wal").write_bytes(b"w" * 20)

    assert 120 == disk_bytes(db)
    Path(f"{db}-shm").write_bytes(b"s" * 3)
    assert 123 == disk_bytes(db)


def test_a_figure_at_its_target_passes_and_one_over_fails() -> None:
    """Targets are limits: at 500 MB and 1,000 ms the run passes; a little over, it fails."""
    assert all(report().verdicts().values())
    over = report(worker_rss_mb=501.0, approval_ms_p90=1000.5).verdicts()

    assert {"worker_rss_mb": False, "approval_ms_p90": False} == {
        name: passed for name, passed in over.items() if not passed
    }


def test_the_summary_gives_each_target_and_its_verdict() -> None:
    """Every judged figure is printed with its target and pass or FAIL."""
    lines = summary(report(status_seconds=3.5))
    judged = [line for line in lines if "(target under" in line]

    assert len(TARGETS) == len(judged)
    assert any("claims status:" in line and "FAIL" in line for line in judged)
    assert sum("pass" in line for line in judged) == len(TARGETS) - 1


def test_the_results_file_holds_figures_targets_verdicts_and_the_machine() -> None:
    """scale.json can be read alone: what was measured, against what, on what."""
    document = results_json(report(), {"cores": 2, "load_average": [1.0, 2.0]})

    assert document["claims"] == 10_000
    assert document["targets"]["worker_rss_mb"] == {"limit": 500, "unit": "MB"}
    assert document["passed"] == dict.fromkeys(TARGETS, True)
    assert document["machine"]["cores"] == 2
    assert set(dataclasses.asdict(report())) <= set(document)


def test_what_status_says_is_its_paging_note() -> None:
    """The note under the first page: which claims of how many; none when all fit."""
    output = (
        "Claims\n row\nShowing claims 1 to 50 of 10,000. For the next 50, run\n  --page-token 5.A\n"
    )

    assert "Showing claims 1 to 50 of 10,000. For the next 50, run" == paging_note(output)
    assert "" == paging_note("Claims\n row\n")
