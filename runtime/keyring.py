"""The keys that encrypt claim data in Temporal: a key ring of several keys, one current.

Every payload is encrypted with the current key and names it; older keys stay in the
ring so what they encrypted stays readable after a rotation. The ring is a JSON file
readable by its owner only (`CLAIMS_KEYS_FILE`, by default `.temporal/claims-keys.json`),
or any key service behind `KeyProvider` (`CLAIMS_KEY_PROVIDER=package.module:factory`),
so an insurer can keep its keys in a KMS without changing the codec.

    {"format": "claims-key-ring/1", "current": "<key id>",
     "keys": [{"id": "<key id>", "created": "<ISO 8601>", "key": "<base64, 32 bytes>"}]}
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import importlib
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runtime.errors import UserFacingError

RING_FORMAT = "claims-key-ring/1"
KEY_BYTES = 32  # AES-256
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_RING_FILE_BYTES = 1024 * 1024
# A reader re-reads the file at most this often when asked for a key it does not have,
# so a rotation made by `claims keys rotate` reaches a running worker without a restart.
RELOAD_INTERVAL_SECONDS = 1.0


class KeyRingError(UserFacingError):
    """The key ring cannot be used; the message names the file, the field and the fix."""


@runtime_checkable
class KeyProvider(Protocol):
    """Where keys come from: the file ring here, or a KMS behind the same two calls."""

    def current(self) -> tuple[str, bytes]:
        """The id and bytes of the key new payloads are encrypted with."""
        ...

    def get(self, key_id: str) -> bytes | None:
        """The key with this id, or None when this provider does not have it."""
        ...

    def describe(self) -> str:
        """Where the keys live, for messages ("the key ring /path/claims-keys.json")."""
        ...


@dataclass(frozen=True)
class RingKey:
    key_id: str
    created: str
    key: bytes

    def __repr__(self) -> str:  # never the key bytes in a log or a traceback
        return f"RingKey(key_id={self.key_id!r}, created={self.created!r})"


@dataclass(frozen=True)
class KeyRing:
    """Keys by id and the id of the current one; parsed and checked as a whole."""

    current_id: str
    keys: tuple[RingKey, ...]

    def key(self, key_id: str) -> bytes | None:
        for item in self.keys:
            if item.key_id == key_id:
                return item.key
        return None

    @property
    def current_key(self) -> bytes:
        found = self.key(self.current_id)
        assert found is not None  # parse() guarantees the current id is in the ring
        return found

    def rotated(self, now: datetime | None = None) -> KeyRing:
        """This ring with a new key added and made current; every older key kept."""
        added = new_ring_key(now, taken={k.key_id for k in self.keys})
        return KeyRing(current_id=added.key_id, keys=(*self.keys, added))

    @classmethod
    def fresh(cls, now: datetime | None = None) -> KeyRing:
        first = new_ring_key(now, taken=set())
        return cls(current_id=first.key_id, keys=(first,))

    def to_json(self) -> str:
        document = {
            "format": RING_FORMAT,
            "current": self.current_id,
            "keys": [
                {
                    "id": k.key_id,
                    "created": k.created,
                    "key": base64.b64encode(k.key).decode("ascii"),
                }
                for k in self.keys
            ],
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def parse(cls, text: str, source: str) -> KeyRing:
        """The ring in `text`, or a KeyRingError naming `source` and the bad field."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise KeyRingError(
                f"{source} is not JSON ({error.msg} at line {error.lineno}); restore it from "
                "your backup: payloads encrypted with its keys cannot be read without them"
            ) from None
        if not isinstance(document, dict):
            raise KeyRingError(f"{source} must hold a JSON object with format, current, keys")
        if document.get("format") != RING_FORMAT:
            raise KeyRingError(f"{source}: format must be {RING_FORMAT!r}")
        raw_keys = document.get("keys")
        if not isinstance(raw_keys, list) or not raw_keys:
            raise KeyRingError(f"{source}: keys must be a non-empty list")
        keys = tuple(_parse_key(item, f"{source}: keys[{i}]") for i, item in enumerate(raw_keys))
        ids = [k.key_id for k in keys]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise KeyRingError(f"{source}: key id {duplicates[0]!r} appears more than once")
        current = document.get("current")
        if not isinstance(current, str) or current not in ids:
            raise KeyRingError(
                f"{source}: current must be the id of one of its keys ({', '.join(ids)})"
            )
        return cls(current_id=current, keys=keys)


def _parse_key(item: Any, where: str) -> RingKey:
    if not isinstance(item, dict):
        raise KeyRingError(f"{where} must be an object with id, created and key")
    key_id = item.get("id")
    if not isinstance(key_id, str) or not KEY_ID_PATTERN.fullmatch(key_id):
        raise KeyRingError(
            f"{where}.id must be 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    created = item.get("created", "")
    if not isinstance(created, str):
        raise KeyRingError(f"{where}.created must be a string (ISO 8601 time)")
    encoded = item.get("key")
    try:
        key = base64.b64decode(encoded, validate=True) if isinstance(encoded, str) else b""
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"{where}.key (id {key_id}) must be {KEY_BYTES} bytes in base64")
    return RingKey(key_id=key_id, created=created, key=key)


