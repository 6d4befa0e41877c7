"""Where our files live, checked before use: each refusal says what, where and what to do.

A read-only data directory, a data directory whose path runs through a regular file, or a
read-only database would otherwise surface as a traceback from deep inside SQLite or the
Temporal server, long after the operator could have fixed it in a second.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.errors import UserFacingError

if TYPE_CHECKING:
    from runtime.settings import Settings


class DataPathError(UserFacingError):
    """A directory or database file we need cannot be created or written."""


def _file_in_the_way(path: Path) -> Path | None:
    """The first part of `path` that exists and is not a directory, if any."""
    for part in (*reversed(path.parents), path):
        if part.exists() and not part.is_dir():
            return part
    return None


def _reason(error: OSError) -> str:
    return (error.strerror or type(error).__name__).lower()


def _unusable_dir(path: Path, what: str, setting: str, error: OSError) -> DataPathError:
    in_the_way = _file_in_the_way(path)
    if in_the_way is not None:
        return DataPathError(
            f"the {what} directory {path} cannot be created: {in_the_way} is a file, "
            f"not a directory; move that file away or set {setting} to another place"
        )
    return DataPathError(
        f"the {what} directory {path} is not writable ({_reason(error)}); make it "
        f"writable for this user or set {setting} to a directory you can write"
    )


def ensure_writable_dir(path: Path, what: str, setting: str) -> Path:
    """Create `path` if needed and prove a file can be written in it; DataPathError if not.

    `what` names the directory for people ("data", "ledger"), `setting` the environment
    variable that moves it. The proof is a real file created and removed, because
    permission bits do not tell the whole story (read-only mounts, root, ACLs).
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        descriptor, probe = tempfile.mkstemp(dir=path, prefix=".write-check-")
        os.close(descriptor)
        Path(probe).unlink()
    except OSError as error:
        raise _unusable_dir(path, what, setting, error) from None
    return path


def ensure_writable_file(path: Path, what: str, setting: str) -> Path:
    """Make sure `path` can be a file we write: its directory is usable, it is no directory."""
    ensure_writable_dir(path.parent, what, setting)
    if path.is_dir():
        raise DataPathError(
            f"the {what} {path} is a directory, not a file; "
            f"set {setting} to a file path or move that directory away"
        )
    if path.exists() and not os.access(path, os.W_OK):
        raise DataPathError(
            f"the {what} {path} is read-only; make it writable for this user "
            f"or set {setting} to another file"
        )
    return path


def ensure_writable_sqlite(path: Path, what: str, setting: str) -> Path:
    """Like ensure_writable_file, and an existing database proves it takes a write.

    The write sets the schema counter SQLite keeps in the header to the value it has, so
    the database means what it meant; SQLite's own read-only refusal is the proof.
    """
    ensure_writable_file(path, what, setting)
    if path.exists():
        with sqlite_refusals(path, what, setting):
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            try:
                db.execute("BEGIN IMMEDIATE")
                (version,) = db.execute("PRAGMA user_version").fetchone()
                db.execute(f"PRAGMA user_version = {int(version)}")
                db.execute("COMMIT")
            finally:
                db.close()
    return path


def ensure_data_paths(settings: Settings, *, with_server: bool) -> None:
    """Every file the worker (and with `with_server`, the embedded server) will write.

    Checked before anything starts, so the operator reads one line naming the file and the
    setting that moves it, not a traceback from the first write minutes later.
    """
    paths = [
        (settings.records_db, "records database", "CLAIMS_RECORDS_DB"),
        (settings.ledger_db, "ledger database", "CLAIMS_LEDGER_DB"),
    ]
    for path, what, setting in paths:
        ensure_writable_sqlite(path, what, _setting(settings, path, setting))
    if with_server:
        # The Temporal server's own database: checked, never opened by us.
        db = settings.temporal_db
        ensure_writable_file(db, "Temporal database", _setting(settings, db, "CLAIMS_TEMPORAL_DB"))


def _setting(settings: Settings, path: Path, setting: str) -> str:
    """The variable to change: the data directory's, when the file lives there by default."""
    return f"CLAIMS_DATA_DIR (or {setting})" if path.parent == settings.data_dir else setting


@contextmanager
def sqlite_refusals(path: Path, what: str, setting: str) -> Iterator[None]:
    """Turn SQLite's and the OS's refusals to open or write `path` into a DataPathError.

    Anything else (a locked database, a constraint) passes through unchanged: those are
    not the operator's to fix by moving a file.
    """
    try:
        yield
    except sqlite3.OperationalError as error:
        message = str(error)
        if "readonly" in message or "read-only" in message:
            raise DataPathError(
                f"the {what} {path} is read-only ({message}); make the file and its "
                f"directory writable for this user, or set {setting} to another file"
            ) from None
        if "unable to open" in message or "disk I/O" in message:
            raise DataPathError(
                f"the {what} {path} cannot be opened ({message}); check that "
                f"{path.parent} is a directory this user can write, or set {setting}"
            ) from None
        raise
    except sqlite3.DatabaseError as error:
        if "not a database" in str(error):
            raise DataPathError(
                f"the {what} {path} is not a SQLite database ({error}); move it away "
                f"or set {setting} to another file"
            ) from None
        raise
    except (PermissionError, NotADirectoryError, FileExistsError, IsADirectoryError) as error:
        raise DataPathError(
            f"the {what} {path} cannot be used ({_reason(error)}); make it writable "
            f"for this user or set {setting} to another file"
        ) from None
