"""Activity failures leave the worker without secrets.

An activity's exception becomes a failure in history: its message, its chain of causes
and its details are stored, shown by `claims show` and the Temporal UI, copied by the
workflow into the state, and logged by the SDK. A provider that quotes the request's
Authorization header in an error would put the API key in all of those places. This
interceptor sits closest to every activity and rewrites each exception on its way out:
same type, retry semantics and (code-only) stack trace, with every message and detail
passed through `redact_secrets`.
"""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Iterable, Sequence
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from runtime.redact import environment_secrets, redact

# Causes kept per failure; a longer chain is cut and says so.
MAX_CAUSES = 5
_JSON = b"json/plain"


def redacted_error(error: BaseException, secrets: Iterable[str] | None = None) -> ApplicationError:
    """`error` as an ApplicationError without secrets (the literal `secrets`, by default
    those configured in the environment, and anything shaped like one): same type name,
    retry semantics and stack trace, with its causes redacted the same way.
    """
    known = environment_secrets() if secrets is None else tuple(secrets)
    return _redacted(error, known, MAX_CAUSES)


def _redacted(error: BaseException, secrets: tuple[str, ...], causes_left: int) -> ApplicationError:
    if isinstance(error, ApplicationError):
        copy = ApplicationError(
            redact(error.message, secrets),
            *_redacted_details(error.details, secrets),
            type=error.type,
            non_retryable=error.non_retryable,
            next_retry_delay=error.next_retry_delay,
            category=error.category,
        )
    else:
        copy = ApplicationError(redact(_message(error), secrets), type=type(error).__name__)
    # Stack traces hold file names, line numbers and source lines: no runtime values.
    copy.__traceback__ = error.__traceback__
    cause = error.__cause__
    if cause is None and not error.__suppress_context__:
        cause = error.__context__
    if cause is not None:
        if causes_left > 0:
            copy.__cause__ = _redacted(cause, secrets, causes_left - 1)
        else:
            copy.__cause__ = ApplicationError(
                f"further causes left out after {MAX_CAUSES}", type="CausesTruncated"
            )
    copy.__suppress_context__ = True
    return copy


def _message(error: BaseException) -> str:
    """`str(error)`, or a note when the exception cannot even say what it is."""
    try:
        return str(error)
    except Exception:  # a broken __str__ must not replace the activity's own failure
        return f"({type(error).__name__} whose message cannot be read)"


def _redacted_details(details: Sequence[Any], secrets: tuple[str, ...]) -> list[Any]:
    """Details as the workflow would decode them (JSON), redacted; others cannot be checked
    for secrets, so they are replaced by a note saying what was left out.
    """
    if not details:
        return []
    try:
        payloads = activity.payload_converter().to_payloads(details)
    except Exception as error:  # unencodable details would fail the SDK too
        return [f"[details left out: not encodable ({type(error).__name__})]"]
    kept: list[Any] = []
    for payload in payloads:
        if payload.metadata.get("encoding") == _JSON:
            kept.append(_redact_json(json.loads(payload.data), secrets))
        else:
            kept.append("[detail left out: binary, cannot be checked for secrets]")
    return kept


def _redact_json(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, list):
        return [_redact_json(v, secrets) for v in value]
    if isinstance(value, dict):
        return {redact(k, secrets): _redact_json(v, secrets) for k, v in value.items()}
    return value


class _RedactingActivityInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except (CancelledError, concurrent.futures.BrokenExecutor):
            # The SDK reads these by type: cancellation, and a broken executor that must
            # stop the worker. asyncio.CancelledError and the SDK's async-completion
            # signal are BaseExceptions and pass untouched as well.
            raise
        except Exception as error:
            redacted = redacted_error(error)
            # `from` the redacted cause: the original chain is never attached.
            raise redacted from redacted.__cause__


class RedactingInterceptor(Interceptor):
    """Rewrites every activity exception without secrets before the SDK records it."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _RedactingActivityInbound(next)


def redacting_interceptors() -> list[Interceptor]:
    """The worker interceptors that keep secrets out of activity failures; list them last,
    so they run closest to the activity and every other interceptor sees redacted errors.
    """
    return [RedactingInterceptor()]
