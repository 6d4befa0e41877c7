"""Re-check every signed human action of a review from its event history alone.

The history holds what each person sent (signals and accepted updates keep their payloads
as sent) and the rules the claim was judged by (the result of the `load_review_policy`
activity, or the policy a continued run carries in its input). With only these, offline,
each action is found verified (by which key), unsigned, or FAILED: a signature by a key the
policy never trusted, one that does not match the action as the history holds it (an
altered payload), or a personal key used for someone else. Retired keys still verify what
they signed. Whether a signed action was on time and its nonce fresh was the workflow's
check when it arrived; this one shows the cryptographic facts an auditor needs. Under a
policy that requires signatures an unsigned update is FAILED too (its validator would
have kept it out of history); an unsigned signal is recorded and refused by the workflow,
so it is listed as unsigned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent

from signals.messages import PAYLOADS, HumanAction
from signals.signing import SignatureError, signature_of, verify
from workflows.authority import CONSOLE_KEY_OWNER, ReviewPolicy
from workflows.people import person_key

LOAD_REVIEW_POLICY = "load_review_policy"
WORKFLOW_ID_PREFIX = "claim-"


class Verdict(StrEnum):
    VERIFIED = "verified"
    UNSIGNED = "unsigned"
    FAILED = "FAILED"


@dataclass(frozen=True)
class CheckedAction:
    """One person's action as the history holds it, and what its signature proves."""

    event_id: int
    at: datetime
    channel: str
    action: str
    actor: str
    verdict: Verdict
    key_id: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class AuditReport:
    claim_id: str
    actions: list[CheckedAction]
    require_signed_actions: bool

    @property
    def failed(self) -> list[CheckedAction]:
        return [a for a in self.actions if a.verdict is Verdict.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed


class EncryptedHistoryError(ValueError):
    """The history still holds encrypted payloads: an audit of it would see no signatures."""


def _decode(payload: Payload) -> Any:
    """A JSON payload as sent; anything else (binary, null) as None.

    An encrypted payload is refused, never read as "no signature": the caller decodes
    the history first (`history.decoding.decode_history`).
    """
    if payload.metadata.get("encoding") == b"binary/encrypted":
        raise EncryptedHistoryError(
            "the history is still encrypted; read it with the key ring (claims audit verify "
            "decodes it, --keys names the ring of an exported file)"
        )
    if payload.metadata.get("encoding") != b"json/plain":
        return None
    try:
        return json.loads(payload.data)
    except ValueError:
        return None


def _decode_all(payloads: Sequence[Payload]) -> list[Any]:
    return [_decode(p) for p in payloads]


def _claim_id(started: HistoryEvent, workflow_id: str) -> str:
    inputs = _decode_all(started.workflow_execution_started_event_attributes.input.payloads)
    first = inputs[0] if inputs else None
    if isinstance(first, Mapping) and isinstance(first.get("claim_id"), str):
        return str(first["claim_id"])
    return workflow_id.removeprefix(WORKFLOW_ID_PREFIX)


def _carried_policy(started: HistoryEvent) -> ReviewPolicy | None:
    inputs = _decode_all(started.workflow_execution_started_event_attributes.input.payloads)
    carried = inputs[1] if len(inputs) > 1 else None
    if not isinstance(carried, Mapping) or "policy" not in carried:
        return None
    try:
        return ReviewPolicy.model_validate(carried["policy"])
    except ValidationError:
        return None


def _actor(action: str, payload: Any) -> str:
    if not isinstance(payload, Mapping):
        return "?"
    try:
        field = PAYLOADS[HumanAction(action)].actor_field
    except ValueError:
        return "?"
    value = payload.get(field)
    return person_key(value) if isinstance(value, str) else "?"


def check_action(
    *,
    event: HistoryEvent,
    channel: str,
    action: str,
    args: Sequence[Any],
    claim_id: str,
    policy: ReviewPolicy | None,
) -> CheckedAction:
    """What the signature of one action proves, with only the policy of its review."""
    payload = args[0] if len(args) == 1 else None
    actor = _actor(action, payload)
    at = event.event_time.ToDatetime(tzinfo=UTC)

    def checked(verdict: Verdict, key_id: str | None = None, detail: str = "") -> CheckedAction:
        return CheckedAction(
            event_id=event.event_id,
            at=at,
            channel=channel,
            action=action,
            actor=actor,
            verdict=verdict,
            key_id=key_id,
            detail=detail,
        )

    if not isinstance(payload, Mapping) or "signature" not in payload:
        if channel == "update" and policy is not None and policy.require_signed_actions:
            # The validator refuses unsigned updates before they reach history.
            return checked(
                Verdict.FAILED,
                detail="an unsigned update cannot pass this policy's validator: the history "
                "was altered",
            )
        return checked(Verdict.UNSIGNED)
    try:
        block = signature_of(payload)
        assert block is not None
        if policy is None:
            raise SignatureError("no review policy precedes it in the history")
        key = policy.trusted_key(str(block["key_id"]))
        if key is None and not policy.require_signed_actions:
            # As the workflow judged it: a key the review does not know proves nothing, and
            # where signatures are not required the action counted as unsigned.
            return checked(
                Verdict.UNSIGNED, detail=f"signed by key {block['key_id']}, unknown to the review"
            )
        if key is None:
            raise SignatureError(f"key {block['key_id']} is not in the review's policy")
        key_id = verify(
            payload, claim_id=claim_id, action=action, public_keys={key.key_id: key.public_key}
        )
        if key.owner != CONSOLE_KEY_OWNER and key.owner != actor:
            raise SignatureError(f"key {key_id} belongs to {key.owner}, not to {actor}")
    except SignatureError as wrong:
        key_id_text = (
            payload["signature"].get("key_id")
            if isinstance(payload.get("signature"), Mapping)
            else None
        )
        return checked(
            Verdict.FAILED, str(key_id_text) if key_id_text is not None else None, str(wrong)
        )
    return checked(Verdict.VERIFIED, key_id, "key since retired" if key.retired else "")


def audit_history(workflow_id: str, events: Sequence[HistoryEvent]) -> AuditReport:
    """Every person's action in one run's history, each with what its signature proves."""
    if not events or not events[0].HasField("workflow_execution_started_event_attributes"):
        raise ValueError("the history does not begin with the workflow's start")
    claim_id = _claim_id(events[0], workflow_id)
    policy = _carried_policy(events[0])
    policy_activities: set[int] = set()
    actions: list[CheckedAction] = []
    known = {str(a) for a in HumanAction}
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled = event.activity_task_scheduled_event_attributes
            if scheduled.activity_type.name == LOAD_REVIEW_POLICY:
                policy_activities.add(event.event_id)
        elif event.HasField("activity_task_completed_event_attributes"):
            completed = event.activity_task_completed_event_attributes
            if completed.scheduled_event_id in policy_activities:
                result = _decode_all(completed.result.payloads)
                try:
                    policy = ReviewPolicy.model_validate(result[0] if result else None)
                except ValidationError:
                    policy = None
        elif event.HasField("workflow_execution_signaled_event_attributes"):
            signaled = event.workflow_execution_signaled_event_attributes
            if signaled.signal_name in known:
                actions.append(
                    check_action(
                        event=event,
                        channel="signal",
                        action=signaled.signal_name,
                        args=_decode_all(signaled.input.payloads),
                        claim_id=claim_id,
                        policy=policy,
                    )
                )
        elif event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name in known:
                actions.append(
                    check_action(
                        event=event,
                        channel="update",
                        action=request.input.name,
                        args=_decode_all(request.input.args.payloads),
                        claim_id=claim_id,
                        policy=policy,
                    )
                )
    return AuditReport(
        claim_id=claim_id,
        actions=actions,
        require_signed_actions=bool(policy and policy.require_signed_actions),
    )
