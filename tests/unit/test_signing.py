"""Signed actions: one canonical form, signatures bound to claim, action, version, time and
nonce, and the review's rules for keys (trusted, not retired, used by their owner).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from signals.signing import (
    SignatureError,
    canonical,
    load_private_key,
    new_key_pair,
    public_key_id,
    public_text,
    sign_payload,
    verify,
)
from tests.unit.factories import review_policy
from workflows.authority import ReviewPolicy, Role, TrustedKey, operator_refusal
from workflows.signed_actions import (
    MAX_SIGNED_NONCES,
    SignatureCheck,
    check_signature,
    remember_nonce,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CLAIM = "CLM-1002"


def key_pair() -> tuple[Ed25519PrivateKey, str, str]:
    """A private key, its public text and its id."""
    key = Ed25519PrivateKey.generate()
    public = public_text(key)
    return key, public, public_key_id(public)


def signed(
    key: Ed25519PrivateKey,
    key_id: str,
    payload: dict[str, Any] | None = None,
    *,
    claim_id: str = CLAIM,
    action: str = "approve",
    at: datetime = NOW,
    nonce: str = "n-1",
) -> dict[str, Any]:
    return sign_payload(
        payload if payload is not None else {"approver": "maria", "expected_version": 7},
        claim_id=claim_id,
        action=action,
        key=key,
        key_id=key_id,
        issued_at=at,
        nonce=nonce,
    )


def policy_with(*keys: TrustedKey, **changes: Any) -> ReviewPolicy:
    return review_policy(keys=list(keys), **changes)


def check(
    payload: Any,
    policy: ReviewPolicy,
    *,
    actor: str = "maria",
    version: int = 7,
    now: datetime = NOW,
    used: dict[str, datetime] | None = None,
    action: str = "approve",
    claim_id: str = CLAIM,
) -> SignatureCheck:
    return check_signature(
        payload,
        policy=policy,
        claim_id=claim_id,
        action=action,
        actor=actor,
        version=version,
        now=now,
        used_nonces=used or {},
    )


def test_the_canonical_form_is_stable_whatever_the_key_order() -> None:
    """Equal payloads give equal bytes; the signature's value is never part of them."""
    first = canonical(
        CLAIM, "approve", {"b": 1, "a": "é", "signature": {"value": "x", "nonce": "n"}}
    )
    second = canonical(
        CLAIM, "approve", {"a": "é", "b": 1, "signature": {"nonce": "n", "value": "y"}}
    )

    assert first == second
    assert (
        b'{"action":"approve","claim_id":"CLM-1002","payload":{"a":"\\u00e9","b":1},'
        b'"signed":{"nonce":"n"}}'
    ) == first


def test_a_signature_round_trips_and_names_its_key() -> None:
    """What sign_payload signs, verify accepts, giving the key id."""
    key, public, key_id = key_pair()
    payload = signed(key, key_id)

    assert key_id == verify(payload, claim_id=CLAIM, action="approve", public_keys={key_id: public})
    assert {"key_id", "issued_at", "nonce", "value"} == set(payload["signature"])
    assert "2026-03-01T12:00:00+00:00" == payload["signature"]["issued_at"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("approver", "lee"),
        ("expected_version", 8),
        ("comment", "added later"),
    ],
)
def test_a_tampered_field_breaks_the_signature(field: str, value: Any) -> None:
    """Changing, or adding, any field of a signed payload makes it fail."""
    key, public, key_id = key_pair()
    payload = signed(key, key_id)
    payload[field] = value

    with pytest.raises(SignatureError, match="does not match this action"):
        verify(payload, claim_id=CLAIM, action="approve", public_keys={key_id: public})


@pytest.mark.parametrize("part", ["issued_at", "nonce", "key_id"])
def test_the_signature_metadata_is_signed_too(part: str) -> None:
    """A later issued-at, a fresh nonce or another key id cannot be swapped in."""
    key, public, key_id = key_pair()
    payload = signed(key, key_id)
    payload["signature"][part] = {
        "issued_at": "2026-03-01T12:05:00+00:00",
        "nonce": "n-2",
        "key_id": key_id,
    }[part]
    keys = {key_id: public}
    if part == "key_id":
        _, other_public, other_id = key_pair()
        payload["signature"]["key_id"] = other_id
        keys = {other_id: other_public}

    with pytest.raises(SignatureError, match="does not match this action"):
        verify(payload, claim_id=CLAIM, action="approve", public_keys=keys)


