"""Metrics recorded by workflow code: claims by outcome, and how long people took.

They go through the workflow's metric meter, which the worker's runtime exports (see
`runtime.telemetry`); workflow metrics are not emitted during replay.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow


def record_outcome(status: str) -> None:
    """Count a finished claim by its outcome."""
    workflow.metric_meter().create_counter("claim_outcomes", "Claims finished, by outcome").add(
        1, {"outcome": status}
    )


def record_human_wait(waited: timedelta, action: str) -> None:
    """How long a claim waited for a person before they acted."""
    workflow.metric_meter().create_histogram_timedelta(
        "claim_human_wait", "Time from a human wait opening to the decision", unit="ms"
    ).record(waited, {"action": action})
