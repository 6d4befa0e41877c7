"""Signed decisions in a running review: verified, refused and audited, under both settings."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from history.audit import Verdict, audit_history
from history.decoding import decode_history
from runtime.settings import EXAMPLES_DIR
from signals.client import ActionRefused
from signals.messages import HumanAction
from signals.signing import public_key_id, public_text, sign_payload
from tests.helpers import eventually
from tests.keys import encrypted_test_converter
from tests.timeskipping.conftest import Review, WaitForPerson
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import AuditOutcome, OutcomeStatus


class Signer:
    """maria's personal key, as `claims approve --key` holds it."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()
        self.public = public_text(self.key)
        self.key_id = public_key_id(self.public)

    def approvers_file(self, tmp_path: Path, *, required: bool, operator_roles: str = "") -> str:
        """The demo's directory with this key trusted, and the policy's switches."""
        text = (EXAMPLES_DIR / "approvers.toml").read_text()
        text = text.replace(
            "require_signed_actions = false", f"require_signed_actions = {str(required).lower()}"
        )
        if operator_roles:
            text = re.sub(r"(?m)^operator_roles = .*$", operator_roles, text)
        keys = (
            f'\n[[keys]]\nkey_id = "{self.key_id}"\npublic_key = "{self.public}"\nowner = "maria"\n'
        )
        path = tmp_path / "approvers.toml"
        path.write_text(text + keys)
        return str(path)

    async def sign(
        self,
        env: WorkflowEnvironment,
        review: Review,
        action: HumanAction,
        payload: dict[str, Any],
        *,
        nonce: str,
    ) -> dict[str, Any]:
        """Signed at the test server's clock, for the claim's current version."""
        version = (await review.state()).version
        return sign_payload(
            {**payload, "expected_version": version},
            claim_id=review.claim.claim_id,
            action=str(action),
            key=self.key,
            key_id=self.key_id,
            issued_at=await env.get_current_time(),
            nonce=nonce,
        )


async def test_signatures_are_verified_and_audited_when_not_required(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson, tmp_path: Path
) -> None:
    """Policy off (the demo): a signed edit is audited verified by its key, an unsigned
    approval still goes through, unverified; a replayed nonce is refused and recorded.
    """
    signer = Signer()
    approvers = signer.approvers_file(tmp_path, required=False)
    async with waiting_claim("CLM-1002", CLAIMS_APPROVERS_FILE=approvers) as (review, _):
        edit = await signer.sign(
            time_env,
            review,
            HumanAction.EDIT,
            {"approver": "maria", "payout_amount": 1100},
            nonce="n1",
        )
        await review.act(HumanAction.EDIT, edit)
        replay = await signer.sign(
            time_env,
            review,
            HumanAction.EDIT,
            {"approver": "maria", "payout_amount": 1000},
            nonce="n1",
        )
        with pytest.raises(ActionRefused, match="nonce was used before"):
            await review.act(HumanAction.EDIT, replay)
        await review.handle.signal("edit", replay)
        await eventually(
            review.state, lambda s: any("nonce was used before" in e.detail for e in s.audit_log)
        )
        await review.handle.signal("approve", {"approver": "lee"})
        outcome = await review.outcome()
        state = await review.state()
        history = await decode_history(
            await review.handle.fetch_history(), encrypted_test_converter()
        )

    people = [(e.action, e.actor, e.outcome, e.verified_by) for e in state.audit_log]
    assert ("edit", "maria", AuditOutcome.ACCEPTED, signer.key_id) in people
    assert ("edit", "maria", AuditOutcome.REFUSED, None) in people
    assert ("approve", "lee", AuditOutcome.ACCEPTED, None) in people
    assert (OutcomeStatus.COMPLETED, Decimal(1100)) == (outcome.status, outcome.payout_amount)
    # The verification replays inside the workflow sandbox, deterministically.
    await Replayer(
        workflows=[ClaimReviewWorkflow], data_converter=encrypted_test_converter()
    ).replay_workflow(history)
    audited = audit_history(history.workflow_id, history.events)
    assert audited.ok
    assert ("edit", Verdict.VERIFIED, signer.key_id) == next(
        (a.action, a.verdict, a.key_id) for a in audited.actions if a.channel == "update"
    )
    assert ("approve", Verdict.UNSIGNED) == (
        audited.actions[-1].action,
        audited.actions[-1].verdict,
    )
    # An exported history whose signed edit was altered afterwards no longer verifies.
    accepted_edit = next(
        e
        for e in history.events
        if e.HasField("workflow_execution_update_accepted_event_attributes")
    )
    args = accepted_edit.workflow_execution_update_accepted_event_attributes.accepted_request.input.args
    args.payloads[0].data = args.payloads[0].data.replace(b"1100", b"9100")
    tampered = audit_history(history.workflow_id, history.events)
    assert [Verdict.FAILED] == [a.verdict for a in tampered.failed]


