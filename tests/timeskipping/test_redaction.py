"""Secrets kept out of Temporal: activity failures rewritten by the worker interceptor before
the SDK logs and records them, and `redact` usable inside the workflow sandbox.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Worker

from runtime.activity_errors import RedactingInterceptor, redacted_error, redacting_interceptors
from runtime.redact import redact

KEY = "sk-test-SECRET-7c1e9a4b2d8f6e30"
ENV_SECRET = "configured-but-shapeless-42"
LEAKS = (KEY, "SECRET-7c1e9a4b2d8f6e30", ENV_SECRET)
RETRY_DELAY = timedelta(hours=2)


@activity.defn
async def leak(kind: str) -> int:
    """Fail the way a careless dependency would, with a credential in the error."""
    attempt = activity.info().attempt
    if kind == "plain":
        raise RuntimeError(f"upstream said Authorization: Bearer {KEY}")
    if kind == "application":
        raise ApplicationError(
            f"refused api_key={KEY}",
            {"echo": f"Bearer {KEY}", "count": 1},
            b"raw bytes",
            type="ProviderRefused",
            non_retryable=True,
        ) from ValueError(f"cause quoting {KEY}")
    if kind == "implicit":
        try:
            raise KeyError(ENV_SECRET)
        except KeyError:
            raise RuntimeError("lookup failed")  # noqa: B904 - the implicit chain is the case
    if kind == "delayed" and attempt == 1:
        raise ApplicationError(
            f"slow down, token={KEY}", type="Throttled", next_retry_delay=RETRY_DELAY
        )
    return attempt


@workflow.defn
class LeakWorkflow:
    """Run `leak` once (twice for "delayed") and describe the failure the workflow sees."""

    @workflow.run
    async def run(self, kind: str) -> dict[str, Any]:
        started = workflow.now()
        try:
            attempt = await workflow.execute_activity(
                leak,
                kind,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=2 if kind == "delayed" else 1),
            )
        except ActivityError as failure:
            first = failure.cause
            if not isinstance(first, ApplicationError):
                raise
            causes: list[list[str]] = []
            error: BaseException | None = first
            while isinstance(error, ApplicationError):
                causes.append([error.type or "", error.message])
                error = error.cause
            return {
                "causes": causes,
                "non_retryable": first.non_retryable,
                "details": list(first.details),
            }
        return {"attempt": attempt, "waited": (workflow.now() - started).total_seconds()}


@workflow.defn
class RedactInWorkflow:
    """`redact` called from workflow code, in the default sandbox."""

    @workflow.run
    async def run(self, text: str) -> str:
        return redact(text)


async def run_leak(env: WorkflowEnvironment, kind: str) -> tuple[dict[str, Any], str]:
    """The workflow's view of the failure, and the history as JSON."""
    task_queue = f"redaction-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[LeakWorkflow],
        activities=[leak],
        interceptors=redacting_interceptors(),
    ):
        handle = await env.client.start_workflow(
            LeakWorkflow.run, kind, id=f"leak-{kind}-{uuid.uuid4().hex[:8]}", task_queue=task_queue
        )
        seen = await handle.result()
        history = (await handle.fetch_history()).to_json()
    return seen, history


