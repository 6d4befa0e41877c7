"""The model behind the agent: chosen by CLAIMS_LLM, called once per activity.

`offline` (the default) is the deterministic offline model; `openai:<model>` reaches
OpenAI or any OpenAI-compatible server (OPENAI_BASE_URL) through langchain-openai.
The client never retries on its own: Temporal's retry policy owns retries, so every
attempt is visible in history.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from pydantic import SecretStr, ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.offline_model import OfflineClaimsModel
from activities.prompts import ASSESSMENT_PROMPT_VERSION, assessment_messages
from runtime.errors import UserFacingError
from workflows.claim import money
from workflows.evidence import (
    AssessmentRequest,
    AssessmentResult,
    ClaimAssessment,
    LlmCallRecord,
    TokenUsage,
)

LLM_REQUEST_TIMEOUT_SECONDS = 60.0


class LlmConfigError(UserFacingError):
    """CLAIMS_LLM names a model that cannot be reached as configured."""


@dataclass(frozen=True)
class LlmSettings:
    provider: str
    model: str
    api_key: str | None = None
    base_url: str | None = None

    @property
    def offline(self) -> bool:
        return self.provider == "offline"

    @property
    def label(self) -> str:
        return "offline" if self.offline else f"{self.provider}:{self.model}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LlmSettings:
        env = os.environ if env is None else env
        spec = env.get("CLAIMS_LLM", "offline").strip()
        if spec == "offline":
            return cls(provider="offline", model=OfflineClaimsModel().model_name)
        provider, _, model = spec.partition(":")
        if provider != "openai" or not model:
            raise LlmConfigError(
                f"CLAIMS_LLM={spec!r} is not a model this agent knows; "
                "use 'offline' or 'openai:<model>' (for example openai:gpt-4o-mini)"
            )
        api_key = env.get("OPENAI_API_KEY") or None
        base_url = env.get("OPENAI_BASE_URL") or None
        if api_key is None and base_url is None:
            raise LlmConfigError(
                f"CLAIMS_LLM={spec} needs OPENAI_API_KEY (or OPENAI_BASE_URL for a local "
                "OpenAI-compatible server); set it, or use CLAIMS_LLM=offline"
            )
        return cls(provider="openai", model=model, api_key=api_key, base_url=base_url)


def build_chat_model(settings: LlmSettings) -> BaseChatModel:
    if settings.offline:
        return OfflineClaimsModel()
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


def translate_llm_error(error: Exception) -> ApplicationError | None:
    """Map provider errors onto Temporal's retry semantics; None leaves the default."""
    if isinstance(error, openai.RateLimitError):
        if "insufficient_quota" in str(error):
            return ApplicationError(
                "the model provider reports insufficient quota; add credit or change CLAIMS_LLM",
                type="LlmQuotaExhausted",
                non_retryable=True,
            )
        return ApplicationError(
            "the model provider is rate limiting this worker",
            type="LlmRateLimited",
            next_retry_delay=_retry_after(error),
        )
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        return ApplicationError(
            "the model provider refused the credentials; check OPENAI_API_KEY",
            type="LlmAuthenticationFailed",
            non_retryable=True,
        )
    if isinstance(error, openai.APIStatusError) and 400 <= error.status_code < 500:
        return ApplicationError(
            f"the model provider rejected the request ({error.status_code}): {error.message}",
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


class AssessmentActivities:
    """The LLM call that turns evidence into a structured, validated assessment."""

    def __init__(self, model: BaseChatModel, settings: LlmSettings) -> None:
        self._model = model
        self._settings = settings

    @activity.defn
    async def assess_claim(self, request: AssessmentRequest) -> AssessmentResult:
        """Ask the model for an assessment; output that fails validation is not retried."""
        messages = assessment_messages(request)
        structured = self._model.with_structured_output(ClaimAssessment, include_raw=True)
        started = time.monotonic()
        try:
            answer: Any = await structured.ainvoke(messages)
        except Exception as error:
            translated = translate_llm_error(error)
            if translated is None:
                raise
            raise translated from error
        latency_ms = (time.monotonic() - started) * 1000
        raw: AIMessage = answer["raw"]
        parsed = answer["parsed"]
        if not isinstance(parsed, ClaimAssessment):
            problem = answer.get("parsing_error") or "no structured answer"
            if isinstance(problem, ValidationError):
                problem = problem.errors(include_url=False)
            raise ApplicationError(
                f"the model's assessment did not validate: {problem}",
                type="ModelOutputInvalid",
                non_retryable=True,
            )
        call = LlmCallRecord(
            model=self._settings.label,
            offline=self._settings.offline,
            prompt_version=ASSESSMENT_PROMPT_VERSION,
            prompt_summary=f"{len(messages)} messages; output {ClaimAssessment.__name__}",
            response_summary=f"{parsed.recommendation} {money(parsed.payout_amount)} "
            f"(confidence {parsed.confidence:.2f})",
            token_usage=_usage(raw),
            latency_ms=round(latency_ms, 1),
            attempt=activity.info().attempt,
        )
        activity.logger.info(
            "assessment received",
            extra={"model": call.model, "recommendation": str(parsed.recommendation)},
        )
        return AssessmentResult(assessment=parsed, call=call)
