"""Whether an action's signature lets it through: the rules of signed decisions, pure.

The desk asks `check_signature` for every action of a review under these rules, on every
channel (signal, update validator, update handler), before the action's own rules. The
cryptography is `signals.signing`'s; the rules here are the review's: a trusted key that
is not retired, signed for this claim, action and version, issued within a window around
the workflow's clock, a nonce not used before, and a personal key only for its owner.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from signals.signing import SignatureError, issued_at_of, signature_of, verify
from workflows.authority import CONSOLE_KEY_OWNER, ReviewPolicy
from workflows.people import person_key

# How far a signature's issued-at may be from the workflow's clock, either way.
SIGNATURE_WINDOW = timedelta(minutes=10)
# Nonces kept at once; each accepted signed action keeps one for the window.
MAX_SIGNED_NONCES = 500


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome: the verifying key id (None: unsigned and allowed), or why not."""

    key_id: str | None = None
    nonce: str | None = None
    issued_at: datetime | None = None
    refused: str | None = None


def how_to_sign(claim_id: str, action: str, actor: str) -> str:
    command = action.replace("_", "-")
    who = actor or "NAME"
    return (
        f"unsigned actions are refused by this review policy; sign it: claims {command} "
        f"{claim_id} --as {who} --key ~/.claims/{who}.key (or act in the reviewer console)"
    )


def check_signature(
    payload: Any,
    *,
    policy: ReviewPolicy,
    claim_id: str,
    action: str,
    actor: str,
    version: int,
    now: datetime,
    used_nonces: Mapping[str, datetime],
) -> SignatureCheck:
    """Verify the signature of `payload` (a JSON object as received) under `policy`."""
    if not isinstance(payload, Mapping):
        return SignatureCheck()
    try:
        block = signature_of(payload)
    except SignatureError as malformed:
        return SignatureCheck(refused=f"signature refused: {malformed}")
    if block is None:
        if policy.require_signed_actions:
            return SignatureCheck(refused=how_to_sign(claim_id, action, actor))
        return SignatureCheck()
    if (
        policy.trusted_key(str(block.get("key_id", ""))) is None
        and not policy.require_signed_actions
    ):
        # A key this review does not know proves nothing either way: where signatures are
        # not required, the action counts as unsigned (for example, the console's key
        # made after the claim read its policy).
        return SignatureCheck()
    try:
        return _check(block, payload, policy, claim_id, action, actor, version, now, used_nonces)
    except SignatureError as wrong:
        return SignatureCheck(refused=f"signature refused: {wrong}")


def _check(
    block: Mapping[str, Any],
    payload: Mapping[str, Any],
    policy: ReviewPolicy,
    claim_id: str,
    action: str,
    actor: str,
    version: int,
    now: datetime,
    used_nonces: Mapping[str, datetime],
) -> SignatureCheck:
    key = policy.trusted_key(str(block["key_id"]))
    if key is None:
        raise SignatureError(
            f"signing key {block['key_id']} is not trusted by this review policy; add its "
            "public key to the approvers file"
        )
    if key.retired:
        raise SignatureError(f"signing key {key.key_id} is retired; sign with its replacement")
    key_id = verify(
        payload, claim_id=claim_id, action=action, public_keys={key.key_id: key.public_key}
    )
    expected = payload.get("expected_version")
    if not isinstance(expected, int) or isinstance(expected, bool):
        raise SignatureError("a signed action must carry expected_version")
    if expected != version:
        # The same words as an unsigned action's stale version: the claim has moved on.
        raise SignatureError(
            f"the claim has moved on: it was signed for version {expected}, and the claim is "
            f"at version {version}; look at it again and sign anew"
        )
    issued_at = issued_at_of(block)
    if abs(issued_at - now) > SIGNATURE_WINDOW:
        minutes = SIGNATURE_WINDOW.total_seconds() / 60
        raise SignatureError(
            f"it was issued at {issued_at.isoformat()}, more than {minutes:g} minutes from the "
            "claim's clock; sign it again now (and check the signer's clock)"
        )
    nonce = str(block["nonce"])
    if nonce in used_nonces:
        raise SignatureError("its nonce was used before: a signed action is accepted once")
    if sum(1 for at in used_nonces.values() if abs(at - now) <= SIGNATURE_WINDOW) >= (
        MAX_SIGNED_NONCES
    ):
        raise SignatureError("too many signed actions in the last minutes; try again shortly")
    if key.owner != CONSOLE_KEY_OWNER and key.owner != person_key(actor):
        raise SignatureError(f"key {key_id} belongs to {key.owner}, not to {actor}")
    return SignatureCheck(key_id=key_id, nonce=nonce, issued_at=issued_at)


def remember_nonce(
    used: dict[str, datetime], nonce: str, issued_at: datetime, now: datetime
) -> None:
    """Keep an accepted nonce; forget those whose signatures the window now refuses anyway."""
    for old, at in list(used.items()):
        if abs(at - now) > SIGNATURE_WINDOW:
            del used[old]
    used[nonce] = issued_at
