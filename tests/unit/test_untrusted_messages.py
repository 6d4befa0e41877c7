"""What people send is checked before it counts: identity, shape, size and count."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from signals.messages import PAYLOADS, HumanAction, Message
from tests.helpers import sample_claim
from tests.unit.factories import assessment, evidence, review_policy
from workflows.authority import ReviewPolicy, refusal_reason
from workflows.claim import MAX_DOCUMENTS, Claim, SupportingDocument
from workflows.human_actions import MAX_EDITS, MAX_NOTES, refusal
from workflows.people import person_key
from workflows.routing import route_claim
from workflows.state import ClaimState, ProposalEdit, ProposedActions, Step

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def waiting(claim: Claim | None = None, *, payout: str = "1250", **proposal: Any) -> ClaimState:
    """A claim at the approval gate with the given proposal."""
    state = ClaimState.begin(
        claim or sample_claim("CLM-1002"), workflow_id="claim-X", at=NOW, history_length=1
    )
    state.current_step = Step.AWAITING_MANAGER_APPROVAL
    state.context.proposal = ProposedActions(
        payout_amount=Decimal(payout),
        currency="USD",
        payee_id="CUS-1042",
        customer_message="ok",
        **proposal,
    )
    return state


def why_not(action: HumanAction, payload: dict[str, Any], state: ClaimState) -> str | None:
    message: Message = PAYLOADS[action].model_validate(payload)
    return refusal(
        action, message, state=state, policy=review_policy(), escalation_level=0, decided=False
    )


@pytest.mark.parametrize(
    "spelling", ["Maria", "maria ", " MARIA", "\uff4d\uff41\uff52\uff49\uff41", "\tMARIA\n"]
)
def test_names_are_one_identity_however_they_are_spelt(spelling: str) -> None:
    """NFKC, case-folded, trimmed: full-width and upper-case letters are the same person."""
    assert "maria" == person_key(spelling)


def test_a_look_alike_letter_is_another_person() -> None:
    """A Cyrillic a (U+0430) is not a Latin a: that "maria" is nobody in the directory."""
    assert "maria" != person_key("m\u0430ria")
    assert review_policy().find("m\u0430ria") is None


@pytest.mark.parametrize(
    "submitted_by", ["Maria", "maria ", " MARIA", "\uff2d\uff21\uff32\uff29\uff21"]
)
def test_the_submitter_cannot_decide_under_another_spelling(submitted_by: str) -> None:
    """Case, spaces or full-width letters do not make the submitter someone else."""
    claim = sample_claim("CLM-1002", submitted_by=submitted_by)

    reason = why_not(HumanAction.APPROVE, {"approver": "maria"}, waiting(claim))

    assert reason is not None
    assert "submitted this claim" in reason


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"approver": "ma\x1bria"}, "approver"),
        ({"approver": "maria\u202e"}, "approver"),
        ({"approver": "maria", "comment": "ok\x1b[31m"}, "comment"),
        ({"approver": "maria", "expected_version": "3"}, "expected_version"),
        ({"approver": "maria", "confirm_zero_payout": "yes"}, "confirm_zero_payout"),
        ({"approver": ["maria"]}, "approver"),
        ({"approver": "m" * 65}, "approver"),
    ],
)
def test_decisions_refuse_control_characters_and_loose_types(
    payload: dict[str, Any], field: str
) -> None:
    """Decisions refuse control and bidi characters, loose types and overlong names."""
    with pytest.raises(ValidationError) as refused:
        PAYLOADS[HumanAction.APPROVE].model_validate(payload)

    assert field == refused.value.errors()[0]["loc"][0]


@pytest.mark.parametrize("amount", ["1000", "1_000", "\uff11\uff10\uff10\uff10", True])
def test_an_edit_takes_the_amount_as_a_number_only(amount: object) -> None:
    """An edit's payout_amount refuses strings, full-width digits and booleans."""
    with pytest.raises(ValidationError, match="payout_amount"):
        PAYLOADS[HumanAction.EDIT].model_validate({"approver": "maria", "payout_amount": amount})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "1250"}, "amount"),
        ({"amount": "1_250.00"}, "amount"),
        ({"amount": "\uff11\uff12\uff15\uff10"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 1e400}, "amount"),
        ({"amount": 0.001}, "amount"),
        ({"currency": 840}, "currency"),
        ({"submitted_by": "pri\x00ya"}, "submitted_by"),
        ({"description": "broken\x1b]0;pwned\x07"}, "description"),
        ({"claimant": {"id": "C", "name": "Pri\u202eya", "email": "p@x.io"}}, "claimant.name"),
    ],
)
def test_a_claim_is_strict_at_the_boundary(changes: dict[str, Any], field: str) -> None:
    """A claim refuses loose or unpayable amounts, a numeric currency and control characters."""
    with pytest.raises(ValidationError) as refused:
        sample_claim("CLM-1002", **changes)

    assert field == ".".join(map(str, refused.value.errors()[0]["loc"]))


