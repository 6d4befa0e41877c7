"""The replay corpus: one recorded history per path a claim can take, and an evaluation."""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).parent
# The evaluation's recordings (a first run continued as new, its last run, one rerun).
EVALUATIONS = ("evaluation_first_run", "evaluation", "evaluation_run")


def claim_recordings() -> list[Path]:
    """Every recorded claim review, without the evaluation's recordings."""
    return [path for path in sorted(CORPUS.glob("*.json")) if path.stem not in EVALUATIONS]
