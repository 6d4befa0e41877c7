"""The model behind the agent: chosen by CLAIMS_LLM, called once per activity.

`offline` (the default) is the deterministic offline model; `openai:<model>` reaches
OpenAI or any OpenAI-compatible server (OPENAI_BASE_URL) through langchain-openai.
The client never retries on its own: Temporal's retry policy owns retries, so every
attempt is visible in history.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from pydantic import SecretStr
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.offline_model import OFFLINE_MODEL_NAME, OfflineClaimsModel
from activities.prompts import UnknownPromptVersionError, agent_messages, agent_system_prompt
from runtime.activity_errors import redacted_error
from runtime.redact import environment_secrets, redact
from runtime.settings import LlmConfig, SettingsError
from runtime.telemetry import record_llm_call
from runtime.text import printable
from workflows.evidence import (
    AGENT_TURN,
    AgentTurnRequest,
    AgentTurnResult,
    ClaimAssessment,
    LlmCallRecord,
    TokenUsage,
    ToolCallRequest,
)
from workflows.tools import SUBMIT_ASSESSMENT

LLM_REQUEST_TIMEOUT_SECONDS = 60.0
HEARTBEAT_SECONDS = 2.0
# How much of a provider's own words an error message quotes.
PROVIDER_TEXT_LIMIT = 200
# Simulated thinking time is for demos: a turn longer than its timeout could never finish.
MAX_OFFLINE_LATENCY_SECONDS = 60.0
MAX_MODEL_NAME_CHARS = 200
# Models bound for reviews that asked for one (what-if forks), kept for their next turns.
MAX_MODELS_PER_WORKER = 8


class LlmConfigError(SettingsError):
    """CLAIMS_LLM names a model that cannot be reached as configured."""


@dataclass(frozen=True)
class LlmSettings:
    """The model the worker calls, checked: built once from the configured `LlmConfig`.

    The credentials are kept whichever model is chosen, so a review that asks for another
    model (a what-if fork) is checked against the same configuration, never the
    environment read again.
    """

    provider: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    offline_latency_seconds: float = 0.0

    @property
    def offline(self) -> bool:
        return self.provider == "offline"

    @property
    def label(self) -> str:
        return "offline" if self.offline else f"{self.provider}:{self.model}"

    def secrets(self) -> tuple[str, ...]:
        """What no error may quote: this model's API key and the environment's credentials."""
        return (*environment_secrets(), *([self.api_key] if self.api_key else []))

    @classmethod
    def from_config(cls, config: LlmConfig) -> LlmSettings:
        """The settings `config` describes, or an error naming the variable to change."""
        raw = config.offline_latency_ms
        try:
            latency = float(raw) / 1000
        except ValueError:
            latency = math.nan
        if not 0 <= latency <= MAX_OFFLINE_LATENCY_SECONDS:
            raise LlmConfigError(
                f"CLAIMS_OFFLINE_LATENCY_MS={raw!r} is not a number of milliseconds "
                f"from 0 to {MAX_OFFLINE_LATENCY_SECONDS * 1000:.0f}"
            )
        offline = cls(
            provider="offline",
            model=OFFLINE_MODEL_NAME,
            api_key=config.api_key,
            base_url=config.base_url,
            offline_latency_seconds=latency,
        )
        return offline.for_model(config.spec)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings:
        return cls.from_config(LlmConfig.from_env(os.environ if env is None else env))

    def for_model(self, spec: str) -> LlmSettings:
        """These settings with the model `spec` names, in CLAIMS_LLM's form."""
        spec = spec.strip()
        if spec == "offline":
            return replace(self, provider="offline", model=OFFLINE_MODEL_NAME)
        provider, _, model = spec.partition(":")
        if provider != "openai" or not _is_model_name(model):
            raise LlmConfigError(
                f"CLAIMS_LLM={spec!r} is not a model this agent knows; "
                "use 'offline' or 'openai:<model>' (for example openai:gpt-4o-mini)"
            )
        if self.api_key is None and self.base_url is None:
            raise LlmConfigError(
                f"CLAIMS_LLM={printable(spec)} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a "
                "local OpenAI-compatible server); set it, or use CLAIMS_LLM=offline"
            )
        return replace(self, provider="openai", model=model)


