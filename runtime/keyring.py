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
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from runtime.errors import UserFacingError
from runtime.logs import get_logger

RING_FORMAT = "claims-key-ring/1"
KEY_BYTES = 32  # AES-256
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_RING_FILE_BYTES = 1024 * 1024
# An error that lists a ring's key ids names at most this many: a ring may hold thousands.
MAX_IDS_LISTED = 10
# A reader re-reads the file at most this often when asked for a key it does not have,
# so a rotation made by `claims keys rotate` reaches a running worker without a restart.
RELOAD_INTERVAL_SECONDS = 1.0

log = get_logger("runtime.keyring")


class KeyRingError(UserFacingError):
    """The key ring cannot be used; the message names the file, the field and the fix."""


@runtime_checkable
class KeyProvider(Protocol):
    """Where keys come from: the file ring here, or a KMS behind the same two calls.

    Key ids follow KEY_ID_PATTERN (1-64 letters, digits, '.', '_', '-'), as in the file:
    the codec refuses any other id in a payload before asking the provider, since that id
    is chosen by whoever can write to Temporal.
    """

    def current(self) -> tuple[str, bytes]:
        """The id and bytes of the key new payloads are encrypted with."""

    def get(self, key_id: str) -> bytes | None:
        """The key with this id, or None when this provider does not have it."""

    def describe(self) -> str:
        """Where the keys live, for messages ("the key ring /path/claims-keys.json")."""


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
        # Counted once, not `ids.count` per id: a ring of thousands of keys must not take
        # seconds to read, and every worker reads it again after each rotation.
        duplicates = sorted(i for i, n in Counter(ids).items() if n > 1)
        if duplicates:
            raise KeyRingError(f"{source}: key id {duplicates[0]!r} appears more than once")
        current = document.get("current")
        if not isinstance(current, str) or current not in ids:
            raise KeyRingError(
                f"{source}: current must be the id of one of its keys ({_some(ids)})"
            )
        return cls(current_id=current, keys=keys)


def _some(ids: list[str]) -> str:
    """The last few ids (the newest), so an error about a big ring stays one readable line."""
    if len(ids) <= MAX_IDS_LISTED:
        return ", ".join(ids)
    return f"{', '.join(ids[-MAX_IDS_LISTED:])} and {len(ids) - MAX_IDS_LISTED} older"


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
        self._broken: tuple[int, int, int] | None = None
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
            if stamp == self._stamp:
                return
            try:
                self._ring = read_ring_file(self.path)
            except KeyRingError as error:
                # The file changed into something unreadable: mid-copy (`cp backup ring`
                # truncates first), chmod'ed loose, or broken by hand. The ring read last
                # still holds every key it held, so encrypting and decrypting go on with it
                # rather than failing every claim; the file is tried again next time, and
                # a restart refuses it until it is fixed.
                if stamp != self._broken:
                    self._broken = stamp
                    log.warning(
                        "key ring changed but cannot be read; using the ring read before",
                        path=str(self.path),
                        error=str(error),
                    )
                return
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
    if not stat.S_ISREG(info.st_mode):
        # A directory, a pipe (reading it waits for a writer forever) or a device such as
        # /dev/zero (endless): none is a ring, and reading one must not hang a worker.
        raise KeyRingError(
            f"the key ring {path} is not a regular file; point CLAIMS_KEYS_FILE (or --keys) "
            "at the ring's JSON file"
        )
    mode = info.st_mode & 0o777
    if private and mode & 0o077:
        raise KeyRingError(
            f"the key ring {path} is readable by others (mode {mode:o}); run chmod 600 {path}"
        )
    if private and info.st_uid not in (os.geteuid(), 0):
        # Whoever owns the ring can rewrite it: a current key they chose would let them
        # read every claim written from then on. Only this user (or root) may own it.
        raise KeyRingError(
            f"the key ring {path} belongs to another user (uid {info.st_uid}); keep the ring "
            f"in a file of the user the workers run as: chown it, or restore it from backup"
        )
    too_big = KeyRingError(f"the key ring {path} is larger than 1 MiB; is it the right file?")
    if info.st_size > MAX_RING_FILE_BYTES:
        raise too_big
    try:
        # O_NONBLOCK: should the path become a pipe after the check above, opening it must
        # not wait; the read is bounded too, whatever the file grew to since stat().
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as source:
            if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                raise KeyRingError(f"the key ring {path} is not a regular file")
            raw = source.read(MAX_RING_FILE_BYTES + 1)
    except OSError as error:
        raise KeyRingError(f"the key ring {path} cannot be read ({error.strerror})") from None
    if len(raw) > MAX_RING_FILE_BYTES:
        raise too_big
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise KeyRingError(
            f"the key ring {path} is not UTF-8 text (byte {error.start}); restore it from "
            "your backup"
        ) from None
    return KeyRing.parse(text, str(path))


def ring_target(path: Path) -> Path:
    """The file a ring path names, its symlinks followed.

    A ring kept elsewhere (a backed-up volume) and linked from `.temporal/` must be
    rotated where it lives: replacing the link with a new file would leave the real ring,
    and every backup and process that reads it, without the new key.
    """
    return Path(os.path.realpath(path))


def write_ring_file(path: Path, ring: KeyRing) -> None:
    """Replace `path` (the file it links to, if a link) with `ring` in one step, readable by
    its owner only."""
    path = ring_target(path)
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
    path = ring_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = path.with_name(path.name + ".lock")
    try:
        # O_NOFOLLOW: a link planted at the lock's name must not make us create or open
        # a file elsewhere (the lock is opened for writing).
        descriptor = os.open(lock_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as error:
        raise KeyRingError(
            f"the key ring's lock {lock_path} cannot be opened ({error.strerror}); remove it "
            "if it is not a plain file, then try again"
        ) from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _refuse_dangling_link(path: Path) -> None:
    """A link to a ring that is not there (a volume not mounted, a backup not restored)
    must not get a new ring of fresh keys: what the old keys encrypted would stay unread."""
    if path.is_symlink() and not path.exists():
        raise KeyRingError(
            f"the key ring {path} links to {path.readlink()}, which does not exist; mount "
            "or restore the ring there, or point CLAIMS_KEYS_FILE at the ring itself"
        )


def ensure_ring_file(path: Path) -> bool:
    """Create a ring with one key at `path` if there is none; True when it was created."""
    _refuse_dangling_link(path)
    with ring_lock(path):
        if path.exists():
            read_ring_file(path)  # refuse a loose or broken ring now, not at first payload
            return False
        write_ring_file(path, KeyRing.fresh())
        return True


def rotate_ring_file(path: Path) -> tuple[RingKey, KeyRing]:
    """Add a new current key to the ring at `path` (creating the ring if there is none)."""
    _refuse_dangling_link(path)
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
