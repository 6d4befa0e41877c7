"""What an evaluation compares: decided claims, candidate settings, and the candidates' answers.

An evaluation reruns the agent on claims whose outcome people already decided, under
candidate settings (another model, prompt version or review policy), and compares. The
cases come from a dataset file, a folder of exported histories or a list query; the
evaluation workflow keeps only their labels (never the claim text) and the candidates'
compact answers, so a thousand cases fit in its state and its result.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workflows.claim import Claim, Money
from workflows.evidence import Recommendation
from workflows.options import WhatIfRequest
from workflows.people import PlainText
from workflows.state import OutcomeStatus

# The evaluation's own workflow id, children's ids and report file names are built from
# these; anything else (spaces, slashes, control characters) is refused at the door.
EVAL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
CANDIDATE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
# One evaluation is bounded, so its state and its result stay far below payload limits.
MAX_EVAL_CASES = 1000
MAX_CANDIDATES = 4
MAX_EVAL_RUNS = 2000
MAX_CONCURRENCY = 50
# The evaluation's state travels whole, as its input when it continues as new and as its
# result: kept under this many bytes of JSON, a margin below Temporal's 2 MB per payload.
PROGRESS_BYTES_BUDGET = 1_500_000
# The most one kept answer takes (`CandidateAnswer.bounded`), reserved for each rerun
# before it starts.
ANSWER_BYTES_MAX = 4096
MAX_ANSWER_ERROR_CHARS = 300
MAX_ANSWER_MODEL_CHARS = 100
# Entries of the source that were no case: the first ones listed, the rest counted.
MAX_SKIPPED_LISTED = 200
MAX_SKIPPED_CHARS = 500
# Who decided an auto-approved claim, as its outcome's `decided_by` names it.
AGENT_DECIDER = "claim-review-agent"


class Route(StrEnum):
    """Where a claim went: paid by the agent within its authority, or put before a person."""

    AUTO = "auto"
    HUMAN = "human"


class FinalDecision(BaseModel):
    """What finally happened to the claim: the label a candidate is measured against."""

    model_config = ConfigDict(frozen=True)

    status: OutcomeStatus
    payout_amount: Money = Field(default=Decimal(0))
    # Who decided: AGENT_DECIDER for an auto-approval, else the person's name.
    decided_by: PlainText = Field(min_length=1, max_length=200)
    route: Route


class OriginalReview(BaseModel):
    """What the agent recommended when the claim was reviewed for real, where known."""

    model_config = ConfigDict(frozen=True)

    recommendation: Recommendation | None = None
    payout_amount: Money | None = None
    route: Route | None = None


class EvalCase(BaseModel):
    """One decided claim: the claim as submitted, what happened, and the evidence then."""

    model_config = ConfigDict(frozen=True)

    case_id: str = Field(min_length=1, max_length=64)
    claim: Claim
    final: FinalDecision
    original: OriginalReview = Field(default_factory=OriginalReview)
    # Staff notes the original review started with.
    notes: list[str] = Field(default_factory=list, max_length=20)
    # Tool name -> the tool's answer in the original review (JSON of the result model),
    # for `--recorded-evidence`: a model comparison not muddied by changed records.
    recorded_evidence: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # What kind of case this is ("duplicate", "lapsed_policy", "prompt_injection", ...).
    tags: list[str] = Field(default_factory=list, max_length=20)
    # The review it came from ("claim-CLM-1002"), for `claims show`; None for generated cases.
    workflow_id: str | None = None

    def label(self) -> CaseLabel:
        return CaseLabel(
            case_id=self.case_id,
            currency=self.claim.currency,
            claim_amount=self.claim.amount,
            final=self.final,
            original=self.original,
            tags=self.tags,
            workflow_id=self.workflow_id,
        )


class CaseLabel(BaseModel):
    """An evaluation case without its claim text: all the report needs of it."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    currency: str
    claim_amount: Money
    final: FinalDecision
    original: OriginalReview = Field(default_factory=OriginalReview)
    tags: list[str] = Field(default_factory=list)
    workflow_id: str | None = None


class EvalSourceKind(StrEnum):
    DATASET = "dataset"
    HISTORIES = "histories"
    QUERY = "query"


class EvalSource(BaseModel):
    """Where the cases come from, as the worker reads them.

    Paths are absolute and read by the worker that runs the loading activity, so a
    cluster's workers need the dataset where the path says.
    """

    model_config = ConfigDict(frozen=True)

    kind: EvalSourceKind
    # A dataset folder or file, or a folder of exported histories.
    path: str | None = None
    # A list query over finished reviews, such as "ExecutionStatus='Completed'".
    query: str | None = None
    # At most this many cases are evaluated (the first ones, in the source's order).
    limit: int = Field(default=MAX_EVAL_CASES, ge=1, le=MAX_EVAL_CASES)


