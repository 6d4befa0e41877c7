"""The benchmark counts what one run costs the server: tasks, activities, upserts, markers."""

from __future__ import annotations

from temporalio.client import WorkflowHistory

from bench.run import history_shape
from runtime.settings import PROJECT_ROOT

HISTORIES = PROJECT_ROOT / "tests" / "histories"


def shape(name: str) -> dict[str, int]:
    path = HISTORIES / f"{name}.json"
    return history_shape(WorkflowHistory.from_json(name, path.read_text(encoding="utf-8")).events)


def test_a_new_auto_approved_claim_records_one_patch_marker() -> None:
    """The recorded auto-approval: one marker and its one TemporalChangeVersion upsert, the
    claim's own upserts counted apart, twelve activities."""
    counted = shape("auto_approve")

    assert (1, 1, 12) == (
        counted["patch_markers"],
        counted["change_version_upserts"],
        counted["activities"],
    )
    assert counted["upserts"] >= 1
    assert counted["events"] == 70


def test_before_the_one_marker_each_patch_had_a_marker_and_an_upsert() -> None:
    """The same path recorded before `one-patch-marker`: four of each, six events more."""
    before, now = shape("auto_approve_before_one_patch_marker_patch"), shape("auto_approve")

    assert (4, 4) == (before["patch_markers"], before["change_version_upserts"])
    assert before["activities"] == now["activities"]


def test_an_empty_history_has_nothing() -> None:
    """No events: every count is zero, none missing."""
    assert set(history_shape([]).values()) == {0}
    assert "patch_markers" in history_shape([])
