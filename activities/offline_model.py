"""The offline model: a deterministic, tool-calling LangChain chat model.

It is a real `BaseChatModel`, driven through the same `bind_tools` call, message
history, callbacks and token accounting as a hosted model, so the agent loop runs
unchanged without a network. On its first turn it calls every evidence tool it is
given, with the facts of the fenced claim; once the answers are in, it reads them and
submits an assessment by fixed adjuster rules. It is the reference behaviour the tests
pin down.

It reads the prompt as a hosted model should: the claim and intake findings only from
their fences in the user message, the claims team's notes only from the system message.
Any staff note sends the claim to a person; one that raises an alarm also lowers the
confidence as a fraud signal does.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCall
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from activities.prompts import CLAIM_FENCE, INTAKE_FENCE, STAFF_NOTES_FENCE, fenced
from workflows.claim import money
from workflows.evidence import ClaimAssessment, Recommendation
from workflows.tools import (
    CHECK_COVERAGE,
    CHECK_CURRENCY_LIMIT,
    INVENTORY_DOCUMENTS,
    LOOKUP_POLICY,
    SCREEN_WATCHLIST,
    SEARCH_CLAIM_HISTORY,
    SUBMIT_ASSESSMENT,
)

OFFLINE_MODEL_NAME = "offline-adjuster-1"

# Words in a staff note that mean "do not let this pay": read as a fraud signal.
_STAFF_ALARM = re.compile(
    r"\b(fraud\w*|suspect\w*|suspicious|do not pay|don'?t pay|hold|stop|block\w*|"
    r"altered|forged|fake|duplicate|police|investigat\w*)\b",
    re.IGNORECASE,
)
_MAX_RATIONALE_CHARS = 2000
_MAX_CONCERN_CHARS = 300


class OfflineModelError(ValueError):
    """The conversation lacks what the offline model reads; a bug in the calling code."""


def _approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def claim_arguments(claim: dict[str, Any]) -> dict[str, Any]:
    """What the offline model answers for each argument a tool asks: the claim's own facts."""
    return {
        "policy_number": claim["policy_number"],
        "claimant_id": claim["claimant"]["id"],
        "category": claim["category"],
        "amount": claim["amount"],
        "currency": claim["currency"],
        "incident_date": claim["incident_date"],
        "document_kinds": [d["kind"] for d in claim.get("documents", [])]
        + claim.get("kinds_not_listed", []),
    }


def evidence_calls(claim: dict[str, Any], tools: list[dict[str, Any]]) -> list[ToolCall]:
    """The first turn: every evidence tool on offer, its arguments read off its schema and
    answered from the claim, as a hosted model fills in what a tool asks for."""
    facts = claim_arguments(claim)
    calls: list[ToolCall] = []
    for tool in tools:
        name = tool["function"]["name"]
        if name == SUBMIT_ASSESSMENT:
            continue
        asked = tool["function"].get("parameters", {}).get("properties", {})
        unknown = sorted(set(asked) - set(facts))
        if unknown:
            raise OfflineModelError(
                f"the offline model cannot fill {', '.join(unknown)} for the tool {name}; "
                "teach claim_arguments what they are"
            )
        args = {argument: facts[argument] for argument in asked}
        calls.append(ToolCall(name=name, args=args, id=f"call_1_{name}", type="tool_call"))
    return calls


