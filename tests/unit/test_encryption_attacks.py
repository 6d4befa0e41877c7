"""Payload encryption under attack: hostile payloads, odd ring files, failing key services.

Each test is a way an outsider (who can write to Temporal but holds no key) or a clumsy
operator could try to break the key ring or the codec; it states what must hold.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from structlog.testing import capture_logs
from temporalio.api.common.v1 import Payload
from typer.testing import CliRunner

from runtime.codec import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    NONCE_BYTES,
    EncryptionCodec,
    PayloadKeyError,
)
from runtime.keyring import (
    FileKeyRing,
    KeyRing,
    KeyRingError,
    RingKey,
    StaticKeyRing,
    new_ring_key,
    read_ring_file,
    rotate_ring_file,
    write_ring_file,
)
from runtime.text import printable

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"claimant": "Ada"}')


def sealed(key_id: bytes, data: bytes) -> Payload:
    """A payload that says it is encrypted, with whatever id and bytes an attacker chose."""
    return Payload(metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: key_id}, data=data)


class RecordingKeys:
    """A key service that records every id it is asked for (a KMS hook, as the codec sees it)."""

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self.asked: list[str] = []

    def current(self) -> tuple[str, bytes]:
        return self.ring.current_id, self.ring.current_key

    def get(self, key_id: str) -> bytes | None:
        self.asked.append(key_id)
        return self.ring.key(key_id)

    def describe(self) -> str:
        return "the test key service"


class FailingKeys:
    """A key service that is down: every call raises what a KMS client would."""

    def current(self) -> tuple[str, bytes]:
        raise ConnectionError("kms.example: connection refused")

    def get(self, key_id: str) -> bytes | None:
        raise ConnectionError("kms.example: connection refused")

    def describe(self) -> str:
        return "the test KMS"


class ShortKeys:
    """A misconfigured key service that hands out AES-128 keys."""

    def current(self) -> tuple[str, bytes]:
        return "short-1", b"k" * 16

    def get(self, key_id: str) -> bytes | None:
        return b"k" * 16

    def describe(self) -> str:
        return "the test KMS"


# --- payloads an attacker without a key can write --------------------------------------


@pytest.mark.parametrize(
    "key_id",
    [
        b"../../etc/passwd",
        b"alias/claims\x1b]0;owned\x07",
        b"id with spaces",
        "\u202eevil".encode(),
        b"\xff\xfe",
        b"x" * 100_000,
    ],
)
def test_a_key_id_that_is_not_ours_never_reaches_the_key_service(key_id: bytes) -> None:
    """An id with path, control or non-ASCII characters, or 100 KB long, is refused before
    the key service is asked (a KMS hook may build a path or URL from it), and the error
    quotes it short and printable."""
    keys = RecordingKeys(KeyRing.fresh())

    with pytest.raises(PayloadKeyError) as refused:
        EncryptionCodec(keys).decode_sync([sealed(key_id, b"\0" * 40)])

    assert [] == keys.asked
    message = str(refused.value)
    assert message == printable(message)
    assert len(message) < 400


@pytest.mark.parametrize(
    "data",
    [b"", b"\0" * 5, b"\0" * NONCE_BYTES, b"\0" * (NONCE_BYTES + 15), os.urandom(1 << 20)],
)
def test_an_attacker_without_a_key_gets_only_a_payload_key_error(data: bytes) -> None:
    """Empty, too short for a nonce, too short for a tag, or a megabyte of noise under a
    real key id: always PayloadKeyError naming the key, never another exception."""
    ring = KeyRing.fresh()

    with pytest.raises(PayloadKeyError, match=ring.current_id):
        EncryptionCodec(StaticKeyRing(ring)).decode_sync([sealed(ring.current_id.encode(), data)])


def test_a_blob_that_opens_but_is_not_a_payload_is_refused_as_a_payload_error() -> None:
    """Bytes sealed under our key by another tool (the tag checks out) that are not a
    Payload protobuf: a PayloadKeyError saying so, not protobuf's DecodeError."""
    ring = KeyRing.fresh()
    label = ring.current_id.encode()
    nonce = os.urandom(NONCE_BYTES)
    junk = AESGCM(ring.current_key).encrypt(nonce, b"\xff\xff\xff\xff", label)

    with pytest.raises(PayloadKeyError, match="not a Temporal payload"):
        EncryptionCodec(StaticKeyRing(ring)).decode_sync([sealed(label, nonce + junk)])