@pytest.fixture
def configured_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A credential in the environment that has no recognisable shape."""
    monkeypatch.setenv("CLAIMS_TEST_TOKEN", ENV_SECRET)


@pytest.mark.usefixtures("configured_secret")
@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (
            "plain",
            {
                "causes": [["RuntimeError", "upstream said Authorization: Bearer [redacted]"]],
                "non_retryable": False,
                "details": [],
            },
        ),
        (
            "application",
            {
                "causes": [
                    ["ProviderRefused", "refused api_key=[redacted]"],
                    ["ValueError", "cause quoting [redacted]"],
                ],
                "non_retryable": True,
                "details": [
                    {"echo": "Bearer [redacted]", "count": 1},
                    "[detail left out: binary, cannot be checked for secrets]",
                ],
            },
        ),
        (
            "implicit",
            {
                "causes": [["RuntimeError", "lookup failed"], ["KeyError", "'[redacted]'"]],
                "non_retryable": False,
                "details": [],
            },
        ),
    ],
    ids=["plain-exception", "application-error-with-cause-and-details", "implicit-context"],
)
async def test_activity_failures_reach_the_workflow_and_history_redacted(
    time_env: WorkflowEnvironment,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    expected: dict[str, Any],
) -> None:
    """The workflow sees the same types, retry flag, causes and (JSON) details with every
    credential replaced; the history and the SDK's own failure log hold none of them.
    """
    seen, history = await run_leak(time_env, kind)

    assert expected == seen
    assert [] == [leaked for leaked in LEAKS if leaked in history or leaked in caplog.text]
    assert "Completing activity as failed" in caplog.text


async def test_a_retry_delay_asked_for_by_the_activity_is_kept(
    time_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture
) -> None:
    """`next_retry_delay` survives the rewrite: the second attempt starts two hours later
    (the retry policy alone would wait one second), and the failed attempt's log line
    shows the redacted message.
    """
    seen, history = await run_leak(time_env, "delayed")

    assert 2 == seen["attempt"]
    assert seen["waited"] >= RETRY_DELAY.total_seconds()
    assert "Throttled: slow down, token=[redacted]" in caplog.text
    assert [] == [leaked for leaked in LEAKS if leaked in history or leaked in caplog.text]


class _Raising(ActivityInboundInterceptor):
    """The rest of the chain, failing with a given exception."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        raise self.error


def _complete_async_error() -> BaseException:
    try:
        activity.raise_complete_async()
    except BaseException as error:  # the SDK's private signal type, caught to inspect it
        return error
    raise AssertionError("raise_complete_async did not raise")


@pytest.mark.parametrize(
    "error",
    [
        asyncio.CancelledError(f"cancelled {KEY}"),
        CancelledError("Cancelled"),
        concurrent.futures.BrokenExecutor(),
        _complete_async_error(),
    ],
    ids=["asyncio-cancel", "temporal-cancel", "broken-executor", "complete-async"],
)
async def test_cancellation_and_the_sdk_signals_pass_untouched(error: BaseException) -> None:
    """The SDK tells these apart by type and identity; the interceptor re-raises them as
    they are.
    """
    inbound = RedactingInterceptor().intercept_activity(_Raising(error))
    given: Any = None

    with pytest.raises(type(error)) as raised:
        await inbound.execute_activity(given)

    assert error is raised.value


async def test_redact_runs_inside_the_workflow_sandbox(time_env: WorkflowEnvironment) -> None:
    """Workflow code may redact what it records: the module imports and runs sandboxed."""
    task_queue = f"redaction-{uuid.uuid4().hex[:8]}"
    async with Worker(time_env.client, task_queue=task_queue, workflows=[RedactInWorkflow]):
        result = await time_env.client.execute_workflow(
            RedactInWorkflow.run,
            f"Authorization: Bearer {KEY}",
            id=f"redact-{uuid.uuid4().hex[:8]}",
            task_queue=task_queue,
        )

    assert "Authorization: Bearer [redacted]" == result


class UnprintableError(Exception):
    """An exception whose message cannot be read."""

    def __str__(self) -> str:
        raise RuntimeError(KEY)


def test_an_exception_that_cannot_say_what_it_is_still_becomes_a_failure() -> None:
    """A broken `__str__` gives a note, not a second exception that hides the first."""
    failure = redacted_error(UnprintableError(), secrets=())

    assert ("UnprintableError", "(UnprintableError whose message cannot be read)") == (
        failure.type,
        failure.message,
    )


async def test_the_worker_redacts_activity_failures(
    time_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The production worker lists the redacting interceptor last, closest to activities."""
    # Imported here: the sandbox re-imports this module to check the workflows above.
    from tests.helpers import settings_in
    from worker import create_worker

    worker = create_worker(time_env.client, settings_in(tmp_path))

    assert isinstance(worker.config()["interceptors"][-1], RedactingInterceptor)