def offline_assessment(
    claim: dict[str, Any],
    intake: list[str],
    answers: dict[str, ToolMessage],
    notes: list[str] | None = None,
) -> ClaimAssessment:
    """The reference adjuster's judgement, from the tool answers a hosted model would see."""
    notes = notes or []
    results = {
        name: json.loads(str(m.content)) for name, m in answers.items() if m.status != "error"
    }
    failed = sorted(name for name, m in answers.items() if m.status == "error")
    docs = [f"doc:{d['doc_id']}" for d in claim.get("documents", [])]
    coverage = results.get(CHECK_COVERAGE.name)
    if coverage is not None and not coverage["covered"]:
        return ClaimAssessment(
            recommendation=Recommendation.DENY,
            payout_amount=Decimal(0),
            confidence=0.85,
            rationale=f"Not payable: {'; '.join(coverage['reasons'])} [{CHECK_COVERAGE.name}].",
            cited_evidence=[LOOKUP_POLICY.name, CHECK_COVERAGE.name],
            customer_message=f"We reviewed claim {claim['claim_id']} and, as it stands, your "
            "policy does not cover it. A member of our team will confirm the decision.",
        )
    payable = Decimal(str(coverage["payable_amount"])) if coverage else Decimal(0)
    concerns: list[tuple[str, str]] = [(f"{name} failed", name) for name in failed]
    concerns += [(f"intake: {finding}", "intake") for finding in intake]
    concerns += [(f"staff note: {note}", "staff_notes") for note in notes]
    staff_alarm = any(_STAFF_ALARM.search(note) for note in notes)
    history = results.get(SEARCH_CLAIM_HISTORY.name, {})
    concerns += [
        (f"possible duplicate of {d['claim_id']}", SEARCH_CLAIM_HISTORY.name)
        for d in history.get("duplicates", [])
    ]
    concerns += [
        (f"watch-list match on {hit}", SCREEN_WATCHLIST.name)
        for hit in results.get(SCREEN_WATCHLIST.name, {}).get("hits", [])
    ]
    missing = results.get(INVENTORY_DOCUMENTS.name, {}).get("missing", [])
    if missing:
        concerns.append(("missing documents: " + ", ".join(missing), INVENTORY_DOCUMENTS.name))
    limits = results.get(CHECK_CURRENCY_LIMIT.name, {})
    if limits and not (limits["currency_matches"] and limits["within_limit"]):
        concerns.append(("currency or limit check failed", CHECK_CURRENCY_LIMIT.name))
    if coverage is None:
        concerns.append(("coverage was not established", CHECK_COVERAGE.name))
    if concerns:
        fraud = staff_alarm or any(
            src in {SEARCH_CLAIM_HISTORY.name, SCREEN_WATCHLIST.name} for _, src in concerns
        )
        return ClaimAssessment(
            recommendation=Recommendation.REFER,
            payout_amount=payable,
            confidence=0.4 if fraud else 0.6,
            rationale=_clip(
                "A person should review before any payment: "
                + "; ".join(f"{_clip(text, _MAX_CONCERN_CHARS)} [{src}]" for text, src in concerns)
                + ".",
                _MAX_RATIONALE_CHARS,
            ),
            cited_evidence=sorted({src for _, src in concerns} | {CHECK_COVERAGE.name}),
            customer_message=f"We are reviewing claim {claim['claim_id']}; a member of our "
            "team will look at it and may contact you.",
        )
    return ClaimAssessment(
        recommendation=Recommendation.APPROVE,
        payout_amount=payable,
        confidence=0.92,
        rationale=_clip(
            f"Policy {claim['policy_number']} is active and covers {claim['category']} "
            f"[{LOOKUP_POLICY.name}, {CHECK_COVERAGE.name}]; payable {money(payable)} "
            f"{claim['currency']} after deductible and limit [{CHECK_CURRENCY_LIMIT.name}]; "
            f"no duplicates [{SEARCH_CLAIM_HISTORY.name}] or watch-list hits "
            f"[{SCREEN_WATCHLIST.name}]; required documents on file "
            f"[{INVENTORY_DOCUMENTS.name}, {', '.join(docs)}].",
            _MAX_RATIONALE_CHARS,
        ),
        cited_evidence=[
            LOOKUP_POLICY.name,
            CHECK_COVERAGE.name,
            SEARCH_CLAIM_HISTORY.name,
            SCREEN_WATCHLIST.name,
            INVENTORY_DOCUMENTS.name,
            CHECK_CURRENCY_LIMIT.name,
            *docs,
        ],
        customer_message=f"Good news: claim {claim['claim_id']} is approved and we are paying "
        f"{money(payable)} {claim['currency']}.",
    )


class OfflineClaimsModel(BaseChatModel):
    """Deterministic tool-calling chat model that reviews claims by fixed rules."""

    model_name: str = OFFLINE_MODEL_NAME
    # Simulated thinking time, for demos and benchmarks that want realistic pacing.
    latency_seconds: float = 0.0

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
        if self.latency_seconds:
            time.sleep(self.latency_seconds)
        rules = next((str(m.content) for m in messages if m.type == "system"), "")
        request = next((str(m.content) for m in messages if m.type == "human"), "")
        claim_text = fenced(request, CLAIM_FENCE)
        if claim_text is None:
            raise OfflineModelError(
                f"the offline model reads a <{CLAIM_FENCE}> block; the prompt had none"
            )
        claim = json.loads(claim_text)
        intake = json.loads(fenced(request, INTAKE_FENCE) or "[]")
        notes = json.loads(fenced(rules, STAFF_NOTES_FENCE) or "[]")
        tools: list[dict[str, Any]] = kwargs.get("tools") or []
        tool_names = [t["function"]["name"] for t in tools]
        answers = {m.name or "": m for m in messages if isinstance(m, ToolMessage)}
        evidence_answers = {k: v for k, v in answers.items() if k != SUBMIT_ASSESSMENT}
        if not evidence_answers and any(n != SUBMIT_ASSESSMENT for n in tool_names):
            calls = evidence_calls(claim, tools)
        else:
            assessment = offline_assessment(claim, intake, evidence_answers, notes)
            turn = sum(1 for m in messages if isinstance(m, AIMessage)) + 1
            calls = [
                ToolCall(
                    name=SUBMIT_ASSESSMENT,
                    args=assessment.model_dump(mode="json"),
                    id=f"call_{turn}_{SUBMIT_ASSESSMENT}",
                    type="tool_call",
                )
            ]
        prompt = "\n".join(str(m.content) for m in messages)
        answer = json.dumps([c["args"] for c in calls])
        message = AIMessage(content="", tool_calls=calls)
        message.usage_metadata = UsageMetadata(
            input_tokens=_approx_tokens(prompt),
            output_tokens=_approx_tokens(answer),
            total_tokens=_approx_tokens(prompt) + _approx_tokens(answer),
        )
        message.response_metadata = {"model_name": self.model_name, "offline": True}
        return ChatResult(generations=[ChatGeneration(message=message)])
