"""Fork: rerun a claim as it stood at a version under other conditions, as a dry run.

The rerun is a `ClaimWhatIfWorkflow` of its own (`claim-<id>-whatif-<k>`): its payout and
notices are recorded, never executed, and the original claim is not touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from history.replay import state_at_version
from history.versions import RewindError
from signals.client import claim_handle, query_state
from workflows.authority import ReviewPolicy
from workflows.claim_review import ClaimWhatIfWorkflow
from workflows.options import ReviewOptions, WhatIfRequest
from workflows.state import ClaimOutcome, ClaimState


@dataclass(frozen=True)
class ForkResult:
    workflow_id: str
    original: ClaimState
    what_if: ClaimState
    outcome: ClaimOutcome


def parse_overrides(settings: list[str]) -> dict[str, Any]:
    """`key=value` pairs for the review policy; values are JSON where they parse as JSON."""
    overrides: dict[str, Any] = {}
    for setting in settings:
        key, sep, raw = setting.partition("=")
        if not sep or not key:
            raise RewindError(f"--set {setting!r} is not key=value, e.g. auto_approval_limit=2000")
        if key not in ReviewPolicy.model_fields:
            known = ", ".join(sorted(ReviewPolicy.model_fields))
            raise RewindError(f"--set {key}: not a review policy setting; use one of: {known}")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def check_overrides(policy: ReviewPolicy, overrides: dict[str, Any]) -> None:
    """Refuse overrides that would not validate, before anything starts."""
    try:
        ReviewPolicy.model_validate(policy.model_dump() | overrides)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors(include_url=False)
        )
        raise RewindError(f"--set values are not valid: {problems}") from None


async def fork(
    client: Client,
    claim_id: str,
    version: int,
    *,
    task_queue: str,
    llm: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> ForkResult:
    """Rerun the claim as it stood at `version` under other conditions, as a dry run."""
    past = await state_at_version(client, claim_id, version)
    original = await query_state(claim_handle(client, claim_id))
    claim = past.context.claim.model_copy(update={"documents": list(past.context.supporting_docs)})
    request = WhatIfRequest(
        claim=claim,
        options=ReviewOptions(
            dry_run=True,
            llm=llm,
            policy_overrides=overrides or {},
            notes=list(past.context.notes),
            forked_from=f"{original.workflow_id}@v{version}",
        ),
    )
    for k in range(1, 1000):
        workflow_id = f"{original.workflow_id}-whatif-{k}"
        try:
            handle = await client.start_workflow(
                ClaimWhatIfWorkflow.run,
                request,
                id=workflow_id,
                task_queue=task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=f"What-if rerun of {original.workflow_id} at version {version}",
                # Read by `claims status`, so amounts show their currency without a query.
                memo={"currency": past.context.claim.currency},
            )
            break
        except WorkflowAlreadyStartedError:
            continue
    else:
        raise RewindError(f"{original.workflow_id} has too many what-if runs; delete some")
    outcome = await handle.result()
    what_if = await handle.query(ClaimWhatIfWorkflow.state)
    return ForkResult(workflow_id, original, what_if, outcome)
