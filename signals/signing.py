"""Signed human actions: Ed25519 over one canonical form, checked the same way everywhere.

A signed action carries `"signature": {"key_id", "issued_at", "nonce", "value"}` beside
its fields. The signed bytes are the canonical form of the claim id, the action, every
other field of the payload (expected_version included) and the signature's key id,
issued-at and nonce, so a signature cannot be moved to another claim, action, version,
time or replay. This module is pure and deterministic (no clock, no environment): the
workflow verifies with it inside its sandbox, and `claims audit verify` re-checks a
history with it offline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_FIELD = "signature"
SIGNATURE_KEYS = frozenset({"key_id", "issued_at", "nonce", "value"})
MAX_NONCE_LENGTH = 64
MAX_KEY_ID_LENGTH = 64
# An Ed25519 signature is 64 bytes: 88 characters of base64.
MAX_SIGNATURE_TEXT = 100


class SignatureError(ValueError):
    """A signature that cannot be accepted; the message says what was wrong."""


def new_nonce() -> str:
    """A fresh random nonce for one signed action."""
    return secrets.token_hex(16)


def canonical(claim_id: str, action: str, payload: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: stable for equal inputs, whatever their key order.

    The payload's fields (all but `signature`) and, when the payload carries a signature,
    its key id, issued-at and nonce (never its value), with the claim id and the action,
    as JSON with sorted keys, no spaces and ASCII only.
    """
    fields = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    document: dict[str, Any] = {"action": action, "claim_id": claim_id, "payload": fields}
    signature = payload.get(SIGNATURE_FIELD)
    if isinstance(signature, Mapping):
        document["signed"] = {k: v for k, v in signature.items() if k != "value"}
    try:
        text = json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        raise SignatureError(
            f"the payload is not plain JSON, so cannot be signed: {error}"
        ) from None
    return text.encode("ascii")


def iso_utc(at: datetime) -> str:
    """An instant as the signature writes it: ISO 8601 in UTC."""
    if at.tzinfo is None:
        raise SignatureError("issued_at must carry a time zone")
    return at.astimezone(UTC).isoformat()


def sign_payload(
    payload: Mapping[str, Any],
    *,
    claim_id: str,
    action: str,
    key: Ed25519PrivateKey,
    key_id: str,
    issued_at: datetime,
    nonce: str,
) -> dict[str, Any]:
    """The payload with its signature; signing requires `expected_version`."""
    if not isinstance(payload.get("expected_version"), int):
        raise SignatureError("a signed action needs expected_version (the claim's version)")
    signed: dict[str, Any] = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    signed[SIGNATURE_FIELD] = {"key_id": key_id, "issued_at": iso_utc(issued_at), "nonce": nonce}
    value = key.sign(canonical(claim_id, action, signed))
    signed[SIGNATURE_FIELD]["value"] = base64.b64encode(value).decode("ascii")
    return signed


def signature_of(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The payload's signature block, None when unsigned; a malformed block is refused."""
    block = payload.get(SIGNATURE_FIELD)
    if block is None:
        return None
    if not isinstance(block, Mapping) or set(block) != SIGNATURE_KEYS:
        raise SignatureError(
            "signature must be an object with exactly key_id, issued_at, nonce and value"
        )
    limits = {
        "key_id": MAX_KEY_ID_LENGTH,
        "nonce": MAX_NONCE_LENGTH,
        "issued_at": 40,
        "value": MAX_SIGNATURE_TEXT,
    }
    for field, limit in limits.items():
        text = block[field]
        if not isinstance(text, str) or not 0 < len(text) <= limit or not text.isprintable():
            raise SignatureError(
                f"signature.{field} must be printable text of 1 to {limit} characters"
            )
    return block


def issued_at_of(block: Mapping[str, Any]) -> datetime:
    """The signature's issued-at, as an aware instant."""
    try:
        at = datetime.fromisoformat(str(block["issued_at"]))
    except ValueError:
        raise SignatureError("signature.issued_at is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise SignatureError("signature.issued_at must carry a time zone (UTC)")
    return at


def verify(
    payload: Mapping[str, Any],
    *,
    claim_id: str,
    action: str,
    public_keys: Mapping[str, str],
) -> str:
    """The key id that signed this payload for this claim and action; raises if none did.

    `public_keys` maps key ids to base64 public keys. Time windows, nonces and who may use
    which key are the caller's rules; this checks only that the bytes were signed.
    """
    block = signature_of(payload)
    if block is None:
        raise SignatureError("the action is not signed")
    key_id = str(block["key_id"])
    public = public_keys.get(key_id)
    if public is None:
        raise SignatureError(f"signing key {key_id} is not trusted by this review policy")
    try:
        value = base64.b64decode(str(block["value"]), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("signature.value is not base64") from None
    try:
        public_key(public).verify(value, canonical(claim_id, action, payload))
    except InvalidSignature:
        raise SignatureError(
            f"the signature by key {key_id} does not match this action: it was signed for "
            "another claim, action or content, or altered since"
        ) from None
    return key_id


def public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64 text (32 raw bytes)."""
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise SignatureError("a public key must be 32 bytes of Ed25519, in base64") from None


def public_key_id(public: str) -> str:
    """A key's id: the first 16 hex digits of the SHA-256 of its raw bytes."""
    raw = base64.b64decode(public, validate=True)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_text(key: Ed25519PrivateKey) -> str:
    """The base64 public key of a private key."""
    raw = key.public_key().public_bytes(
        encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw
    )
    return base64.b64encode(raw).decode("ascii")


def new_key_pair() -> tuple[bytes, str]:
    """A new private key (PEM, unencrypted PKCS#8) and its public key (base64)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return pem, public_text(key)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """A private key from a PEM file made by `claims keys new`; errors name the file."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SignatureError(f"key file {path} cannot be read ({error.strerror})") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise SignatureError(
            f"key file {path} is not an unencrypted PEM private key; make one with "
            "`claims keys new NAME`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SignatureError(f"key file {path} holds a key that is not Ed25519")
    return key
