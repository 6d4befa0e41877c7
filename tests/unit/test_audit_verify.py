"""`claims audit verify`: every signature re-checked from a history alone, offline."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.json_format import MessageToDict
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.contrib.pydantic import pydantic_data_converter
from typer.testing import CliRunner

from cli.keys import signed_payload
from cli.main import app
from cli.render import signature_mark
from history.audit import Verdict, audit_history
from runtime.errors import UserFacingError
from runtime.settings import WORKFLOW_TYPE
from signals.messages import HumanAction
from signals.signing import public_key_id, public_text, sign_payload, verify
from tests.unit.factories import review_policy
from workflows.authority import TrustedKey
from workflows.state import AuditEntry, AuditOutcome

CLAIM = "CLM-1002"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def payloads(*values: Any) -> Any:
    return pydantic_data_converter.payload_converter.to_payloads(list(values))


class HistoryBuilder:
    """A review's history as the server records it: start, policy read, people's actions."""

    def __init__(self, policy_keys: list[TrustedKey], claim_id: str = CLAIM) -> None:
        self.events: list[HistoryEvent] = []
        start = self._event()
        start.workflow_execution_started_event_attributes.workflow_type.name = WORKFLOW_TYPE
        start.workflow_execution_started_event_attributes.input.payloads.extend(
            payloads({"claim_id": claim_id})
        )
        scheduled = self._event()
        scheduled.activity_task_scheduled_event_attributes.activity_type.name = "load_review_policy"
        done = self._event()
        done.activity_task_completed_event_attributes.scheduled_event_id = scheduled.event_id
        policy = review_policy(keys=policy_keys).model_dump(mode="json")
        done.activity_task_completed_event_attributes.result.payloads.extend(payloads(policy))

    def _event(self) -> HistoryEvent:
        event = HistoryEvent(event_id=len(self.events) + 1)
        event.event_time.FromDatetime(AT.replace(tzinfo=None))
        self.events.append(event)
        return event

    def signal(self, name: str, payload: dict[str, Any]) -> None:
        event = self._event()
        event.workflow_execution_signaled_event_attributes.signal_name = name
        event.workflow_execution_signaled_event_attributes.input.payloads.extend(payloads(payload))

    def update(self, name: str, payload: dict[str, Any]) -> None:
        event = self._event()
        request = event.workflow_execution_update_accepted_event_attributes.accepted_request
        request.input.name = name
        request.input.args.payloads.extend(payloads(payload))

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(MessageToDict(History(events=self.events))))
        return path


class Key:
    def __init__(self, owner: str, *, retired: bool = False) -> None:
        self.private = Ed25519PrivateKey.generate()
        public = public_text(self.private)
        self.trusted = TrustedKey(
            key_id=public_key_id(public), public_key=public, owner=owner, retired=retired
        )

    def sign(self, action: str, payload: dict[str, Any], claim_id: str = CLAIM) -> dict[str, Any]:
        return sign_payload(
            payload,
            claim_id=claim_id,
            action=action,
            key=self.private,
            key_id=self.trusted.key_id,
            issued_at=AT,
            nonce=f"n-{action}",
        )


def test_signed_unsigned_and_retired_keys_are_told_apart() -> None:
    """A console-signed update verifies, an unsigned signal is unsigned, a decision by a
    key retired since still verifies; the report passes.
    """
    console, old = Key("console"), Key("maria", retired=True)
    history = HistoryBuilder([console.trusted, old.trusted])
    history.signal("pause", {"operator": "lee"})
    history.update("edit", old.sign("edit", {"approver": "maria", "expected_version": 5}))
    history.update("approve", console.sign("approve", {"approver": "lee", "expected_version": 6}))

    report = audit_history("claim-CLM-1002", history.events)

    assert report.ok
    assert [
        ("pause", Verdict.UNSIGNED, None),
        ("edit", Verdict.VERIFIED, old.trusted.key_id),
        ("approve", Verdict.VERIFIED, console.trusted.key_id),
    ] == [(a.action, a.verdict, a.key_id) for a in report.actions]


def test_an_altered_approval_fails_and_so_does_a_borrowed_key() -> None:
    """Changing a signed payload in the history and a key used for another person are each
    FAILED; a key the policy never trusted counts as unsigned, as the workflow counted it
    where signatures are not required.
    """
    maria, stranger = Key("maria"), Key("maria")
    history = HistoryBuilder([maria.trusted])
    altered = maria.sign("approve", {"approver": "maria", "expected_version": 6})
    altered["comment"] = "approved 9,999"
    history.signal("approve", altered)
    history.signal("approve", maria.sign("approve", {"approver": "sam", "expected_version": 6}))
    history.signal("reject", stranger.sign("reject", {"approver": "maria", "expected_version": 6}))
    history.signal(
        "approve", maria.sign("approve", {"approver": "maria", "expected_version": 6}, "CLM-9")
    )

    report = audit_history("claim-CLM-1002", history.events)

    assert not report.ok
    details = [a.detail for a in report.failed]
    assert 3 == len(details)
    assert "does not match this action" in details[0]
    assert "belongs to maria, not to sam" in details[1]
    assert "does not match this action" in details[2]
    assert any("unknown to the review" in a.detail for a in report.actions)


def test_the_command_reads_an_exported_file_and_exits_non_zero_on_a_mismatch(
    tmp_path: Path,
) -> None:
    """Offline, from --file: exit 0 when every signature holds, 1 when one was altered."""
    maria = Key("maria")
    good = HistoryBuilder([maria.trusted])
    signed = maria.sign("approve", {"approver": "maria", "expected_version": 6})
    good.signal("approve", signed)
    bad = HistoryBuilder([maria.trusted])
    bad.signal("approve", {**signed, "confirm_zero_payout": True})
    runner = CliRunner()

    passed = runner.invoke(app, ["audit", "verify", "--file", str(good.write(tmp_path / "a.json"))])
    failed = runner.invoke(app, ["audit", "verify", "--file", str(bad.write(tmp_path / "b.json"))])
    neither = runner.invoke(app, ["audit", "verify"])

    assert 0 == passed.exit_code, passed.output
    assert f"verified (by {maria.trusted.key_id})" in passed.output
    assert "1 signed actions verified, 0 unsigned" in passed.output
    assert 1 == failed.exit_code
    assert "FAILED" in failed.output
    assert "1 of 1 actions FAILED verification" in failed.output
    assert 1 == neither.exit_code
    assert "one of the two" in neither.output


def test_the_runs_of_an_every_run_export_are_verified_together(tmp_path: Path) -> None:
    """`--file` once per run: every action of every run is checked, an altered signature
    in the first run fails the whole; runs of two claims are refused, naming both."""
    maria = Key("maria")
    assessment, wait = HistoryBuilder([maria.trusted]), HistoryBuilder([maria.trusted])
    signed = maria.sign("approve", {"approver": "maria", "expected_version": 6})
    assessment.signal("approve", {**signed, "confirm_zero_payout": True})
    wait.update("approve", signed)
    other = HistoryBuilder([maria.trusted], claim_id="CLM-1003")
    first, latest = assessment.write(tmp_path / "c_run_1.json"), wait.write(tmp_path / "c.json")
    runner = CliRunner()

    both = runner.invoke(app, ["audit", "verify", "--file", str(first), "--file", str(latest)])
    mixed = runner.invoke(
        app,
        ["audit", "verify", "--file", str(latest), "--file", str(other.write(tmp_path / "o.json"))],
    )

    assert 1 == both.exit_code, both.output
    assert "in 2 runs" in both.output
    assert "signal approve by maria: FAILED" in both.output
    assert f"approve by maria: verified (by {maria.trusted.key_id})" in both.output
    assert 1 == mixed.exit_code
    said = " ".join(mixed.output.split())
    assert "histories of 2 workflows (claim-CLM-1002, claim-CLM-1003)" in said


def test_keys_new_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    """`claims keys new` writes NAME.key with mode 0600, prints the block for the approvers
    file, refuses to overwrite it, and refuses names the directory cannot hold.
    """
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "new", "Maria", "--dir", str(tmp_path)])
    again = runner.invoke(app, ["keys", "new", "maria", "--dir", str(tmp_path)])
    odd = runner.invoke(app, ["keys", "new", "../x\x1b[2J", "--dir", str(tmp_path)])

    assert 0 == made.exit_code, made.output
    assert 0o600 == (tmp_path / "maria.key").stat().st_mode & 0o777
    assert 'owner = "maria"' in made.output
    trusted = [line for line in made.output.splitlines() if line.startswith("public_key")]
    assert 1 == len(trusted)
    assert 1 == again.exit_code
    assert "already exists" in again.output
    assert 1 == odd.exit_code
    assert "\x1b" not in odd.output
    assert ["maria.key"] == [p.name for p in tmp_path.iterdir()]


def test_an_action_signed_at_the_terminal_verifies_for_the_claims_version(
    tmp_path: Path,
) -> None:
    """`--key`: the payload is signed for the claim's current version with a fresh nonce;
    a file that is not a key is refused with what to do.
    """
    made = CliRunner().invoke(app, ["keys", "new", "maria", "--dir", str(tmp_path)])
    assert 0 == made.exit_code, made.output
    key_file = tmp_path / "maria.key"
    public = next(
        line.split('"')[1] for line in made.output.splitlines() if line.startswith("public_key")
    )

    first = signed_payload(
        {"approver": "maria"},
        claim_id=CLAIM,
        action=HumanAction.APPROVE,
        key_file=key_file,
        version=9,
    )
    second = signed_payload(
        {"approver": "maria"},
        claim_id=CLAIM,
        action=HumanAction.APPROVE,
        key_file=key_file,
        version=9,
    )
    (tmp_path / "notes.txt").write_text("hello")

    assert 9 == first["expected_version"]
    assert first["signature"]["nonce"] != second["signature"]["nonce"]
    assert public_key_id(public) == verify(
        first, claim_id=CLAIM, action="approve", public_keys={public_key_id(public): public}
    )
    with pytest.raises(UserFacingError, match="claims keys new NAME"):
        signed_payload(
            {"approver": "maria"},
            claim_id=CLAIM,
            action=HumanAction.APPROVE,
            key_file=tmp_path / "notes.txt",
            version=9,
        )


def test_the_audit_log_marks_each_accepted_action_verified_or_unverified() -> None:
    """`claims show`: a person's accepted action reads `verified by <key id>` or
    `unverified`; refusals and the agent's own entries carry no mark.
    """

    def entry(actor: str, action: str, outcome: AuditOutcome, key: str | None) -> AuditEntry:
        return AuditEntry(
            at=AT, version=3, actor=actor, action=action, outcome=outcome, verified_by=key
        )

    marks = [
        signature_mark(e).plain
        for e in (
            entry("maria", "approve", AuditOutcome.ACCEPTED, "0123456789abcdef"),
            entry("lee", "edit", AuditOutcome.ACCEPTED, None),
            entry("lee", "approve", AuditOutcome.REFUSED, None),
            entry("claim-review-agent", "escalate", AuditOutcome.ACCEPTED, None),
        )
    ]

    assert ["verified by 0123456789abcdef", "unverified", "", ""] == marks


def test_a_signature_stripped_from_an_update_fails_under_a_policy_that_requires_them() -> None:
    """Required signatures: an unsigned update could only be in history by alteration, so
    it fails; an unsigned signal (recorded, refused by the claim) is listed as unsigned.
    """
    history = HistoryBuilder([])
    policy_event = history.events[2].activity_task_completed_event_attributes.result
    policy = review_policy(require_signed_actions=True).model_dump(mode="json")
    del policy_event.payloads[:]
    policy_event.payloads.extend(payloads(policy))
    history.signal("approve", {"approver": "maria"})
    history.update("approve", {"approver": "maria", "expected_version": 6})

    report = audit_history("claim-CLM-1002", history.events)

    assert [Verdict.UNSIGNED, Verdict.FAILED] == [a.verdict for a in report.actions]
    assert report.require_signed_actions
    assert "the history was altered" in report.failed[0].detail


async def test_an_encrypted_history_is_refused_not_read_as_unsigned() -> None:
    """An audit that cannot open the payloads says so; it never reports "unsigned" instead."""
    from history.audit import EncryptedHistoryError
    from tests.keys import encrypted_test_converter

    builder = HistoryBuilder([])
    started = builder.events[0].workflow_execution_started_event_attributes
    sealed = await encrypted_test_converter().encode([{"claim_id": CLAIM}])
    del started.input.payloads[:]
    started.input.payloads.extend(sealed)

    with pytest.raises(EncryptedHistoryError, match="still encrypted"):
        audit_history(f"claim-{CLAIM}", builder.events)
