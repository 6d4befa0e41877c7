"""OpenTelemetry tracing, on when an OTLP endpoint is configured.

Set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and the worker
traces every workflow, update, signal and activity with temporalio.contrib.opentelemetry,
exporting over OTLP/HTTP; OTEL_SERVICE_NAME names the service. Without an endpoint
nothing is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from temporalio.worker import Interceptor

from runtime.errors import UserFacingError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

DEFAULT_SERVICE_NAME = "claim-review-agent"


def tracing_interceptors(
    env: Mapping[str, str] | None = None, exporter: SpanExporter | None = None
) -> list[Interceptor]:
    """The worker interceptors that trace, or none when tracing is not configured."""
    env = os.environ if env is None else env
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if exporter is None and not endpoint:
        return []
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from temporalio.contrib.opentelemetry import TracingInterceptor
    except ImportError:
        raise UserFacingError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed; "
            "install it with `pip install -e '.[otel]'` or unset the variable"
        ) from None
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": env.get("OTEL_SERVICE_NAME", DEFAULT_SERVICE_NAME)}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return [TracingInterceptor(provider.get_tracer(__name__), always_create_workflow_spans=True)]


def shutdown_tracing() -> None:
    """Flush spans still buffered, if tracing was set up in this process."""
    try:
        from opentelemetry import trace
    except ImportError:
        return
    shutdown = getattr(trace.get_tracer_provider(), "shutdown", None)
    if callable(shutdown):
        shutdown()