def test_a_description_keeps_its_line_breaks_and_emoji() -> None:
    """Line breaks, tabs and emoji in a description are kept as written."""
    text = "Water damage.\n\tKitchen and hall. 👨‍👩‍👧"

    assert text == sample_claim("CLM-1002", description=text).description


def test_a_claim_may_carry_at_most_the_document_limit() -> None:
    """A claim with more documents than the limit is refused at intake."""
    documents = [{"doc_id": f"D{i}", "kind": "photo", "uri": "s3://d"} for i in range(51)]

    with pytest.raises(ValidationError, match="documents"):
        sample_claim("CLM-1002", documents=documents)


def test_documents_past_the_limit_are_refused_by_name() -> None:
    """A document past the limit is refused with the number the claim already has."""
    state = waiting()
    state.context.supporting_docs = [
        SupportingDocument(doc_id=f"D{i}", kind="photo", uri="s3://d") for i in range(MAX_DOCUMENTS)
    ]
    payload = {"submitted_by": "claimant", "document": {"doc_id": "N", "kind": "x", "uri": "s"}}

    reason = why_not(HumanAction.SUBMIT_DOCUMENT, payload, state)

    assert reason is not None
    assert f"already has {MAX_DOCUMENTS} documents" in reason


def test_staff_notes_past_the_limit_are_refused() -> None:
    """A staff note past the limit is refused with the limit named."""
    state = waiting()
    state.context.notes = [f"note {i}" for i in range(MAX_NOTES)]

    reason = why_not(HumanAction.INTERRUPT, {"operator": "lee", "information": "more"}, state)

    assert reason is not None
    assert f"{MAX_NOTES} staff notes" in reason


def test_edits_past_the_limit_are_refused() -> None:
    """An edit past the limit is refused with the number of edits named."""
    edit = ProposalEdit(at=NOW, version=2, actor="maria", changes={})
    state = waiting(edits=[edit] * MAX_EDITS)

    reason = why_not(HumanAction.EDIT, {"approver": "maria", "payout_amount": 100}, state)

    assert reason is not None
    assert f"edited {MAX_EDITS} times" in reason


def test_a_zero_payout_is_approved_only_when_confirmed() -> None:
    """Approving a 0.00 payout needs confirm_zero_payout; with it the approval passes."""
    state = waiting(payout="0")

    unconfirmed = why_not(HumanAction.APPROVE, {"approver": "maria"}, state)
    confirmed = why_not(
        HumanAction.APPROVE, {"approver": "maria", "confirm_zero_payout": True}, state
    )

    assert unconfirmed is not None
    assert "confirm_zero_payout=true" in unconfirmed
    assert confirmed is None


def test_an_unverified_payout_is_capped_at_the_claimed_amount() -> None:
    """No coverage check ran: a person sets the amount, but never above what was claimed."""
    state = waiting(payout="0", unverified=True)

    over = why_not(HumanAction.EDIT, {"approver": "maria", "payout_amount": 1250.01}, state)
    within = why_not(HumanAction.EDIT, {"approver": "maria", "payout_amount": 1250}, state)

    assert over is not None
    assert "more than the claimed 1,250.00" in over
    assert within is None


def test_directory_names_match_whatever_case_the_file_uses() -> None:
    """An approver listed as " Maria " is found and allowed as maria."""
    policy = ReviewPolicy.model_validate(
        {"approvers": [{"name": " Maria ", "role": "claims_manager", "approval_limit": 50000}]}
    )

    assert policy.find("MARIA") is not None
    assert (
        refusal_reason(
            policy,
            approver_name="maria",
            approving=True,
            payout_amount=Decimal(10),
            escalation_level=0,
            submitted_by="agent-portal",
        )
        is None
    )


def test_a_staff_note_keeps_a_clean_claim_from_auto_approval() -> None:
    """Whatever the model says, a claim carrying an operator's note goes to a person."""
    clean = route_claim(assessment=assessment(), evidence=evidence(), policy=review_policy())
    noted = route_claim(
        assessment=assessment(),
        evidence=evidence(),
        policy=review_policy(),
        staff_notes=["lee: fraud suspected, do not pay"],
    )

    assert clean.auto_approve
    assert not noted.auto_approve
    assert ["staff note on file: lee: fraud suspected, do not pay"] == noted.reasons