def test_nonces_are_fresh_for_every_payload_even_of_the_same_plaintext() -> None:
    """A thousand encodings of one payload: a thousand different nonces (GCM must never
    reuse one under a key)."""
    codec = EncryptionCodec(StaticKeyRing(KeyRing.fresh()))

    nonces = {p.data[:NONCE_BYTES] for p in codec.encode_sync([PLAIN] * 1000)}

    assert 1000 == len(nonces)


# --- a key service (KMS hook) that fails or misbehaves --------------------------------


def test_a_key_service_that_fails_on_decode_is_a_key_ring_error() -> None:
    """A KMS that raises inside get() reaches people as a key ring error naming the service
    and the call (the codec server answers 503, the CLI prints it), not a raw traceback."""
    ring = KeyRing.fresh()
    payload = EncryptionCodec(StaticKeyRing(ring)).encode_sync([PLAIN])[0]

    with pytest.raises(KeyRingError, match=r"the test KMS failed in get.*ConnectionError"):
        EncryptionCodec(FailingKeys()).decode_sync([payload])


def test_a_key_service_that_fails_on_encode_is_a_key_ring_error() -> None:
    """A KMS that raises inside current(): a key ring error, not the client's exception."""
    with pytest.raises(KeyRingError, match=r"the test KMS failed in current\(\)"):
        EncryptionCodec(FailingKeys()).encode_sync([PLAIN])


def test_a_key_service_that_hands_out_short_keys_is_refused() -> None:
    """A 16-byte key would encrypt claims with AES-128 without a word: refused instead."""
    with pytest.raises(KeyRingError, match="not 32 bytes"):
        EncryptionCodec(ShortKeys()).encode_sync([PLAIN])


# --- ring files a clumsy operator (or another user) leaves behind ---------------------


def test_rotating_a_linked_ring_rotates_the_file_it_links_to(tmp_path: Path) -> None:
    """`.temporal/claims-keys.json` linking to the ring on a backed-up volume: rotation
    writes the new key there and keeps the link, so every reader of the real ring has it."""
    real = tmp_path / "vault" / "claims-keys.json"
    write_ring_file(real, KeyRing.fresh())
    link = tmp_path / "claims-keys.json"
    link.symlink_to(real)

    added, _ = rotate_ring_file(link)

    assert link.is_symlink()
    assert added.key_id == read_ring_file(real).current_id
    assert 0o600 == real.stat().st_mode & 0o777


def test_a_link_to_a_missing_ring_gets_no_fresh_ring(tmp_path: Path) -> None:
    """A link whose ring is not there (volume not mounted): rotation refuses, naming the
    link, instead of making a ring of new keys that cannot read anything written before."""
    link = tmp_path / "claims-keys.json"
    link.symlink_to(tmp_path / "unmounted" / "claims-keys.json")

    with pytest.raises(KeyRingError, match="does not exist"):
        rotate_ring_file(link)

    assert not (tmp_path / "unmounted").exists()


def test_a_link_planted_at_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    """The lock is opened for writing: a link at its name must not create or open the file
    it points to."""
    ring = tmp_path / "claims-keys.json"
    write_ring_file(ring, KeyRing.fresh())
    elsewhere = tmp_path / "elsewhere"
    (tmp_path / "claims-keys.json.lock").symlink_to(elsewhere)

    with pytest.raises(KeyRingError, match="lock"):
        rotate_ring_file(ring)

    assert not elsewhere.exists()
    assert 1 == len(read_ring_file(ring).keys)


@pytest.mark.parametrize("special", ["/dev/null", "directory"])
def test_a_ring_path_that_is_not_a_file_is_refused_as_such(tmp_path: Path, special: str) -> None:
    """A device or a directory named as the ring (by --keys, read as given) is refused as
    not a regular file; the same check keeps a pipe from blocking a worker forever."""
    path = tmp_path if special == "directory" else Path(special)

    with pytest.raises(KeyRingError, match="not a regular file"):
        read_ring_file(path, private=False)