def _is_model_name(name: str) -> bool:
    """A provider's model id: printable, no spaces, short (it is logged and traced)."""
    return 0 < len(name) <= MAX_MODEL_NAME_CHARS and name.isprintable() and " " not in name


def build_chat_model(settings: LlmSettings) -> BaseChatModel:
    if settings.offline:
        return OfflineClaimsModel(latency_seconds=settings.offline_latency_seconds)
    from langchain_openai import ChatOpenAI

    # Local OpenAI-compatible servers accept any key; the client insists on one.
    return ChatOpenAI(
        model=settings.model,
        api_key=SecretStr(settings.api_key or "not-needed"),
        base_url=settings.base_url,
        max_retries=0,
        timeout=LLM_REQUEST_TIMEOUT_SECONDS,
        temperature=0,
    )


def _retry_after(error: openai.APIStatusError) -> timedelta | None:
    raw = error.response.headers.get("retry-after")
    try:
        return timedelta(seconds=float(raw)) if raw is not None else None
    except ValueError:
        return None


def _provider_text(error: Exception, secrets: Sequence[str]) -> str:
    """The provider's own words about `error`, redacted first and then shortened, so no
    cut can leave part of a credential behind.
    """
    body = error.body if isinstance(error, openai.APIError) else None
    said = body.get("message") if isinstance(body, dict) else None
    text = redact(said if isinstance(said, str) else str(error), secrets)
    return text if len(text) <= PROVIDER_TEXT_LIMIT else f"{text[:PROVIDER_TEXT_LIMIT]}..."


