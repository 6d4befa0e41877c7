"""Encryption of every payload Temporal stores: AES-256-GCM, the key id in the metadata.

The codec sits under the pydantic payload converter in one data converter that the
worker, the CLI, the console, the replayer and the codec server all share, so the
Temporal server (its database, exported histories, a cluster operator) only ever holds
ciphertext. Failures go through the same codec: their message and stack trace move
into an encoded attribute (`encode_common_attributes`), since an error about a claim
may quote it.

Decoding passes through payloads that are not encrypted (histories recorded before the
codec, search attributes), and refuses, naming the key id, a payload whose key is not
in the ring or does not open it: never garbage, never a silent plain value.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from runtime.errors import UserFacingError
from runtime.keyring import KEY_BYTES, KEY_ID_PATTERN, KeyProvider, KeyRingError
from runtime.payload_converter import SharedPydanticPayloadConverter
from runtime.text import printable

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
# How much of a key id that is not one of ours an error quotes.
QUOTED_ID_CHARS = 64


class PayloadKeyError(UserFacingError):
    """A payload cannot be decrypted; the message names its key id and what to do."""


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM per payload: a fresh nonce each time, the key id bound as associated data."""

    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys
        self._ciphers: dict[tuple[str, bytes], AESGCM] = {}

    def _cipher(self, key_id: str, key: bytes) -> AESGCM:
        cipher = self._ciphers.get((key_id, key))
        if cipher is None:
            cipher = self._ciphers[(key_id, key)] = AESGCM(key)
        return cipher

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.encode_sync(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return self.decode_sync(payloads)

    def _current(self) -> tuple[str, bytes]:
        """The provider's current key, checked: a KMS hook may fail or answer oddly."""
        try:
            key_id, key = self.keys.current()
        except UserFacingError:
            raise
        except Exception as error:
            raise _provider_failed(self.keys, "current()", error) from None
        if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
            raise KeyRingError(
                f"{self.keys.describe()} gave a current key id that is not 1-64 letters, "
                "digits, '.', '_' or '-'; fix the key service's ids"
            )
        _check_key(self.keys, key_id, key)
        return key_id, key

    def _get(self, key_id: str) -> bytes | None:
        try:
            key = self.keys.get(key_id)
        except UserFacingError:
            raise
        except Exception as error:
            raise _provider_failed(self.keys, f"get({key_id!r})", error) from None
        if key is not None:
            _check_key(self.keys, key_id, key)
        return key

    def encode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Encrypt each payload whole (metadata and data) under the current key."""
        key_id, key = self._current()
        cipher = self._cipher(key_id, key)
        label = key_id.encode("ascii")
        encoded: list[Payload] = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), label)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: label},
                    data=nonce + sealed,
                )
            )
        return encoded

    def decode_sync(self, payloads: Sequence[Payload]) -> list[Payload]:
        """Decrypt what is encrypted; pass through what never was (old histories)."""
        return [self._decode_one(payload) for payload in payloads]

    def _decode_one(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload
        label = payload.metadata.get(KEY_ID_METADATA, b"")
        key_id = label.decode("ascii", errors="replace")
        if not key_id:
            raise PayloadKeyError(
                "an encrypted payload names no key id (metadata encryption-key-id is "
                "missing); it was not written by this codec"
            )
        if not KEY_ID_PATTERN.fullmatch(key_id):
            # Whoever can write to Temporal chooses this id: never hand it to a key service
            # (a KMS hook may build a path or a URL from it), and quote it short and
            # printable, since it lands in terminals, logs and the codec server's answers.
            raise PayloadKeyError(
                f"an encrypted payload names key '{printable(key_id[:QUOTED_ID_CHARS])}'"
                f"{'...' if len(key_id) > QUOTED_ID_CHARS else ''}, which is not a key id "
                "this codec writes (1-64 letters, digits, '.', '_' or '-'); it was not "
                "written by this codec, or was altered"
            )
        key = self._get(key_id)
        if key is None:
            raise PayloadKeyError(
                f"a payload is encrypted with key {key_id!r}, which is not in "
                f"{self.keys.describe()}; add that key back (rotation keeps old keys; "
                "restore the ring from a backup) or point CLAIMS_KEYS_FILE at the ring "
                "that has it"
            )
        data = payload.data
        try:
            plain = self._cipher(key_id, key).decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], label)
        except (InvalidTag, ValueError):
            raise PayloadKeyError(
                f"a payload encrypted with key {key_id!r} does not open with the key of "
                f"that id in {self.keys.describe()}: the ring holds a different key under "
                "that id, or the payload was altered"
            ) from None
        try:
            return Payload.FromString(plain)
        except DecodeError:
            # Only a holder of the key can get here (the tag checked out): a tool other
            # than this codec encrypted something that is not a payload under our key.
            raise PayloadKeyError(
                f"a payload encrypted with key {key_id!r} opens, but what it holds is not "
                "a Temporal payload; it was not written by this codec"
            ) from None


def _check_key(keys: KeyProvider, key_id: str, key: object) -> None:
    """AES-256 only: a KMS hook that returns a shorter key or a string is misconfigured,
    and would otherwise encrypt with less than the README promises, or fail obscurely."""
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise KeyRingError(
            f"{keys.describe()} gave key {key_id!r} that is not {KEY_BYTES} bytes "
            f"(AES-256); fix the key service's answer to get({key_id!r}) and current()"
        )


def _provider_failed(keys: KeyProvider, call: str, error: Exception) -> KeyRingError:
    """A key service that raises: said as a key ring error (the operator's to fix), naming
    the call and the error's type; its message may be long or quote a request, so only
    a short printable start of it."""
    detail = printable(str(error))[:200]
    return KeyRingError(
        f"{keys.describe()} failed in {call}: {type(error).__name__}"
        f"{': ' + detail if detail else ''}; check that the key service is reachable "
        "and this process may use it"
    )


def encrypted_data_converter(keys: KeyProvider) -> DataConverter:
    """Our pydantic converter with the codec under it and failures encoded too.

    The payload converter is the process's one shared instance (see
    runtime.payload_converter): the same encodings as `pydantic_data_converter`'s.
    """
    return dataclasses.replace(
        pydantic_data_converter,
        payload_converter_class=SharedPydanticPayloadConverter,
        payload_codec=EncryptionCodec(keys),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def is_encrypted(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == ENCRYPTED_ENCODING
