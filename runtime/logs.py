"""Structured logs, configured once: JSON in production, readable in a terminal.

Temporal's workflow and activity loggers are stdlib loggers; they are rendered by the
same structlog processors, with their context flattened to `workflow_id`, `run_id`,
`activity`, `attempt`, so every line about a claim can be found by its workflow id.
Workflow logs are replay-safe: temporalio drops them while replaying.

Nothing secret is printed: fields named like credentials or claim content are replaced
whole, and every value of every line, exception text included, is redacted (credentials
by shape and the environment's configured ones by value) just before it is rendered,
whichever logger wrote it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger
from temporalio import activity, workflow

from runtime.redact import environment_secrets, redact
from runtime.text import printable

_TEMPORAL_FIELDS = {
    "temporal_workflow": {"workflow_id", "run_id", "workflow_type", "task_queue"},
    "temporal_activity": {"workflow_id", "workflow_run_id", "activity_type", "attempt"},
}
# Fields that must never reach a log line, whatever a caller passes in `extra`: secrets,
# and the claim's personal data (names, addresses, what happened, documents, free text).
_REDACTED = {
    "api_key",
    "openai_api_key",
    "authorization",
    "description",
    "documents",
    "body",
    "claimant",
    "email",
    "recipient",
    "detail",
    "comment",
    "subject",
}
# Nesting walked value by value; anything deeper is redacted as its repr.
_MAX_DEPTH = 8


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


class SecretRedactor:
    """Every value without secrets, once exceptions are text: the last step before rendering.

    Strings are redacted, containers walked; any other object is rendered by its repr
    anyway, so it is replaced by its redacted repr. Numbers, booleans and None stay. The
    environment's credentials are read once, when logging is configured: workflow code
    logs from inside the sandbox, where the environment cannot be read.
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = tuple(secrets)

    def __call__(self, _: WrappedLogger, __: str, event: EventDict) -> EventDict:
        return {key: _redacted_value(value, self._secrets) for key, value in event.items()}


def _redacted_value(value: object, secrets: tuple[str, ...], depth: int = 0) -> object:
    if isinstance(value, str):
        return redact(value, secrets)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth < _MAX_DEPTH and isinstance(value, list | tuple | set | frozenset):
        return [_redacted_value(v, secrets, depth + 1) for v in value]
    if depth < _MAX_DEPTH and isinstance(value, dict):
        return {
            redact(str(k), secrets): _redacted_value(v, secrets, depth + 1)
            for k, v in value.items()
        }
    return redact(repr(value), secrets)


def _printable_values(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """Console lines print strings as they are, so escapes and controls someone sent (an
    Origin header, a name) are shown as escapes, never sent to the terminal. Exception
    text keeps its line breaks; JSON escapes everything already."""
    return {
        key: printable(value, multiline=key == "exception") if isinstance(value, str) else value
        for key, value in event.items()
    }


# A logger binds the configuration it first logs with, so a log call does less work. The
# suite turns this off: a logger bound once would keep an earlier test's configuration and
# never reach `structlog.testing.capture_logs`.
CACHE_LOGGERS = True


class _LogFileHandler(logging.FileHandler):
    """Our own log file: closed when logging is configured again, unlike anyone else's."""


def configure_logging(
    fmt: str = "auto",
    level: str = "INFO",
    *,
    log_file: Path | None = None,
    terminal_level: str | None = None,
) -> None:
    """Route stdlib and structlog output through one renderer on stderr.

    With `log_file`, every line at `level` goes to that file as JSON (one object a line,
    for grep and jq), and the terminal gets only lines at `terminal_level` (WARNING by
    default): `claims run` keeps the worker's progress out of the way of its summary,
    yet a problem still shows where the person is looking.
    """
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
    redactor = SecretRedactor(environment_secrets())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_formatter(shared, redactor, json_output=json_output))
    handlers: list[logging.Handler] = [handler]
    if log_file is not None:
        handler.setLevel(terminal_level or logging.WARNING)
        to_file = _LogFileHandler(log_file, encoding="utf-8")
        to_file.setFormatter(_formatter(shared, redactor, json_output=True))
        handlers.append(to_file)
    elif terminal_level is not None:
        handler.setLevel(terminal_level)
    root = logging.getLogger()
    for old in root.handlers:
        if isinstance(old, _LogFileHandler):
            old.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=CACHE_LOGGERS,
    )
    # The context travels as fields, not as a dict appended to every message.
    workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False


def _formatter(
    shared: list[Any], redactor: SecretRedactor, *, json_output: bool
) -> logging.Formatter:
    """One renderer; every line is redacted and, on a terminal, printable, whatever its end."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions become text here, in both formats, so that their messages are
            # redacted too (the console then prints the text instead of its own rendering).
            structlog.processors.format_exc_info,
            redactor,
            *([] if json_output else [_printable_values]),
            renderer,
        ],
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
