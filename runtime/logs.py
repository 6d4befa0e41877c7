"""Structured logs, configured once: JSON in production, readable in a terminal.

Temporal's workflow and activity loggers are stdlib loggers; they are rendered by the
same structlog processors, with their context flattened to `workflow_id`, `run_id`,
`activity`, `attempt`, so every line about a claim can be found by its workflow id.
Workflow logs are replay-safe: temporalio drops them while replaying.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger
from temporalio import activity, workflow

_TEMPORAL_FIELDS = {
    "temporal_workflow": {"workflow_id", "run_id", "workflow_type", "task_queue"},
    "temporal_activity": {"workflow_id", "workflow_run_id", "activity_type", "attempt"},
}
# Fields that must never reach a log line, whatever a caller passes in `extra`.
_REDACTED = {"api_key", "openai_api_key", "authorization", "description", "documents", "body"}


def _flatten_temporal_context(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key, wanted in _TEMPORAL_FIELDS.items():
        context = event.pop(key, None)
        if isinstance(context, dict):
            for field in wanted & context.keys():
                name = "run_id" if field == "workflow_run_id" else field
                event.setdefault(name, context[field])
    workflow_id = event.get("workflow_id")
    if isinstance(workflow_id, str) and workflow_id.startswith("claim-"):
        event.setdefault("claim_id", workflow_id.removeprefix("claim-"))
    return event


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in _REDACTED & event.keys():
        event[key] = "[redacted]"
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Route stdlib and structlog output through one renderer on stderr."""
    json_output = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _flatten_temporal_context,
        _redact,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if json_output else _identity,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    # The context travels as fields, not as a dict appended to every message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def _identity(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    return event


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