def test_a_signature_for_another_claim_or_action_is_refused() -> None:
    """A signature cannot be moved to another claim, nor turn an approval into a rejection."""
    key, public, key_id = key_pair()
    payload = signed(key, key_id)

    for claim_id, action in ((("CLM-1003", "approve")), (CLAIM, "reject")):
        with pytest.raises(SignatureError, match="another claim, action or content"):
            verify(payload, claim_id=claim_id, action=action, public_keys={key_id: public})


def test_signing_needs_an_expected_version() -> None:
    """Without the version it was decided on, a signature could be replayed on any version."""
    key, _, key_id = key_pair()

    with pytest.raises(SignatureError, match="expected_version"):
        signed(key, key_id, {"approver": "maria"})


def test_a_signed_action_passes_the_review_rules() -> None:
    """A personal key of the acting person, this version, now, a fresh nonce: verified."""
    key, public, key_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner="maria"))

    result = check(signed(key, key_id), policy)

    assert SignatureCheck(key_id=key_id, nonce="n-1", issued_at=NOW) == result


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        (NOW + timedelta(minutes=10), True),
        (NOW - timedelta(minutes=10), True),
        (NOW + timedelta(minutes=10, seconds=1), False),
        (NOW - timedelta(minutes=10, seconds=1), False),
    ],
)
def test_an_issued_at_outside_ten_minutes_of_the_clock_is_refused(
    now: datetime, allowed: bool
) -> None:
    """Signed long ago (or in the signer's future) is refused: the window is ±10 minutes."""
    key, public, key_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner="maria"))

    result = check(signed(key, key_id), policy, now=now)

    assert allowed == (result.refused is None)
    if not allowed:
        assert result.refused is not None
        assert "more than 10 minutes from the claim's clock" in result.refused


def test_a_used_nonce_is_refused_and_forgotten_after_the_window() -> None:
    """The same signed action twice is accepted once; old nonces are pruned, not kept."""
    key, public, key_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner="maria"))
    used: dict[str, datetime] = {}
    remember_nonce(used, "n-1", NOW, NOW)

    replay = check(signed(key, key_id), policy, used=used)
    remember_nonce(used, "n-2", NOW + timedelta(minutes=11), NOW + timedelta(minutes=11))

    assert replay.refused is not None
    assert "nonce was used before" in replay.refused
    assert ["n-2"] == list(used)


def test_nonces_are_bounded() -> None:
    """A flood of signed actions in the window is refused once the nonces kept reach the cap."""
    key, public, key_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner="maria"))
    used = {f"x-{i}": NOW for i in range(MAX_SIGNED_NONCES)}

    result = check(signed(key, key_id), policy, used=used)

    assert result.refused is not None
    assert "too many signed actions" in result.refused


def test_rotation_new_key_signs_retired_key_refused_but_still_verifiable() -> None:
    """After rotation the new key is accepted; the retired one signs nothing new, and what it
    signed before still verifies offline.
    """
    old_key, old_public, old_id = key_pair()
    new_key, new_public, new_id = key_pair()
    policy = policy_with(
        TrustedKey(key_id=old_id, public_key=old_public, owner="console", retired=True),
        TrustedKey(key_id=new_id, public_key=new_public, owner="console"),
    )
    earlier = signed(old_key, old_id)

    assert new_id == check(signed(new_key, new_id), policy).key_id
    refused = check(earlier, policy).refused
    assert refused is not None
    assert "retired" in refused
    all_keys = {k.key_id: k.public_key for k in policy.keys}
    assert old_id == verify(earlier, claim_id=CLAIM, action="approve", public_keys=all_keys)


@pytest.mark.parametrize(
    ("actor", "owner", "expected"),
    [
        ("maria", "console", None),
        ("sam", "console", None),
        ("sam", "maria", "belongs to maria, not to sam"),
    ],
)
def test_a_personal_key_signs_only_for_its_owner(
    actor: str, owner: str, expected: str | None
) -> None:
    """The console's key signs for whoever signed in; maria's key signs only for maria."""
    key, public, key_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner=owner))
    payload = signed(key, key_id, {"approver": actor, "expected_version": 7})

    refused = check(payload, policy, actor=actor).refused

    assert (expected is None) == (refused is None)
    if expected is not None:
        assert refused is not None
        assert expected in refused


