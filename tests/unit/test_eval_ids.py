"""The ids an evaluation gives its dry runs: one per case and candidate, never shared."""

from __future__ import annotations

import re

import pytest

from workflows.evaluation import child_workflow_id


def test_a_plain_case_id_is_kept_as_it_is() -> None:
    """A case id already fit for a workflow id reads as itself in the run's id."""
    assert "eval-e1/current/CLM-1001" == child_workflow_id("e1", "current", "CLM-1001")


@pytest.mark.parametrize(
    "cases",
    [
        ("a b", "a_b"),
        ("a b", "a/b"),
        ("a b", "a\tb"),
        ("ä", "ö"),
        ("x y", "x_y"),
    ],
)
def test_case_ids_that_differ_get_different_runs(cases: tuple[str, str]) -> None:
    """Two cases whose ids differ only in characters a workflow id does not take are two
    dry runs: one id for both would fail the second start, and with it the evaluation."""
    first, second = (child_workflow_id("e1", "current", case) for case in cases)
    assert first != second


def test_a_rewritten_case_id_cannot_take_a_plain_one_s_id() -> None:
    """The id of a case whose id was rewritten cannot be any plain case's id."""
    rewritten = child_workflow_id("e1", "current", "a b")
    plain_part = rewritten.removeprefix("eval-e1/current/")
    assert not re.fullmatch(r"[A-Za-z0-9._-]+", plain_part)
