"""The codec: ciphertext at rest, the key named, old plain payloads read, wrong keys refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import History
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError

from history.decoding import decode_message
from runtime.codec import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadKeyError,
    encrypted_data_converter,
)
from runtime.keyring import KeyRing, StaticKeyRing, ensure_ring_file, rotate_ring_file
from tests.helpers import sample_claim

PERSONAL = "Priya Shah"


def _claim_payloads() -> list[Payload]:
    claim = sample_claim("CLM-1001").model_copy(update={"description": f"{PERSONAL} fell"})
    return pydantic_data_converter.payload_converter.to_payloads([claim])


async def test_a_payload_is_ciphertext_naming_its_key() -> None:
    """No byte of the claim survives encryption; the metadata says how and with which key."""
    ring = KeyRing.fresh()
    codec = EncryptionCodec(StaticKeyRing(ring))
    plain = _claim_payloads()

    [sealed] = await codec.encode(plain)

    assert PERSONAL.encode() not in sealed.SerializeToString()
    assert ENCRYPTED_ENCODING == sealed.metadata["encoding"]
    assert ring.current_id.encode() == sealed.metadata[KEY_ID_METADATA]
    assert plain == await codec.decode([sealed])


async def test_the_same_value_encrypts_differently_each_time() -> None:
    """A fresh nonce per payload: equal claims cannot be matched by their ciphertext."""
    codec = EncryptionCodec(StaticKeyRing(KeyRing.fresh()))

    first, second = await codec.encode(_claim_payloads() * 2)

    assert first.data != second.data


async def test_a_plain_payload_from_an_old_history_passes_through() -> None:
    """Histories recorded before encryption still decode: unencrypted payloads are returned as is."""
    codec = EncryptionCodec(StaticKeyRing(KeyRing.fresh()))
    plain = _claim_payloads()

    assert plain == await codec.decode(plain)


async def test_rotation_keeps_what_older_keys_encrypted_readable(tmp_path: Path) -> None:
    """Encrypted before a rotation, read after it: the old key is still in the ring."""
    from runtime.keyring import FileKeyRing

    path = tmp_path / "claims-keys.json"
    ensure_ring_file(path)
    before = await EncryptionCodec(FileKeyRing(path)).encode(_claim_payloads())
    rotate_ring_file(path)
    after_codec = EncryptionCodec(FileKeyRing(path))
    after = await after_codec.encode(_claim_payloads())

    assert before[0].metadata[KEY_ID_METADATA] != after[0].metadata[KEY_ID_METADATA]
    assert _claim_payloads() == await after_codec.decode(before)
    assert _claim_payloads() == await after_codec.decode(after)


async def test_a_missing_key_is_named_never_garbage() -> None:
    """A payload whose key is not in the ring: PayloadKeyError naming the key id and the ring."""
    written = KeyRing.fresh()
    sealed = await EncryptionCodec(StaticKeyRing(written)).encode(_claim_payloads())
    reader = EncryptionCodec(StaticKeyRing(KeyRing.fresh(), "the key ring /etc/ring.json"))

    with pytest.raises(PayloadKeyError) as refused:
        await reader.decode(sealed)

    assert repr(written.current_id) in str(refused.value)
    assert "/etc/ring.json" in str(refused.value)
    assert "not in" in str(refused.value)


async def test_a_wrong_key_under_the_right_id_is_refused() -> None:
    """Same key id, other bytes (a ring restored wrongly): refused by the GCM tag, id named."""
    written = KeyRing.fresh()
    sealed = await EncryptionCodec(StaticKeyRing(written)).encode(_claim_payloads())
    impostor = KeyRing(
        current_id=written.current_id,
        keys=(KeyRing.fresh().keys[0].__class__(written.current_id, "", b"x" * 32),),
    )

    with pytest.raises(PayloadKeyError, match=f"{written.current_id!r} does not open"):
        await EncryptionCodec(StaticKeyRing(impostor)).decode(sealed)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p.metadata.__setitem__(KEY_ID_METADATA, b""),
        lambda p: setattr(p, "data", p.data[:-1] + bytes([p.data[-1] ^ 1])),
        lambda p: setattr(p, "data", b"short"),
        lambda p: setattr(p, "data", b""),
    ],
    ids=["no key id", "flipped bit", "truncated", "empty"],
)
async def test_an_altered_payload_is_refused(tamper: object) -> None:
    """No key id, a flipped bit, a cut payload: each a PayloadKeyError, never a crash."""
    ring = KeyRing.fresh()
    codec = EncryptionCodec(StaticKeyRing(ring))
    [sealed] = await codec.encode(_claim_payloads())
    tamper(sealed)  # type: ignore[operator]

    with pytest.raises(PayloadKeyError):
        await codec.decode([sealed])


async def test_a_payload_moved_under_another_key_id_is_refused() -> None:
    """The key id is bound to the ciphertext: relabelling it to another key in the ring fails."""
    ring = KeyRing.fresh().rotated()
    codec = EncryptionCodec(StaticKeyRing(ring))
    [sealed] = await codec.encode(_claim_payloads())
    sealed.metadata[KEY_ID_METADATA] = ring.keys[0].key_id.encode()

    with pytest.raises(PayloadKeyError):
        await codec.decode([sealed])


async def test_failure_messages_and_stack_traces_are_encrypted_and_restored() -> None:
    """An error quoting a claimant: the stored failure says "Encoded failure"; reading restores it."""
    converter = encrypted_data_converter(StaticKeyRing(KeyRing.fresh()))
    failure = Failure()
    try:
        raise ApplicationError(f"cannot pay {PERSONAL}", type="PayoutRefused")
    except ApplicationError as error:
        await converter.encode_failure(error, failure)

    assert PERSONAL.encode() not in failure.SerializeToString()
    assert "Encoded failure" == failure.message
    history = History()
    history.events.add().activity_task_failed_event_attributes.failure.CopyFrom(failure)
    await decode_message(history, converter)
    restored = history.events[0].activity_task_failed_event_attributes.failure
    assert f"cannot pay {PERSONAL}" == restored.message
    assert "PayoutRefused" == restored.application_failure_info.type
    assert "raise ApplicationError" in restored.stack_trace


async def test_reading_a_history_decodes_every_payload_but_search_attributes() -> None:
    """Inputs, results, signals, memo, headers and summaries are opened; search attributes stay."""
    converter = encrypted_data_converter(StaticKeyRing(KeyRing.fresh()))
    [sealed] = await converter.encode([PERSONAL])
    history = History()
    started = history.events.add().workflow_execution_started_event_attributes
    started.input.payloads.append(sealed)
    started.memo.fields["note"].CopyFrom(sealed)
    started.header.fields["h"].CopyFrom(sealed)
    started.search_attributes.indexed_fields["ClaimStep"].CopyFrom(sealed)
    signaled = history.events.add()
    signaled.workflow_execution_signaled_event_attributes.input.payloads.append(sealed)
    signaled.user_metadata.summary.CopyFrom(sealed)

    await decode_message(history, converter)

    read = pydantic_data_converter.payload_converter.from_payload
    assert PERSONAL == read(started.input.payloads[0])
    assert PERSONAL == read(started.memo.fields["note"])
    assert PERSONAL == read(started.header.fields["h"])
    assert PERSONAL == read(signaled.workflow_execution_signaled_event_attributes.input.payloads[0])
    assert PERSONAL == read(signaled.user_metadata.summary)
    assert sealed == started.search_attributes.indexed_fields["ClaimStep"]
