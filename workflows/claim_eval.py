"""Evaluating candidate settings on decided claims: one durable evaluation, a dry rerun per case.

`ClaimEvalWorkflow` pages through the cases (an activity reads the dataset, the exported
histories or the list query), starts one `ClaimEvalRunWorkflow` child per case and
candidate, a few at a time, and keeps each child's compact answer. Everything it knows is
in its history, so a worker crash or a deploy replays it to where it was: finished reruns
are never started again. It continues as new between pages once its history grows, with
no child in flight, carrying the labels and answers so far.

`ClaimEvalRunWorkflow` is a what-if rerun (`ClaimWhatIfWorkflow`): no payout, no notice,
it ends at the first human gate; it answers with the route it took, the assessment and
what the model turns cost.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from workflows.agent import AgentOutcome, StopReason
    from workflows.claim_review import ClaimWhatIfWorkflow
    from workflows.evaluation import (
        MAX_EVAL_RUNS,
        PROGRESS_BYTES_BUDGET,
        Candidate,
        CandidateAnswer,
        EvalCase,
        EvalCasePage,
        EvalCounts,
        EvalProgress,
        EvalRequest,
        EvalResult,
        EvalRunRequest,
        Route,
        child_workflow_id,
    )
    from workflows.options import ReviewOptions, WhatIfRequest
    from workflows.routing import RoutingDecision
    from workflows.state import OutcomeStatus

LOAD_EVAL_CASES = "load_eval_cases"
LOAD_TIMEOUT = timedelta(minutes=5)
LOAD_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10)
# A rerun that has not ended in this long (a model rate limited for hours) is counted as
# an error rather than holding the evaluation.
RUN_TIMEOUT = timedelta(hours=2)
# Continue as new after this many reruns in one run: about ten events each.
RUNS_PER_HISTORY = 400


@workflow.defn
class ClaimEvalRunWorkflow(ClaimWhatIfWorkflow):
    """One case under one candidate, as a dry run: what the agent would do now."""

    @workflow.init
    def __init__(self, request: EvalRunRequest) -> None:
        super().__init__(request.what_if)
        self._model_failure = ""

    def _route(self, result: AgentOutcome) -> RoutingDecision:
        # A model that never answered (no key on the worker, an outage) sends the claim to
        # a person in a review; in an evaluation the candidate was not measured at all.
        if result.assessment is None and result.stop_reason is StopReason.MODEL_UNAVAILABLE:
            self._model_failure = f"the candidate's model gave no answer: {result.stop_detail}"
        return super()._route(result)

    @workflow.run
    async def run(self, request: EvalRunRequest) -> CandidateAnswer:  # type: ignore[override]
        outcome = await self._published(self._review(request.what_if.claim))
        assessment = self._book.state.context.assessment
        usage = self._usage
        if self._model_failure:
            return CandidateAnswer(
                case_id=request.case_id,
                candidate=request.candidate,
                workflow_id=workflow.info().workflow_id,
                model=usage.model,
                model_turns=usage.model_turns,
                tool_calls=usage.tool_calls,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                model_ms=round(usage.model_ms, 1),
                error=self._model_failure[:500],
            )
        return CandidateAnswer(
            case_id=request.case_id,
            candidate=request.candidate,
            workflow_id=workflow.info().workflow_id,
            route=Route.AUTO if outcome.status is OutcomeStatus.COMPLETED else Route.HUMAN,
            status=outcome.status,
            recommendation=assessment.recommendation if assessment else None,
            proposed_payout=assessment.payout_amount if assessment else None,
            payout_amount=outcome.payout_amount,
            confidence=assessment.confidence if assessment else None,
            model=usage.model,
            model_turns=usage.model_turns,
            tool_calls=usage.tool_calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            model_ms=round(usage.model_ms, 1),
        )


@workflow.defn
class ClaimEvalWorkflow:
    """Rerun decided claims under candidate settings, a few at a time, and keep the answers."""

    @workflow.init
    def __init__(self, request: EvalRequest) -> None:
        self._request = request
        self._progress = request.progress or EvalProgress()
        self._running = 0
        self._slots = asyncio.Semaphore(request.concurrency)
        self._known = {label.case_id for label in self._progress.labels}

    @workflow.run
    async def run(self, request: EvalRequest) -> EvalResult:
        progress = self._progress
        reruns_here = 0
        while not progress.source_done:
            page = await self._next_page()
            cases = self._new_cases(page)
            reruns_here += len(cases) * len(request.candidates)
            await asyncio.gather(
                *(
                    self._rerun(case, candidate)
                    for case in cases
                    for candidate in request.candidates
                )
            )
            if not progress.source_done and (
                reruns_here >= RUNS_PER_HISTORY or workflow.info().is_continue_as_new_suggested()
            ):
                # No child is in flight here: continuing as new closes none of them.
                workflow.continue_as_new(request.model_copy(update={"progress": progress}))
        return EvalResult(
            eval_id=request.eval_id,
            candidates=request.candidates,
            recorded_evidence=request.recorded_evidence,
            labels=progress.labels,
            answers=progress.answers,
            skipped=progress.skipped,
        )

    @workflow.query
    def progress(self) -> EvalProgress:
        """Cases loaded, answers so far, and whether the source is read to its end."""
        return self._progress

    @workflow.query
    def counts(self) -> EvalCounts:
        """How far the evaluation is, for a progress bar."""
        progress = self._progress
        return EvalCounts(
            cases=len(progress.labels),
            candidates=len(self._request.candidates),
            answered=len(progress.answers),
            errors=sum(1 for answer in progress.answers if answer.error),
            running=self._running,
            source_done=progress.source_done,
            skipped=len(progress.skipped),
        )

    def _case_limit(self) -> int:
        by_runs = MAX_EVAL_RUNS // len(self._request.candidates)
        return min(self._request.source.limit, by_runs)

    async def _next_page(self) -> EvalCasePage:
        progress = self._progress
        try:
            page: EvalCasePage = await workflow.execute_activity(
                LOAD_EVAL_CASES,
                args=[self._request.source, progress.cursor],
                result_type=EvalCasePage,
                start_to_close_timeout=LOAD_TIMEOUT,
                retry_policy=LOAD_RETRY,
                summary="Read the next cases to evaluate",
            )
        except ActivityError as failure:
            # The source cannot be read (a missing folder, a bad query): the evaluation
            # ends with what it has, and says why.
            progress.skip(f"source: {failure.cause or failure}")
            progress.source_done = True
            return EvalCasePage(cases=[])
        progress.cursor = page.cursor
        for entry in page.skipped:
            progress.skip(entry)
        progress.source_done = page.cursor is None
        return page

    def _new_cases(self, page: EvalCasePage) -> list[EvalCase]:
        """The page's cases not seen before, up to the evaluation's limit and as many as its
        state can carry: a worst-case answer for each rerun is counted before it starts."""
        progress = self._progress
        candidates = len(self._request.candidates)
        carried = self._request.model_copy(update={"progress": progress})
        used = len(carried.model_dump_json().encode("utf-8"))
        cases: list[EvalCase] = []
        for case in page.cases:
            if len(progress.labels) >= self._case_limit():
                progress.source_done = True
                if self._case_limit() < self._request.source.limit:
                    progress.skip(
                        f"the evaluation stops at {len(progress.labels):,} cases: "
                        f"{MAX_EVAL_RUNS:,} reruns at most, {candidates} per case; "
                        "evaluate fewer candidates at once"
                    )
                break
            if case.case_id in self._known:
                progress.skip(f"{case.case_id}: appears twice; evaluated once")
                continue
            label = case.label()
            used += progress.case_bytes(label, candidates=candidates)
            if used > PROGRESS_BYTES_BUDGET:
                progress.source_done = True
                progress.skip(
                    f"the evaluation stops at {len(progress.labels):,} cases: more answers "
                    "would not fit in one Temporal payload; evaluate fewer candidates at once"
                )
                break
            self._known.add(case.case_id)
            progress.labels.append(label)
            cases.append(case)
        return cases

    async def _rerun(self, case: EvalCase, candidate: Candidate) -> None:
        run_id = child_workflow_id(self._request.eval_id, candidate.name, case.case_id)
        request = EvalRunRequest(
            case_id=case.case_id,
            candidate=candidate.name,
            what_if=WhatIfRequest(
                claim=case.claim,
                options=ReviewOptions(
                    llm=candidate.llm,
                    prompt_version=candidate.prompt_version,
                    policy_overrides=candidate.policy_overrides,
                    notes=case.notes,
                    forked_from=f"evaluation {self._request.eval_id}",
                    recorded_evidence=case.recorded_evidence
                    if self._request.recorded_evidence
                    else {},
                ),
            ),
        )
        async with self._slots:
            self._running += 1
            try:
                answer: CandidateAnswer = await workflow.execute_child_workflow(
                    ClaimEvalRunWorkflow.run,
                    request,
                    id=run_id,
                    execution_timeout=RUN_TIMEOUT,
                    static_summary=f"Evaluation {self._request.eval_id}: "
                    f"{candidate.name} on {case.case_id}",
                )
            except ChildWorkflowError as failure:
                answer = CandidateAnswer(
                    case_id=case.case_id,
                    candidate=candidate.name,
                    workflow_id=run_id,
                    error=str(failure.cause or failure),
                )
            finally:
                self._running -= 1
        self._progress.answers.append(answer.bounded())
