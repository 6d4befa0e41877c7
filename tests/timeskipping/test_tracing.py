"""OpenTelemetry tracing through temporalio.contrib.opentelemetry, when configured."""

from __future__ import annotations

from pathlib import Path

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from runtime.tracing import tracing_interceptors
from tests.helpers import settings_in, unique_claim
from worker import create_worker
from workflows.claim_review import ClaimReviewWorkflow


def test_no_endpoint_no_tracing() -> None:
    """Without an OTLP endpoint configured the worker gets no tracing interceptor."""
    assert [] == tracing_interceptors({})


async def test_a_traced_review_has_workflow_and_activity_spans(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Every model turn and tool call of a review shows up as a span."""
    exporter = InMemorySpanExporter()
    interceptors = tracing_interceptors({}, exporter=exporter)
    settings = settings_in(tmp_path)
    claim = unique_claim("CLM-1001")
    async with create_worker(time_env.client, settings, interceptors=interceptors):
        await time_env.client.execute_workflow(
            ClaimReviewWorkflow.run, claim, id=claim.workflow_id, task_queue=settings.task_queue
        )
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.force_flush()
    names = {span.name for span in exporter.get_finished_spans()}

    assert {
        "RunWorkflow:ClaimReviewWorkflow",
        "RunActivity:agent_turn",
        "RunActivity:lookup_policy",
        "RunActivity:issue_payout",
    } <= names
