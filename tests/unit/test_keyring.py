"""The key ring: made private, rotated without losing a key, refused whole when wrong."""

from __future__ import annotations

import base64
import json
import os
import threading
from pathlib import Path

import pytest

from runtime.keyring import (
    KEY_BYTES,
    FileKeyRing,
    KeyRing,
    KeyRingError,
    ensure_ring_file,
    load_key_provider,
    read_ring_file,
    rotate_ring_file,
    write_ring_file,
)


def test_a_ring_made_on_first_use_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """ensure_ring_file creates one key, mode 0600; a second call keeps the same ring."""
    path = tmp_path / "data" / "claims-keys.json"

    assert ensure_ring_file(path)
    first = read_ring_file(path)
    assert not ensure_ring_file(path)

    assert 0o600 == path.stat().st_mode & 0o777
    assert 1 == len(first.keys)
    assert KEY_BYTES == len(first.current_key)
    assert first == read_ring_file(path)


def test_rotation_adds_a_current_key_and_keeps_every_older_one(tmp_path: Path) -> None:
    """Three rotations: four keys, the newest current, the first still there and unchanged."""
    path = tmp_path / "claims-keys.json"
    ensure_ring_file(path)
    original = read_ring_file(path)

    for _ in range(3):
        added, ring = rotate_ring_file(path)

    assert 4 == len(ring.keys)
    assert added.key_id == ring.current_id
    assert original.current_key == ring.key(original.current_id)
    assert 4 == len({k.key for k in ring.keys})
    assert 0o600 == path.stat().st_mode & 0o777


def test_concurrent_rotations_lose_no_key(tmp_path: Path) -> None:
    """Eight rotations at once, each in its own thread: nine keys, none lost to a race."""
    path = tmp_path / "claims-keys.json"
    ensure_ring_file(path)
    threads = [threading.Thread(target=rotate_ring_file, args=(path,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert 9 == len(read_ring_file(path).keys)


def test_a_ring_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    """Mode 0644: refused, naming the file and chmod 600; read as given only when asked."""
    path = tmp_path / "claims-keys.json"
    write_ring_file(path, KeyRing.fresh())
    path.chmod(0o644)

    with pytest.raises(KeyRingError, match=r"readable by others \(mode 644\).*chmod 600"):
        read_ring_file(path)
    assert read_ring_file(path, private=False).current_id


def test_a_missing_ring_says_how_to_make_one(tmp_path: Path) -> None:
    """No file: the message names the path, make run, claims keys rotate and CLAIMS_KEYS_FILE."""
    with pytest.raises(KeyRingError) as refused:
        read_ring_file(tmp_path / "nowhere.json")

    message = str(refused.value)
    assert "nowhere.json" in message
    assert "claims keys rotate" in message
    assert "CLAIMS_KEYS_FILE" in message


def _ring_text(**changes: object) -> str:
    key = base64.b64encode(b"k" * KEY_BYTES).decode()
    document: dict[str, object] = {
        "format": "claims-key-ring/1",
        "current": "a",
        "keys": [{"id": "a", "created": "2026-12-01T00:00:00+00:00", "key": key}],
    }
    document.update(changes)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("{not json", "is not JSON"),
        ("[]", "JSON object"),
        (_ring_text(format="v0"), "format"),
        (_ring_text(keys=[]), "keys must be a non-empty list"),
        (_ring_text(keys="abc"), "keys must be a non-empty list"),
        (_ring_text(keys=[7]), "keys[0] must be an object"),
        (_ring_text(keys=[{"id": "a\x1b[2J", "key": "AAAA"}]), "keys[0].id"),
        (_ring_text(keys=[{"id": "", "key": "AAAA"}]), "keys[0].id"),
        (_ring_text(keys=[{"id": "a", "key": "AAAA"}]), "keys[0].key (id a) must be 32 bytes"),
        (_ring_text(keys=[{"id": "a", "key": "not base64!"}]), "keys[0].key"),
        (_ring_text(keys=[{"id": "a", "key": 12}]), "keys[0].key"),
        (_ring_text(keys=[{"id": "a", "created": 5, "key": "AAAA"}]), "keys[0].created"),
        (_ring_text(current="zzz"), "current must be the id of one of its keys"),
        (_ring_text(current=None), "current must be the id"),
    ],
)
def test_a_malformed_ring_is_refused_naming_the_field(text: str, named: str) -> None:
    """Every wrong shape is a KeyRingError naming the source and the field, never a crash."""
    with pytest.raises(KeyRingError) as refused:
        KeyRing.parse(text, "ring.json")

    assert named in str(refused.value)
    assert str(refused.value).startswith("ring.json")


def test_a_duplicated_key_id_is_refused() -> None:
    """Two keys under one id would make decryption ambiguous."""
    ring = json.loads(_ring_text())
    ring["keys"].append(dict(ring["keys"][0]))

    with pytest.raises(KeyRingError, match="'a' appears more than once"):
        KeyRing.parse(json.dumps(ring), "ring.json")


def test_key_material_never_shows_in_a_repr() -> None:
    """A ring in a traceback or a log line shows ids and dates, never key bytes."""
    ring = KeyRing.fresh()

    assert base64.b64encode(ring.current_key).decode() not in repr(ring)
    assert repr(ring.current_key) not in repr(ring)


def test_a_running_reader_finds_a_key_rotated_in_by_another_process(tmp_path: Path) -> None:
    """FileKeyRing re-reads the file for an unknown key id (at most once a second)."""
    path = tmp_path / "claims-keys.json"
    ensure_ring_file(path)
    reader = FileKeyRing(path)
    added, _ring = rotate_ring_file(path)
    reader._checked -= 10  # as if a second had passed since the last look

    assert added.key == reader.get(added.key_id)
    assert added.key_id == reader.current()[0]


def test_a_key_provider_hook_is_loaded_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLAIMS_KEY_PROVIDER names a factory; a wrong name or a wrong object is refused."""
    import tests.unit.test_keyring as here

    monkeypatch.setattr(here, "factory", lambda: FileKeyRingStub(), raising=False)
    provider = load_key_provider(
        Path("unused"), {"CLAIMS_KEY_PROVIDER": f"{here.__name__}:factory"}
    )
    assert "stub" == provider.current()[0]

    for hook, named in [
        ("no-colon", "package.module:factory"),
        ("no_such_module_here:f", "cannot be loaded"),
        (f"{here.__name__}:missing", "cannot be loaded"),
        (f"{here.__name__}:not_a_provider", "lacks current()"),
    ]:
        with pytest.raises(KeyRingError, match=named):
            load_key_provider(Path("unused"), {"CLAIMS_KEY_PROVIDER": hook})


class FileKeyRingStub:
    """A KMS stand-in: one key, always current."""

    def current(self) -> tuple[str, bytes]:
        return "stub", b"s" * KEY_BYTES

    def get(self, key_id: str) -> bytes | None:
        return b"s" * KEY_BYTES if key_id == "stub" else None

    def describe(self) -> str:
        return "the stub key service"


def not_a_provider() -> object:
    """What a broken hook returns: not a key provider."""
    return object()


def test_the_default_ring_lives_in_the_data_directory() -> None:
    """CLAIMS_KEYS_FILE wins; otherwise claims-keys.json in CLAIMS_DATA_DIR."""
    from runtime.settings import Settings

    assert Path("/d/claims-keys.json") == Settings.from_env({"CLAIMS_DATA_DIR": "/d"}).keys_file
    assert Path("/k.json") == Settings.from_env({"CLAIMS_KEYS_FILE": "/k.json"}).keys_file
    assert os.sep in str(Settings.from_env({}).keys_file)
