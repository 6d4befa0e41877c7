"""The approvers file: read once per change, and wrong files named with what is wrong."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from activities.review_policy import (
    ReviewPolicyActivities,
    ReviewPolicyError,
    load_review_policy_file,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "approvers.toml"


def test_the_example_file_loads() -> None:
    """examples/approvers.toml loads with its limits, budget, four people and the re-screen."""
    policy = load_review_policy_file(EXAMPLE)

    assert (Decimal(1000), 8) == (policy.auto_approval_limit, policy.agent_step_budget)
    assert {"maria", "lee", "sam", "dana", "watchlist-rescreen"} == {
        a.name for a in policy.approvers
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("auto_approval_limit = ", "is not valid TOML"),
        ("auto_approval_limit = 1000\n", "approvers: Field required"),
    ],
)
def test_a_wrong_file_is_named_with_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    """Bad TOML or a missing section is refused with the file's path and the problem."""
    path = tmp_path / "approvers.toml"
    path.write_text(text)

    with pytest.raises(ReviewPolicyError, match=problem) as raised:
        load_review_policy_file(path)

    assert str(path) in str(raised.value)


async def test_the_activity_parses_the_file_again_only_when_it_changed(tmp_path: Path) -> None:
    """The policy activity reuses its parse until the file's modification time changes."""
    path = tmp_path / "approvers.toml"
    path.write_text(EXAMPLE.read_text())
    activities = ReviewPolicyActivities(path)

    first = await activities.load_review_policy()
    unchanged = await activities.load_review_policy()
    path.write_text(EXAMPLE.read_text().replace("agent_step_budget = 8", "agent_step_budget = 5"))
    later = path.stat().st_mtime_ns + 1_000_000
    os.utime(path, ns=(later, later))
    edited = await activities.load_review_policy()

    assert first is unchanged
    assert (8, 5) == (first.agent_step_budget, edited.agent_step_budget)


async def test_the_activity_reports_a_missing_file(tmp_path: Path) -> None:
    """A missing approvers file fails the activity with the setting that names it."""
    activities = ReviewPolicyActivities(tmp_path / "gone.toml")

    with pytest.raises(ReviewPolicyError, match="does not exist; set CLAIMS_APPROVERS_FILE"):
        await activities.load_review_policy()


def test_a_file_that_cannot_be_read_is_named_with_why(tmp_path: Path) -> None:
    """A directory where the file should be: a message naming it, not a traceback."""
    path = tmp_path / "approvers.toml"
    path.mkdir()

    with pytest.raises(ReviewPolicyError, match=r"approvers\.toml cannot be read"):
        load_review_policy_file(path)