def test_unknown_keys_other_versions_and_malformed_blocks_are_refused() -> None:
    """Each way a signature can be wrong gives a refusal that says what was wrong."""
    key, public, key_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner="maria"))
    stranger, _, stranger_id = key_pair()

    cases = {
        "not trusted by this review policy": check(
            signed(stranger, stranger_id),
            policy_with(
                TrustedKey(key_id=key_id, public_key=public, owner="maria"),
                require_signed_actions=True,
            ),
        ),
        "moved on: it was signed for version 7, and the claim is at version 8": check(
            signed(key, key_id), policy, version=8
        ),
        "exactly key_id, issued_at, nonce and value": check(
            {"approver": "maria", "signature": "yes"}, policy
        ),
        "signature.nonce must be printable": check(
            {
                **signed(key, key_id),
                "signature": {**signed(key, key_id)["signature"], "nonce": "\x00"},
            },
            policy,
        ),
        "signature.value is not base64": check(
            {
                **signed(key, key_id),
                "signature": {**signed(key, key_id)["signature"], "value": "!!"},
            },
            policy,
        ),
    }

    for expected, result in cases.items():
        assert result.refused is not None, expected
        assert expected in result.refused


def test_unsigned_actions_pass_unless_the_policy_requires_signatures() -> None:
    """Off (the demo): unsigned goes on, unverified. On: refused, saying how to sign."""
    assert SignatureCheck() == check({"approver": "maria"}, review_policy())

    refused = check({"approver": "maria"}, review_policy(require_signed_actions=True)).refused

    assert (
        "unsigned actions are refused by this review policy; sign it: claims approve "
        "CLM-1002 --as maria --key ~/.claims/maria.key"
    ) in (refused or "")


def test_the_directory_checks_its_keys() -> None:
    """A key id that is not its key's, an unknown owner or a bad key are refused at load."""
    _, public, key_id = key_pair()
    _, other_public, _ = key_pair()

    for keys, problem in (
        ([{"key_id": key_id, "public_key": other_public, "owner": "maria"}], "does not match"),
        ([{"key_id": key_id, "public_key": public, "owner": "mallory"}], "not in the approver"),
        ([{"key_id": key_id, "public_key": "A" * 44, "owner": "maria"}], "Ed25519"),
        ([{"key_id": key_id, "public_key": "not base64!" * 4, "owner": "maria"}], "Ed25519"),
    ):
        with pytest.raises(ValidationError, match=problem):
            review_policy(keys=keys)


def test_key_files_round_trip_and_bad_files_say_what_to_do(tmp_path: Path) -> None:
    """A key from new_key_pair loads and matches its public key; other files are refused."""
    pem, public = new_key_pair()
    path = tmp_path / "maria.key"
    path.write_bytes(pem)
    (tmp_path / "junk.key").write_text("not a key")

    assert public == public_text(load_private_key(path))
    assert 32 == len(base64.b64decode(public))
    with pytest.raises(SignatureError, match="claims keys new NAME"):
        load_private_key(tmp_path / "junk.key")
    with pytest.raises(SignatureError, match="cannot be read"):
        load_private_key(tmp_path / "missing.key")


def test_operator_actions_only_for_the_roles_the_policy_grants() -> None:
    """With operator roles narrowed, an adjuster may no longer pause; a manager still may."""
    policy = review_policy(operator_roles=[Role.CLAIMS_MANAGER, Role.DIRECTOR])

    assert operator_refusal(policy, "maria", by_role=True) is None
    assert "operator actions" in (operator_refusal(policy, "sam", by_role=True) or "")
    assert operator_refusal(policy, "sam", by_role=False) is None
    assert operator_refusal(review_policy(), "sam", by_role=True) is None


def test_a_key_the_review_does_not_know_counts_as_no_signature_where_none_is_required() -> None:
    """It proves nothing either way: unsigned actions are allowed, so this one is too, unverified."""
    _key, public, key_id = key_pair()
    stranger, _, stranger_id = key_pair()
    policy = policy_with(TrustedKey(key_id=key_id, public_key=public, owner="maria"))

    result = check(signed(stranger, stranger_id), policy)

    assert (None, None) == (result.key_id, result.refused)


def test_no_person_may_be_named_like_the_consoles_key() -> None:
    """The console's key signs for anyone, so "console" is not a name a person can have."""
    with pytest.raises(ValueError, match="reserved for the console"):
        ReviewPolicy.model_validate(
            {"approvers": [{"name": "Console", "role": "director", "approval_limit": 1}]}
        )
