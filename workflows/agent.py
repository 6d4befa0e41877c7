"""The reasoning loop, run inside the workflow: model turn, tool calls, answers, repeat.

Each model turn is one activity and each tool call is one activity, so every
step is its own history event: traced, retried, and resumed after a crash without
redoing finished work. The model proposes; this loop checks every call against the
claim under review before it runs, and never turns an error into an approval.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ValidationError

    from workflows.claim import Claim, money
    from workflows.evidence import (
        AGENT_TURN,
        AgentStep,
        AgentTurnRequest,
        AgentTurnResult,
        ClaimAssessment,
        ClaimHistory,
        CoverageCheck,
        DocumentInventory,
        Evidence,
        LimitCheck,
        LlmCallRecord,
        PolicyLookup,
        ToolAnswer,
        ToolCallRequest,
        WatchlistScreen,
    )
    from workflows.state import (
        AuditOutcome,
        ClaimState,
        PendingAction,
        PendingActionType,
        ReasoningStep,
        Step,
        ToolCallRecord,
    )
    from workflows.tools import SUBMIT_ASSESSMENT, TOOLS, validate_tool_call

TOOL_TIMEOUT = timedelta(seconds=30)
TOOL_RETRY = RetryPolicy(maximum_attempts=3, maximum_interval=timedelta(seconds=5))
LLM_TIMEOUT = timedelta(minutes=2)
LLM_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Rate limits are waited out by the workflow, visibly; other provider errors are retried
# by Temporal a few times and then handed to a person.
LLM_RETRY = RetryPolicy(
    maximum_attempts=5,
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=["LlmRateLimited"],
)
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=30)
MAX_RATE_LIMIT_WAITS = 10
MAX_REPAIRS = 1

# Which part of the evidence each tool fills in, by tool name.


class StopReason(StrEnum):
    """Why the loop ended without an assessment; the claim then goes to a person."""

    MODEL_OUTPUT_INVALID = "model_output_invalid"
    STEP_BUDGET_EXHAUSTED = "step_budget_exhausted"
    MODEL_UNAVAILABLE = "model_unavailable"


class ReviewHost(Protocol):
    """What the loop needs from the workflow that runs it."""

    def transition(self, to: Step, reason: str) -> None: ...

    async def checkpoint(self) -> None:
        """Between steps: hold here while an operator has paused the claim."""

    def publish(self) -> None: ...

    def audit(self, actor: str, action: str, outcome: AuditOutcome, detail: str) -> None: ...


@dataclass
class AgentUsage:
    """What the model turns and tools of one run cost; kept in memory, never in the state.

    Rebuilt by replay like any workflow variable, so an evaluation reads the same figures
    after a worker restart.
    """

    model: str = ""
    model_turns: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    model_ms: float = 0.0

    def count_turn(self, call: LlmCallRecord) -> None:
        self.model = call.model
        self.model_turns += 1
        self.model_ms += call.latency_ms
        if call.token_usage is not None:
            self.input_tokens += call.token_usage.input_tokens
            self.output_tokens += call.token_usage.output_tokens


@dataclass
class AgentOutcome:
    evidence: Evidence
    assessment: ClaimAssessment | None = None
    stop_reason: StopReason | None = None
    stop_detail: str = ""

    @property
    def stopped_because(self) -> str | None:
        if self.stop_reason is None:
            return None
        return f"{self.stop_reason}: {self.stop_detail}"


@dataclass
class ClaimAgent:
    """The loop for one claim; its progress lives in `state.llm_state` and in history."""

    claim: Claim
    state: ClaimState
    host: ReviewHost
    step_budget: int
    intake_findings: list[str]
    notes: list[str] = field(default_factory=list)
    model: str | None = None
    prompt_version: str | None = None
    # Tool name -> the tool's recorded answer; such tools are answered without an activity.
    recorded_evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: AgentUsage = field(default_factory=AgentUsage)
    steps: list[AgentStep] = field(default_factory=list)
    _tool_errors: dict[str, str] = field(default_factory=dict)

    async def run(self) -> AgentOutcome:
        evidence = Evidence(intake_findings=self.intake_findings)
        repairs = 0
        for turn in range(1, self.step_budget + 1):
            await self.host.checkpoint()
            self.host.transition(Step.ASSESSING, f"model turn {turn}")
            result = await self._ask_model(turn)
            if isinstance(result, AgentOutcome):
                result.evidence = self._finish(evidence)
                return result
            final = next((c for c in result.calls if c.name == SUBMIT_ASSESSMENT), None)
            tool_calls = [c for c in result.calls if c.name != SUBMIT_ASSESSMENT]
            if final is not None and not tool_calls:
                assessment, problem = _parse_assessment(final)
                if assessment is not None:
                    self.state.llm_state.reasoning_trace[-1].assessment = assessment
                    return AgentOutcome(evidence=self._finish(evidence), assessment=assessment)
                repairs += 1
                if repairs > MAX_REPAIRS:
                    return AgentOutcome(
                        evidence=self._finish(evidence),
                        stop_reason=StopReason.MODEL_OUTPUT_INVALID,
                        stop_detail=problem,
                    )
                self.steps.append(
                    AgentStep(
                        calls=[final],
                        answers=[_error(final, f"{problem}. Call {SUBMIT_ASSESSMENT} again.")],
                    )
                )
                continue
            if not result.calls:
                repairs += 1
                if repairs > MAX_REPAIRS:
                    return AgentOutcome(
                        evidence=self._finish(evidence),
                        stop_reason=StopReason.MODEL_OUTPUT_INVALID,
                        stop_detail="the model answered without calling a tool",
                    )
                self.steps.append(
                    AgentStep(
                        calls=[],
                        text=result.text,
                        note=f"Answer with tool calls; to finish, call {SUBMIT_ASSESSMENT}.",
                    )
                )
                continue
            self.host.transition(
                Step.GATHERING_EVIDENCE, "tools: " + ", ".join(c.name for c in tool_calls)
            )
            answers = await asyncio.gather(*(self._use_tool(c, evidence) for c in tool_calls))
            if final is not None:
                answers.append(
                    _error(final, f"call {SUBMIT_ASSESSMENT} alone, once the evidence is in")
                )
            self.steps.append(AgentStep(calls=result.calls, answers=list(answers)))
        return AgentOutcome(
            evidence=self._finish(evidence),
            stop_reason=StopReason.STEP_BUDGET_EXHAUSTED,
            stop_detail=f"no assessment after {self.step_budget} model turns",
        )

    async def _ask_model(self, turn: int) -> AgentTurnResult | AgentOutcome:
        """One model turn; rate limits are waited out in the open, other failures stop."""
        request = AgentTurnRequest(
            claim=self.claim,
            steps=self.steps,
            intake_findings=self.intake_findings,
            notes=self.notes,
            model=self.model,
            prompt_version=self.prompt_version,
        )
        for _ in range(MAX_RATE_LIMIT_WAITS + 1):
            try:
                result: AgentTurnResult = await workflow.execute_activity(
                    AGENT_TURN,
                    request,
                    result_type=AgentTurnResult,
                    start_to_close_timeout=LLM_TIMEOUT,
                    heartbeat_timeout=LLM_HEARTBEAT_TIMEOUT,
                    retry_policy=LLM_RETRY,
                    summary=f"Model turn {turn}",
                )
            except ActivityError as failure:
                cause = failure.cause
                if isinstance(cause, ApplicationError) and cause.type == "LlmRateLimited":
                    await self._wait_out_rate_limit(cause.next_retry_delay)
                    continue
                detail = str(cause or failure)
                self.host.audit("claim-review-agent", "model_turn", AuditOutcome.RECORDED, detail)
                return AgentOutcome(
                    evidence=Evidence(),
                    stop_reason=StopReason.MODEL_UNAVAILABLE,
                    stop_detail=detail,
                )
            self.state.llm_state.reasoning_trace.append(
                ReasoningStep(at=workflow.now(), call=result.call, turn=turn)
            )
            self.usage.count_turn(result.call)
            return result
        return AgentOutcome(
            evidence=Evidence(),
            stop_reason=StopReason.MODEL_UNAVAILABLE,
            stop_detail=f"still rate limited after {MAX_RATE_LIMIT_WAITS} waits",
        )

    async def _wait_out_rate_limit(self, delay: timedelta | None) -> None:
        """A rate limit is a wait like any other: explicit, with its resume time."""
        delay = delay or DEFAULT_RATE_LIMIT_WAIT
        self.host.audit(
            "claim-review-agent",
            "rate_limited",
            AuditOutcome.RECORDED,
            f"waiting {delay.total_seconds():g}s for the model provider",
        )
        now = workflow.now()
        wait = PendingAction(
            type=PendingActionType.RATE_LIMIT,
            timeout=now + delay,
            created_at=now,
            trigger="timer: the model provider's Retry-After",
            on_timeout="ask the model again",
        )
        self.state.pending_actions.append(wait)
        self.host.publish()
        await workflow.sleep(delay, summary="rate limited by the model provider")
        self.state.pending_actions.remove(wait)
        self.host.publish()

    async def _use_tool(self, call: ToolCallRequest, evidence: Evidence) -> ToolAnswer:
        """Validate one call, run it as an activity, record it, answer the model.

        Not a local activity, though the tools only read local data. With temporalio 1.35,
        a query that arrives while local activities run can make the worker finish the
        workflow task early and hand their results to the workflow in the next task, while
        a replay hands them over in the first. A signal or update in that next task then
        meets a different state on replay, and the history stops replaying.
        """
        started = workflow.now()
        checked = call.parse_error or validate_tool_call(self.claim, call.name, call.arguments)
        result: BaseModel | None = None
        error: str | None = None
        self.usage.tool_calls += 1
        if isinstance(checked, str):
            error = checked
        elif call.name in self.recorded_evidence:
            result, error = _recorded_answer(call.name, self.recorded_evidence[call.name])
        else:
            try:
                # The summary is the catalogue's fixed wording, never the arguments: it is
                # what the web UI lists for the call, and it must name no claimant.
                tool = TOOLS[call.name]
                result = await workflow.execute_activity(
                    tool.activity,
                    checked,
                    result_type=tool.result,
                    start_to_close_timeout=TOOL_TIMEOUT,
                    retry_policy=TOOL_RETRY,
                    summary=tool.summary,
                )
            except ActivityError as failure:
                error = f"{call.name} failed: {failure.cause or failure}"
                self._tool_errors[call.name] = error
        if result is not None:
            setattr(evidence, TOOLS[call.name].evidence_field, result)
        self.state.llm_state.tool_call_history.append(
            ToolCallRecord(
                name=call.name,
                arguments=call.arguments,
                result_summary=summarize(result) if result is not None else "",
                duration_ms=(workflow.now() - started).total_seconds() * 1000,
                error=error,
                at=started,
            )
        )
        if error is not None:
            return _error(call, error)
        assert result is not None
        return ToolAnswer(call_id=call.id, name=call.name, content=result.model_dump_json())

    def _finish(self, evidence: Evidence) -> Evidence:
        unchecked = set(evidence.unchecked)
        evidence.tool_errors = [e for name, e in self._tool_errors.items() if name in unchecked]
        return evidence


def _recorded_answer(name: str, recorded: dict[str, Any]) -> tuple[BaseModel | None, str | None]:
    """A tool's answer from the original review, checked against the tool's result shape."""
    try:
        return TOOLS[name].result.model_validate(recorded), None
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}"
            for e in invalid.errors(include_url=False)[:3]
        )
        return None, f"{name}: the recorded answer does not fit the tool's result ({problems})"


def _error(call: ToolCallRequest, message: str) -> ToolAnswer:
    return ToolAnswer(call_id=call.id, name=call.name, content=f"error: {message}", error=True)


def _parse_assessment(call: ToolCallRequest) -> tuple[ClaimAssessment | None, str]:
    if call.parse_error:
        return None, call.parse_error
    try:
        return ClaimAssessment.model_validate(call.arguments), ""
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'assessment'}: {e['msg']}"
            for e in invalid.errors(include_url=False)
        )
        return None, f"the assessment is not valid: {problems}"


def summarize(result: BaseModel) -> str:
    """One line for the trace; the full result stays in the activity's history event."""
    match result:
        case PolicyLookup(policy=None):
            return f"policy {result.policy_number} not found"
        case PolicyLookup(policy=policy) if policy is not None:
            return f"policy {result.policy_number} {policy.status}"
        case CoverageCheck(covered=True):
            return f"covered; payable {money(result.payable_amount)}"
        case CoverageCheck():
            return "not covered: " + "; ".join(result.reasons)
        case ClaimHistory():
            prior, duplicates = len(result.prior_claims), len(result.duplicates)
            return f"{prior} earlier claim(s), {duplicates} duplicate(s)"
        case WatchlistScreen():
            return f"{len(result.hits)} watch-list hit(s)"
        case DocumentInventory():
            missing = ", ".join(result.missing) or "none"
            return f"{len(result.present)} kind(s) on file; missing: {missing}"
        case LimitCheck(policy_found=False):
            return "policy not found"
        case LimitCheck():
            return f"currency {'ok' if result.currency_matches else 'differs'}; " + (
                "within limit" if result.within_limit else "over limit"
            )
    return type(result).__name__