def new_ring_key(now: datetime | None, taken: set[str]) -> RingKey:
    """A random AES-256 key with an id people can read: its day and a random tag."""
    when = now or datetime.now(UTC)
    while True:
        key_id = f"{when:%Y%m%d}-{secrets.token_hex(4)}"
        if key_id not in taken:
            return RingKey(
                key_id=key_id,
                created=when.isoformat(timespec="seconds"),
                key=secrets.token_bytes(KEY_BYTES),
            )


class FileKeyRing:
    """A KeyProvider over a ring file, re-read when it changes on disk.

    Encrypting takes the current key as of the last read; decrypting a payload whose key
    is not known re-reads the file first (at most once a second), so payloads written
    by a process that rotated the ring are read here without a restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._ring = read_ring_file(path)
        self._stamp = _stamp(path)
        self._checked = time.monotonic()

    def describe(self) -> str:
        return f"the key ring {self.path}"

    def _refresh(self, *, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_INTERVAL_SECONDS:
            return
        with self._lock:
            self._checked = now
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                self._ring = read_ring_file(self.path)
                self._stamp = stamp

    def current(self) -> tuple[str, bytes]:
        self._refresh(force=False)
        ring = self._ring
        return ring.current_id, ring.current_key

    def get(self, key_id: str) -> bytes | None:
        found = self._ring.key(key_id)
        if found is None:
            self._refresh(force=False)
            found = self._ring.key(key_id)
        return found


class StaticKeyRing:
    """A KeyProvider over a ring held in memory: tests, recordings and KMS hooks."""

    def __init__(self, ring: KeyRing, source: str = "the in-memory key ring") -> None:
        self.ring = ring
        self.source = source

    def describe(self) -> str:
        return self.source

    def current(self) -> tuple[str, bytes]:
        return self.ring.current_id, self.ring.current_key

    def get(self, key_id: str) -> bytes | None:
        return self.ring.key(key_id)


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        info = path.stat()
    except OSError:
        return (0, 0, 0)
    return (info.st_mtime_ns, info.st_size, info.st_ino)


def read_ring_file(path: Path, *, private: bool = True) -> KeyRing:
    """The ring in `path`, refused when missing, unreadable, malformed, or (when `private`)
    readable by others. A ring named on the command line to read old histories (the test
    ring in the repository, say) is read as given: `private=False`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise KeyRingError(
            f"no key ring at {path}; `make run` creates one on first use, "
            "`claims keys rotate` creates one here, or set CLAIMS_KEYS_FILE to your ring"
        ) from None
    except OSError as error:
        raise KeyRingError(f"the key ring {path} cannot be read ({error.strerror})") from None
    mode = info.st_mode & 0o777
    if private and mode & 0o077:
        raise KeyRingError(
            f"the key ring {path} is readable by others (mode {mode:o}); run chmod 600 {path}"
        )
    if info.st_size > MAX_RING_FILE_BYTES:
        raise KeyRingError(f"the key ring {path} is larger than 1 MiB; is it the right file?")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyRingError(f"the key ring {path} cannot be read ({error})") from None
    return KeyRing.parse(text, str(path))


def write_ring_file(path: Path, ring: KeyRing) -> None:
    """Replace `path` with `ring` in one step, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=".claims-keys-")
    temporary = Path(name)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(ring.to_json())
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(0o600)
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


@contextlib.contextmanager
def ring_lock(path: Path) -> Iterator[None]:
    """One writer at a time: two rotations at once must not lose either key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    descriptor = os.open(lock_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def ensure_ring_file(path: Path) -> bool:
    """Create a ring with one key at `path` if there is none; True when it was created."""
    with ring_lock(path):
        if path.exists():
            read_ring_file(path)  # refuse a loose or broken ring now, not at first payload
            return False
        write_ring_file(path, KeyRing.fresh())
        return True


def rotate_ring_file(path: Path) -> tuple[RingKey, KeyRing]:
    """Add a new current key to the ring at `path` (creating the ring if there is none)."""
    with ring_lock(path):
        ring = read_ring_file(path).rotated() if path.exists() else KeyRing.fresh()
        write_ring_file(path, ring)
    added = ring.keys[-1]
    return added, ring


def load_key_provider(keys_file: Path, env: Mapping[str, str]) -> KeyProvider:
    """The configured provider: a KMS hook when CLAIMS_KEY_PROVIDER names one, else the file."""
    hook = env.get("CLAIMS_KEY_PROVIDER", "").strip()
    if not hook:
        return FileKeyRing(keys_file)
    module_name, _, attribute = hook.partition(":")
    if not module_name or not attribute:
        raise KeyRingError(f"CLAIMS_KEY_PROVIDER={hook!r} must look like package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise KeyRingError(f"CLAIMS_KEY_PROVIDER={hook!r} cannot be loaded ({error})") from None
    provider = factory()
    if not isinstance(provider, KeyProvider):
        raise KeyRingError(
            f"CLAIMS_KEY_PROVIDER={hook!r} returned {type(provider).__name__}, which lacks "
            "current(), get(key_id) and describe()"
        )
    return provider
