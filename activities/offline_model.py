"""The offline model: a deterministic LangChain chat model for demos, tests and air gaps.

It is a real `BaseChatModel`, so the same calling code, structured output, callbacks
and token accounting run for it as for a hosted model. It reads the fenced evidence
in the prompt and answers the way the reference adjuster rules say, every time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from activities.prompts import fenced
from workflows.claim import money
from workflows.evidence import ClaimAssessment, Recommendation

OFFLINE_MODEL_NAME = "offline-adjuster-1"


class OfflineModelError(ValueError):
    """The prompt did not carry what the offline model reads; a bug in the calling code."""


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def offline_assessment(claim: dict[str, Any], evidence: dict[str, Any]) -> ClaimAssessment:
    """The reference adjuster's judgement, from the same evidence a hosted model sees."""
    coverage = evidence["coverage"]
    fraud = evidence["fraud"]
    payable = Decimal(str(coverage["payable_amount"]))
    docs = [f"doc:{d['doc_id']}" for d in claim.get("documents", [])]
    cited = ["policy", "coverage", "fraud_screen", *docs]
    if not evidence["policy"]["found"] or not coverage["covered"]:
        reasons = coverage["reasons"] or [f"policy {claim['policy_number']} not found"]
        return ClaimAssessment(
            recommendation=Recommendation.DENY,
            payout_amount=Decimal(0),
            confidence=0.85,
            rationale="Not payable: " + "; ".join(reasons) + " [policy, coverage].",
            cited_evidence=["policy", "coverage"],
        )
    if fraud["duplicates"] or fraud["watchlist_hits"]:
        found = [f"possible duplicate of {d['claim_id']}" for d in fraud["duplicates"]]
        found += [f"watch-list match on {hit}" for hit in fraud["watchlist_hits"]]
        return ClaimAssessment(
            recommendation=Recommendation.REFER,
            payout_amount=payable,
            confidence=0.4,
            rationale="Covered, but the fraud screen found: "
            + "; ".join(found)
            + " [fraud_screen]. A person should review before any payment.",
            cited_evidence=cited,
        )
    if evidence["intake_findings"]:
        return ClaimAssessment(
            recommendation=Recommendation.REFER,
            payout_amount=payable,
            confidence=0.6,
            rationale="Covered, but intake found: "
            + "; ".join(evidence["intake_findings"])
            + " [intake].",
            cited_evidence=[*cited, "intake"],
        )
    return ClaimAssessment(
        recommendation=Recommendation.APPROVE,
        payout_amount=payable,
        confidence=0.92 if docs else 0.7,
        rationale=(
            f"Policy {claim['policy_number']} is active and covers {claim['category']} "
            f"[policy, coverage]; payable {money(payable)} {claim['currency']} after "
            f"deductible and limit; no duplicates or watch-list hits [fraud_screen]; "
            f"{len(docs)} supporting document(s) on file."
        ),
        cited_evidence=cited,
    )


class OfflineClaimsModel(BaseChatModel):
    """Deterministic tool-calling chat model that assesses claims by fixed rules."""

    model_name: str = OFFLINE_MODEL_NAME

    @property
    def _llm_type(self) -> str:
        return "offline-claims"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(
            tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs
        )

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        prompt = "\n".join(str(m.content) for m in messages)
        # The fenced blocks are in the last user turn; the system prompt only names them.
        request = next((str(m.content) for m in reversed(messages) if m.type == "human"), "")
        claim_text, evidence_text = fenced(request, "claim"), fenced(request, "evidence")
        if claim_text is None or evidence_text is None:
            raise OfflineModelError(
                "the offline model reads a <claim> and an <evidence> block; the prompt had neither"
            )
        assessment = offline_assessment(json.loads(claim_text), json.loads(evidence_text))
        args = assessment.model_dump(mode="json")
        tool_names = [t["function"]["name"] for t in kwargs.get("tools") or []]
        if ClaimAssessment.__name__ in tool_names:
            message = AIMessage(
                content="",
                tool_calls=[{"name": ClaimAssessment.__name__, "args": args, "id": "call_0"}],
            )
        else:
            message = AIMessage(content=json.dumps(args))
        answer = json.dumps(args)
        usage = UsageMetadata(
            input_tokens=_approx_tokens(prompt),
            output_tokens=_approx_tokens(answer),
            total_tokens=_approx_tokens(prompt) + _approx_tokens(answer),
        )
        message.usage_metadata = usage
        message.response_metadata = {"model_name": self.model_name, "offline": True}
        return ChatResult(generations=[ChatGeneration(message=message)])
