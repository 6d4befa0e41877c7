"""Metrics: the SDK's own (task latencies, schedule-to-start, sticky cache) and ours.

Workflow code records its own (`workflows.metrics`); activity code records model calls here.

With CLAIMS_METRICS_PORT set, the worker's Temporal runtime serves Prometheus metrics at
http://127.0.0.1:<port>/metrics. Our counters (claims by outcome, LLM tokens and latency,
human wait time) go through the same meters, so they share the endpoint; workflow
metrics are not emitted during replay.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from runtime.errors import UserFacingError
from runtime.ports import port_in_use

METRICS_HOST = "127.0.0.1"


def metrics_runtime(port: int | None) -> Runtime | None:
    """A runtime exporting Prometheus metrics on `port`, or None to keep the default."""
    if port is None:
        return None
    if port_in_use(METRICS_HOST, port):
        raise UserFacingError(
            f"metrics port {port} on {METRICS_HOST} is already in use; "
            "choose another with CLAIMS_METRICS_PORT=<port>"
        )
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{METRICS_HOST}:{port}"))
    )


def record_llm_call(model: str, latency: timedelta, input_tokens: int, output_tokens: int) -> None:
    """Tokens and latency of one model turn (activity code)."""
    meter = activity.metric_meter()
    attributes = {"model": model}
    meter.create_histogram_timedelta(
        "claim_llm_latency", "Latency of one model turn", unit="ms"
    ).record(latency, attributes)
    tokens = meter.create_counter("claim_llm_tokens", "Tokens used by model turns")
    tokens.add(input_tokens, {**attributes, "direction": "input"})
    tokens.add(output_tokens, {**attributes, "direction": "output"})