async def test_unsigned_actions_are_refused_when_the_policy_requires_signatures(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson, tmp_path: Path
) -> None:
    """Policy on: an unsigned signal is refused and recorded with how to sign, an unsigned
    update is refused to its sender, and maria's signed approval goes through, verified.
    """
    signer = Signer()
    approvers = signer.approvers_file(tmp_path, required=True)
    async with waiting_claim("CLM-1002", CLAIMS_APPROVERS_FILE=approvers) as (review, _):
        await review.handle.signal("approve", {"approver": "maria"})
        await eventually(
            review.state, lambda s: any(e.outcome is AuditOutcome.REFUSED for e in s.audit_log)
        )
        with pytest.raises(ActionRefused, match="unsigned actions are refused"):
            await review.act(HumanAction.APPROVE, {"approver": "maria"})
        approval = await signer.sign(
            time_env, review, HumanAction.APPROVE, {"approver": "maria"}, nonce="a1"
        )
        accepted = await review.act(HumanAction.APPROVE, approval)
        outcome = await review.outcome()
        state = await review.state()

    refused = next(e for e in state.audit_log if e.outcome is AuditOutcome.REFUSED)
    assert (
        "unsigned actions are refused by this review policy; sign it: claims approve "
        f"{review.claim.claim_id} --as maria --key ~/.claims/maria.key"
    ) in refused.detail
    approved = [e for e in state.audit_log if e.action == "approve" and e.outcome == "accepted"]
    assert [signer.key_id] == [e.verified_by for e in approved]
    assert accepted.action == "approve"
    assert OutcomeStatus.COMPLETED == outcome.status


async def test_a_key_signs_only_for_its_owner_and_operators_need_a_granted_role(
    time_env: WorkflowEnvironment, waiting_claim: WaitForPerson, tmp_path: Path
) -> None:
    """maria's key cannot sign lee's approval; with operator roles narrowed to managers,
    sam (an adjuster) may not pause, while lee may.
    """
    signer = Signer()
    approvers = signer.approvers_file(
        tmp_path, required=False, operator_roles='operator_roles = ["claims_manager"]'
    )
    async with waiting_claim("CLM-1002", CLAIMS_APPROVERS_FILE=approvers) as (review, _):
        borrowed = await signer.sign(
            time_env, review, HumanAction.APPROVE, {"approver": "lee"}, nonce="b1"
        )
        with pytest.raises(ActionRefused, match="belongs to maria, not to lee"):
            await review.act(HumanAction.APPROVE, borrowed)
        with pytest.raises(ActionRefused, match="operator actions"):
            await review.act(HumanAction.PAUSE, {"operator": "sam"})
        await review.act(HumanAction.PAUSE, {"operator": "lee"})
        await review.act(HumanAction.CANCEL, {"operator": "lee", "reason": "test over"})
        outcome = await review.outcome()

    assert OutcomeStatus.CANCELLED == outcome.status
