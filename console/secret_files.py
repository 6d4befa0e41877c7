"""Secret files in the data directory: one JSON object of named entries, owner-only.

The users file (argon2 hashes) and the API tokens file (token digests) are read and written
the same way: a missing file is an empty one, a file that cannot be read or parsed is
refused with a message naming it and saying what to do, and a save writes the whole file,
readable by its owner only, replacing the old one atomically (a crash mid-save leaves the
old file, never half of a new one). Each caller checks its own entries.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import UserFacingError


@dataclass(frozen=True)
class SecretFile:
    """How one kind of secret file is named in messages and laid out on disk."""

    # "users", "tokens": the file is called "<kind> file" in every message.
    kind: str
    # The top-level key whose object holds the entries, by name.
    key: str
    # What to do once a file that could not be read is fixed or removed.
    read_fix: str
    # Written where the data directory cannot be (created, or written to at all).
    write_fix: str
    # The error raised, so callers keep catching their own.
    error: type[UserFacingError]

    def load(self, path: Path) -> dict[str, Any]:
        """The file's entries by name, unchecked; none when the file does not exist yet."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise self.error(
                f"{self.kind} file {path} cannot be read ({error}); fix or remove it, "
                f"then {self.read_fix}"
            ) from None
        entries = raw.get(self.key) if isinstance(raw, dict) else None
        if not isinstance(entries, dict):
            raise self.error(
                f"{self.kind} file {path} has no '{self.key}' object; fix or remove it"
            )
        return entries

    def save(self, path: Path, entries: dict[str, Any]) -> None:
        """Write `{key: entries}` whole, mode 0600, replacing the old file atomically."""
        body = {self.key: entries}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-")
        except OSError as error:
            raise self.error(
                f"{self.kind} file {path} cannot be written ({error.strerror}); {self.write_fix}"
            ) from None
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                os.fchmod(out.fileno(), 0o600)
                json.dump(body, out, indent=2)
            Path(temporary).replace(path)
        except OSError as error:
            Path(temporary).unlink(missing_ok=True)
            raise self.error(
                f"{self.kind} file {path} cannot be written ({error.strerror})"
            ) from None