class Candidate(BaseModel):
    """One set of settings to evaluate; every field left out is as production runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=CANDIDATE_NAME_PATTERN)
    # CLAIMS_LLM-style model spec ("offline", "openai:gpt-4o-mini"); None: the worker's.
    llm: str | None = Field(default=None, max_length=200)
    # A prompt version from activities.prompts (e.g. "claim-agent/v3"); None: the current.
    prompt_version: str | None = Field(default=None, max_length=64)
    # Review policy fields to replace, such as {"auto_approval_limit": 5000}.
    policy_overrides: dict[str, Any] = Field(default_factory=dict)


class EvalCasePage(BaseModel):
    """One page of cases from the loading activity; `cursor` None means the last page."""

    cases: list[EvalCase]
    cursor: str | None = None
    # Entries of the source that were not usable cases, each with why (for the report).
    skipped: list[str] = Field(default_factory=list)


class CandidateAnswer(BaseModel):
    """What one candidate did with one case: the dry run's route, recommendation and cost."""

    case_id: str
    candidate: str
    workflow_id: str
    route: Route | None = None
    status: OutcomeStatus | None = None
    recommendation: Recommendation | None = None
    # The assessment's payout, and what the dry run would have paid (0 unless auto-approved).
    proposed_payout: Money | None = None
    payout_amount: Money = Field(default=Decimal(0))
    confidence: float | None = None
    model: str = ""
    model_turns: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    model_ms: float = 0.0
    # Why the rerun produced no answer (a failed child, a model that never answered).
    error: str = ""

    def bounded(self) -> CandidateAnswer:
        """The answer as the evaluation keeps it: its error and model name cut short, so
        that it takes at most ANSWER_BYTES_MAX bytes."""
        return self.model_copy(
            update={
                "error": self.error[:MAX_ANSWER_ERROR_CHARS],
                "model": self.model[:MAX_ANSWER_MODEL_CHARS],
            }
        )


class EvalProgress(BaseModel):
    """Carried across continue-as-new, and what the `progress` query answers."""

    labels: list[CaseLabel] = Field(default_factory=list)
    answers: list[CandidateAnswer] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    cursor: str | None = None
    source_done: bool = False

    def skip(self, entry: str) -> None:
        """Note an entry of the source that is no case; past MAX_SKIPPED_LISTED, count it."""
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append(entry[:MAX_SKIPPED_CHARS])
            return
        more = 1
        if len(self.skipped) > MAX_SKIPPED_LISTED:
            more += int(self.skipped.pop().split(" ", 1)[0].replace(",", ""))
        self.skipped.append(f"{more:,} more entries skipped, not listed")

    def case_bytes(self, label: CaseLabel, *, candidates: int) -> int:
        """What taking one more case may add: its label and a worst-case answer per rerun."""
        return len(label.model_dump_json().encode("utf-8")) + candidates * ANSWER_BYTES_MAX

    def room_for(self, label: CaseLabel, *, candidates: int, budget: int) -> bool:
        """Whether one more case, answered, keeps this progress within `budget` bytes."""
        used = len(self.model_dump_json().encode("utf-8"))
        return used + self.case_bytes(label, candidates=candidates) <= budget


class EvalRequest(BaseModel):
    """The input of `ClaimEvalWorkflow`."""

    model_config = ConfigDict(frozen=True)

    eval_id: str = Field(pattern=EVAL_ID_PATTERN)
    source: EvalSource
    candidates: list[Candidate] = Field(min_length=1, max_length=MAX_CANDIDATES)
    concurrency: int = Field(default=8, ge=1, le=MAX_CONCURRENCY)
    recorded_evidence: bool = False
    # What earlier runs of this evaluation did: set only when it continues as new.
    progress: EvalProgress | None = None

    @field_validator("candidates")
    @classmethod
    def _names_unique(cls, candidates: list[Candidate]) -> list[Candidate]:
        names = [c.name for c in candidates]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must differ, got {', '.join(names)}")
        return candidates


class EvalCounts(BaseModel):
    """How far an evaluation is: small enough to ask for every second."""

    cases: int
    candidates: int
    answered: int
    errors: int
    running: int
    source_done: bool
    skipped: int


class EvalResult(BaseModel):
    """The evaluation's result: every case's label and every candidate's answer to it."""

    eval_id: str
    candidates: list[Candidate]
    recorded_evidence: bool
    labels: list[CaseLabel]
    answers: list[CandidateAnswer]
    skipped: list[str] = Field(default_factory=list)


class EvalRunRequest(BaseModel):
    """The input of one dry rerun of an evaluation: which case, which candidate, and how."""

    case_id: str
    candidate: str
    what_if: WhatIfRequest


def eval_workflow_id(eval_id: str) -> str:
    return f"eval-{eval_id}"


def child_workflow_id(eval_id: str, candidate: str, case_id: str) -> str:
    """One dry run per evaluation, candidate and case: a restart never starts it twice.

    Slashes cannot appear in an evaluation id or a candidate name, so no evaluation's
    children can take the id of another evaluation or of its children. A case id with
    other characters ("a b") is rewritten ("a_b") and followed by a digest of itself after
    one more slash: "a b" and "a_b" stay two runs, and no rewritten id is a plain one.
    """
    safe_case = re.sub(r"[^A-Za-z0-9._-]", "_", case_id)
    if safe_case != case_id:
        digest = hashlib.blake2b(case_id.encode("utf-8"), digest_size=8).hexdigest()
        safe_case = f"{safe_case}/{digest}"
    return f"{eval_workflow_id(eval_id)}/{candidate}/{safe_case}"