def test_a_ring_that_is_not_utf8_is_refused_in_plain_words(tmp_path: Path) -> None:
    """Binary garbage in the ring: one line naming the file, no codec jargon dump."""
    path = tmp_path / "claims-keys.json"
    path.write_bytes(b"\xff\xfe{}")
    path.chmod(0o600)

    with pytest.raises(KeyRingError, match="not UTF-8"):
        read_ring_file(path)


def test_a_ring_of_thousands_of_keys_gives_a_short_error(tmp_path: Path) -> None:
    """A big ring whose current id is wrong: the error names a few ids, not all 2,000."""
    keys = tuple(new_ring_key(None, set()) for _ in range(2000))
    document = json.loads(KeyRing(current_id=keys[0].key_id, keys=keys).to_json())
    document["current"] = "gone"

    with pytest.raises(KeyRingError) as refused:
        KeyRing.parse(json.dumps(document), "ring")

    assert len(str(refused.value)) < 600
    assert keys[-1].key_id in str(refused.value)


def test_a_ring_broken_while_running_keeps_the_ring_read_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ring file caught half-copied (`cp backup ring` truncates first): a running
    worker keeps encrypting and decrypting with the ring it read before, logs it once,
    and takes the file again once it is whole."""
    monkeypatch.setattr("runtime.keyring.RELOAD_INTERVAL_SECONDS", 0.0)
    path = tmp_path / "claims-keys.json"
    first = KeyRing.fresh()
    write_ring_file(path, first)
    keys = FileKeyRing(path)
    path.write_text(first.to_json()[:40])

    with capture_logs() as logs:
        assert (first.current_id, first.current_key) == keys.current()
        assert first.current_key == keys.get(first.current_id)
        assert None is keys.get("20260101-unknown")
    assert 1 == len(logs)
    assert first.current_key.hex() not in str(logs)

    rotated = first.rotated()
    write_ring_file(path, rotated)
    assert rotated.current_id == keys.current()[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_ring_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A ring someone else owns, mode 0600: they can rewrite it with a key they know, so it
    is refused, naming the owner's uid."""
    path = tmp_path / "claims-keys.json"
    write_ring_file(path, KeyRing.fresh())
    os.chown(path, 65534, 65534)

    with pytest.raises(KeyRingError, match="belongs to another user"):
        read_ring_file(path)


# --- claims keys list / rotate with hostile text ---------------------------------------


def _ring_with_created(created: str) -> KeyRing:
    key = RingKey(key_id="20260101-abcd", created=created, key=b"k" * 32)
    return KeyRing(current_id=key.key_id, keys=(key,))


def test_keys_list_shows_a_hostile_created_field_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ring whose `created` holds an escape sequence and rich markup: `claims keys list`
    prints it escaped, brackets as brackets, and does not crash."""
    import typer

    from cli.encryption_keys import register_encryption_key_commands

    path = tmp_path / "claims-keys.json"
    write_ring_file(path, _ring_with_created("\x1b]0;owned\x07[/][bold]x"))
    monkeypatch.setenv("CLAIMS_KEYS_FILE", str(path))
    monkeypatch.delenv("CLAIMS_KEY_PROVIDER", raising=False)
    app = typer.Typer()
    register_encryption_key_commands(app)

    result = CliRunner().invoke(app, ["list"])

    assert 0 == result.exit_code, result.output
    assert "\x1b" not in result.output
    assert "\\x1b]0;owned\\x07[/][bold]x" in result.output.replace("\n", "").replace("│", "")


def test_keys_rotate_into_a_path_with_brackets_reports_without_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ring path holding `[/]` (read by rich as markup): the rotation is reported, not
    followed by a MarkupError after the ring was already written."""
    import typer

    from cli.encryption_keys import register_encryption_key_commands

    path = tmp_path / "keys[/]" / "claims-keys.json"
    monkeypatch.setenv("CLAIMS_KEYS_FILE", str(path))
    monkeypatch.delenv("CLAIMS_KEY_PROVIDER", raising=False)
    app = typer.Typer()
    register_encryption_key_commands(app)

    result = CliRunner().invoke(app, ["rotate"])

    assert 0 == result.exit_code, result.output
    assert "new current key" in result.output
    assert base64.b64decode(json.loads(path.read_text())["keys"][0]["key"])
