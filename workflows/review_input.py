"""What a review is started with, read without trusting it.

The run's input is the claim (and, for a continued run, the review it carries); either
may be anything a client typed. Reading never raises: a wrong input becomes a problem
that fails the review clearly, with a placeholder claim so the state document exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from temporalio import workflow

from workflows.claim import Claim, Claimant, ClaimCategory
from workflows.continuation import CarriedReview
from workflows.people import control_characters

# Stands in for an unusable input, so the state document exists while the review fails.
PLACEHOLDER_CLAIM = Claim(
    claim_id="invalid-input",
    policy_number="none",
    claimant=Claimant(id="none", name="none", email="invalid-input@invalid.example"),
    amount=Decimal("0.01"),
    currency="USD",
    incident_date=date(1970, 1, 1),
    category=ClaimCategory.EXPENSE,
    description="This review refused its input; see its failure.",
    submitted_by="none",
)


def read_input(args: Sequence[Any]) -> tuple[Claim, CarriedReview | None, str | None]:
    """The claim, a continued run's carried review, and what is wrong with them, if anything.

    An unusable input gives the placeholder claim and the problem, which fails the run.
    """
    try:
        if not args:
            raise ValueError("no input: start the review with the claim as one JSON object")
        if len(args) > 2:
            raise ValueError(
                f"{len(args)} inputs: start the review with the claim as one JSON object"
            )
        claim = args[0] if isinstance(args[0], Claim) else Claim.model_validate(args[0])
        carried: CarriedReview | None = None
        if len(args) == 2:
            carried = CarriedReview.model_validate(args[1])
            check_carried(claim, carried)
        return claim, carried, None
    except ValidationError as invalid:
        return PLACEHOLDER_CLAIM, None, "the claim is not valid: " + problems(invalid)
    except ValueError as wrong:
        return PLACEHOLDER_CLAIM, None, str(wrong)


def check_carried(claim: Claim, carried: CarriedReview) -> None:
    """A second input is accepted only from this review's own continue-as-new.

    Its last run record must name the run this one continues: run ids are made by the
    server when a run starts, so no input written before then (a start with two inputs,
    a cron or retry run repeating that input) can name it.
    """
    info = workflow.info()
    runs = carried.state.runs
    if (
        info.continued_run_id is None
        or info.cron_schedule
        or not runs
        or runs[-1].run_id != info.continued_run_id
        or carried.state.workflow_id != info.workflow_id
        or carried.state.context.claim != claim
    ):
        raise ValueError(
            "2 inputs: start the review with the claim as one JSON object (a second input "
            "is only taken from the review's own continue-as-new)"
        )


def claimed_actor(payload: Any) -> str:
    """Who the payload says acts, for the audit line of a payload that does not validate."""
    if isinstance(payload, dict):
        for field in ("approver", "operator", "requested_by", "submitted_by"):
            value = payload.get(field)
            if isinstance(value, str) and value.strip():
                return printable_name(value)
    return "unknown"


def printable_name(text: str) -> str:
    """A name someone typed, safe to keep and show: control characters replaced, bounded."""
    bad = {chr(int(code[2:], 16)) for code in control_characters(text)}
    return "".join("\ufffd" if c in bad else c for c in text.strip()[:64]) or "unknown"


def problems(invalid: ValidationError) -> str:
    """A validation error as one line: each field and what is wrong with it."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
        for e in invalid.errors(include_url=False)
    )
