"""Starts claim reviews from JSON files, refusing any claim that is not valid.

Every file is validated before anything starts, so a batch with one bad claim starts
nothing and names the file, the field and the reason. A claim already under review
(or already reviewed) is reported, never started twice.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.settings import Settings
from workflows import search_attributes as sa
from workflows.claim import Claim, money
from workflows.claim_review import ClaimReviewWorkflow


@dataclass(frozen=True)
class ClaimProblem:
    file: Path
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class InvalidClaimsError(UserFacingError):
    def __init__(self, problems: list[ClaimProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"refused {len(problems)} problem(s); no claim was started:\n{lines}")


def validate_claim_json(text: str, source: Path) -> Claim | list[ClaimProblem]:
    """The claim in `text`, or every problem with it, each naming its field."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        return [
            ClaimProblem(source, "(file)", f"malformed JSON at line {error.lineno}: {error.msg}")
        ]
    try:
        return Claim.model_validate(data)
    except ValidationError as error:
        return [
            ClaimProblem(
                source,
                ".".join(str(part) for part in e["loc"]) or "(claim)",
                "required field is missing" if e["type"] == "missing" else e["msg"],
            )
            for e in error.errors(include_url=False)
        ]


def load_claims(paths: list[Path]) -> list[Claim]:
    """Every claim in `paths`, or InvalidClaimsError listing every problem in every file."""
    claims: list[Claim] = []
    problems: list[ClaimProblem] = []
    seen: dict[str, Path] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            problems.append(ClaimProblem(path, "(file)", f"cannot read: {error.strerror}"))
            continue
        result = validate_claim_json(text, path)
        if isinstance(result, list):
            problems.extend(result)
        elif result.claim_id in seen:
            problems.append(
                ClaimProblem(
                    path, "claim_id", f"{result.claim_id} is also in {seen[result.claim_id]}"
                )
            )
        else:
            seen[result.claim_id] = path
            claims.append(result)
    if problems:
        raise InvalidClaimsError(problems)
    return claims


class StartStatus(StrEnum):
    STARTED = "started"
    ALREADY_UNDER_REVIEW = "already under review"
    ALREADY_REVIEWED = "already reviewed"


@dataclass(frozen=True)
class StartResult:
    claim: Claim
    status: StartStatus


async def start_claim(client: Client, claim: Claim, task_queue: str) -> StartResult:
    try:
        await client.start_workflow(
            ClaimReviewWorkflow.run,
            claim,
            id=claim.workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(sa.CLAIM_STEP, "intake"),
                    SearchAttributePair(sa.CLAIM_AMOUNT, float(claim.amount)),
                    SearchAttributePair(sa.AWAITING_HUMAN, False),
                ]
            ),
            static_summary=f"Claim {claim.claim_id}: {money(claim.amount)} {claim.currency} "
            f"{claim.category} for {claim.claimant.name}",
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(claim.workflow_id).describe()
        running = description.status == WorkflowExecutionStatus.RUNNING
        return StartResult(
            claim, StartStatus.ALREADY_UNDER_REVIEW if running else StartStatus.ALREADY_REVIEWED
        )
    return StartResult(claim, StartStatus.STARTED)


async def start_claims(client: Client, claims: list[Claim], task_queue: str) -> list[StartResult]:
    return list(await asyncio.gather(*(start_claim(client, c, task_queue) for c in claims)))


async def _main(paths: list[Path]) -> None:
    claims = load_claims(paths)
    client = await build_client()
    for result in await start_claims(client, claims, Settings.from_env().task_queue):
        print(f"{result.claim.workflow_id}: {result.status}")


def main() -> None:
    if len(sys.argv) < 2:
        print("usage: python starter.py CLAIM.json [CLAIM.json ...]", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(_main([Path(arg) for arg in sys.argv[1:]]))
    except UserFacingError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