def translate_llm_error(error: Exception, secrets: Sequence[str] = ()) -> ApplicationError | None:
    """Map provider errors onto Temporal's retry semantics; None leaves the default.

    Messages that quote the provider are redacted: `secrets` are the literal values to
    remove besides anything shaped like a credential.
    """
    if isinstance(error, openai.RateLimitError):
        if error.code == "insufficient_quota" or "insufficient_quota" in str(error):
            return ApplicationError(
                "the model provider reports insufficient quota; add credit or change CLAIMS_LLM",
                type="LlmQuotaExhausted",
                non_retryable=True,
            )
        return ApplicationError(
            "the model provider is rate limiting this worker",
            type="LlmRateLimited",
            next_retry_delay=_retry_after(error),
            # Expected and handled by the workflow: no stack traces in the worker log.
            category=ApplicationErrorCategory.BENIGN,
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ApplicationError(
            "the model provider refused the credentials; check OPENAI_API_KEY",
            type="LlmAuthenticationFailed",
            non_retryable=True,
        )
    if isinstance(error, json.JSONDecodeError | openai.APIResponseValidationError) or (
        isinstance(error, ValueError) and "Unexpected response type" in str(error)
    ):
        return ApplicationError(
            "the model provider's answer is not an OpenAI chat completion "
            f"({type(error).__name__}: {_provider_text(error, secrets)}); check OPENAI_BASE_URL",
            type="LlmResponseUnreadable",
        )
    if isinstance(error, openai.APIStatusError) and 400 <= error.status_code < 500:
        return ApplicationError(
            f"the model provider rejected the request ({error.status_code}): "
            f"{_provider_text(error, secrets)}",
            type="LlmRequestRejected",
            non_retryable=True,
        )
    return None


def _usage(message: AIMessage) -> TokenUsage | None:
    usage = message.usage_metadata
    if usage is None:
        return None
    return TokenUsage(
        input_tokens=usage["input_tokens"],
        output_tokens=usage["output_tokens"],
        total_tokens=usage["total_tokens"],
    )


def submit_assessment_tool() -> dict[str, Any]:
    """The final answer, offered to the model as one more tool."""
    return {
        "type": "function",
        "function": {
            "name": SUBMIT_ASSESSMENT,
            "description": "Submit your assessment of the claim once the evidence is in.",
            "parameters": ClaimAssessment.model_json_schema(),
        },
    }


@asynccontextmanager
async def heartbeating(every: float = HEARTBEAT_SECONDS) -> AsyncIterator[None]:
    """Heartbeat while a long model call runs, so a dead worker is noticed in seconds."""

    async def beat() -> None:
        # Quick calls (the offline model, a warm endpoint) never pay for a heartbeat.
        while True:
            await asyncio.sleep(every)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _response_summary(calls: list[ToolCallRequest], text: str) -> str:
    if not calls:
        return f"text only: {text[:120]}" if text else "empty answer"
    final = next((c for c in calls if c.name == SUBMIT_ASSESSMENT), None)
    if final is not None:
        a = final.arguments
        return (
            f"{SUBMIT_ASSESSMENT}: {a.get('recommendation')} {a.get('payout_amount')} "
            f"(confidence {a.get('confidence')})"
        )
    return "calls " + ", ".join(c.name for c in calls)


class AgentActivities:
    """One model turn per activity: the conversation so far in, the model's calls out."""

    def __init__(
        self, model: BaseChatModel, settings: LlmSettings, tools: Sequence[BaseTool]
    ) -> None:
        self._settings = settings
        self._tools = list(tools)
        self._tool_names = [t.name for t in tools]
        self._models: dict[str, tuple[LlmSettings, Runnable[Any, AIMessage]]] = {
            settings.label: (settings, self._bind(model))
        }

    def _bind(self, model: BaseChatModel) -> Runnable[Any, AIMessage]:
        return model.bind_tools([*self._tools, submit_assessment_tool()], tool_choice="any")

    def _model_for(self, spec: str | None) -> tuple[LlmSettings, Runnable[Any, AIMessage]]:
        """The worker's model, or another one a review asked for (what-if forks)."""
        if spec is None:
            return self._models[self._settings.label]
        try:
            settings = self._settings.for_model(spec)
        except LlmConfigError as error:
            raise ApplicationError(str(error), type="LlmConfigError", non_retryable=True) from None
        if settings.label not in self._models:
            if len(self._models) >= MAX_MODELS_PER_WORKER:
                # The first is the worker's own model; the oldest of the others makes room.
                del self._models[next(itertools.islice(self._models, 1, None))]
            self._models[settings.label] = (settings, self._bind(build_chat_model(settings)))
        return self._models[settings.label]

    @activity.defn(name=AGENT_TURN)
    async def agent_turn(self, request: AgentTurnRequest) -> AgentTurnResult:
        """Ask the model for its next move; provider errors map onto Temporal's retries."""
        try:
            prompt_version, _ = agent_system_prompt(request.prompt_version)
        except UnknownPromptVersionError as unknown:
            raise ApplicationError(
                str(unknown), type="UnknownPromptVersion", non_retryable=True
            ) from None
        messages = agent_messages(request)
        settings, model = self._model_for(request.model)
        started = time.monotonic()
        try:
            async with heartbeating():
                answer = await model.ainvoke(messages)
        except Exception as error:
            # Providers may quote the request, credentials included, in their errors:
            # neither the message nor its causes leave this activity unredacted.
            secrets = settings.secrets()
            cause = redacted_error(error, secrets)
            translated = translate_llm_error(error, secrets)
            if translated is None:
                raise cause from cause.__cause__
            raise translated from cause
        latency_ms = (time.monotonic() - started) * 1000
        calls = [
            ToolCallRequest(id=c.get("id") or f"call_{i}", name=c["name"], arguments=c["args"])
            for i, c in enumerate(answer.tool_calls)
        ]
        calls += [
            ToolCallRequest(
                id=c.get("id") or f"invalid_{i}",
                name=c.get("name") or "",
                parse_error=f"arguments are not valid JSON: {c.get('error') or c.get('args')}",
            )
            for i, c in enumerate(answer.invalid_tool_calls)
        ]
        text = answer.text if isinstance(answer.text, str) else str(answer.content)
        offered = [*self._tool_names, SUBMIT_ASSESSMENT]
        call = LlmCallRecord(
            model=settings.label,
            offline=settings.offline,
            prompt_version=prompt_version,
            prompt_summary=f"{len(messages)} messages; tools: {', '.join(offered)}",
            response_summary=_response_summary(calls, text),
            token_usage=_usage(answer),
            latency_ms=round(latency_ms, 1),
            attempt=activity.info().attempt,
        )
        usage = call.token_usage or TokenUsage()
        record_llm_call(
            call.model,
            timedelta(milliseconds=latency_ms),
            usage.input_tokens,
            usage.output_tokens,
        )
        activity.logger.info(
            "model turn",
            extra={"model": call.model, "calls": [c.name for c in calls], "latency_ms": latency_ms},
        )
        return AgentTurnResult(calls=calls, text=text[:500], call=call)
