"""Unusable data directories and databases are refused up front, saying what, where and how.

Tests run as root, which ignores permission bits; read-only cases are made by the very
errors the OS and SQLite raise for them (PermissionError, EROFS, SQLite's read-only
refusal), injected where they would come from.
"""

from __future__ import annotations

import errno
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from activities.payments import Ledger
from cli.main import app
from runtime.datadir import (
    DataPathError,
    ensure_data_paths,
    ensure_writable_dir,
    ensure_writable_sqlite,
    sqlite_refusals,
)
from tests.helpers import settings_in


def blocked_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A regular file, and a directory path that runs through it."""
    blocker = tmp_path / "data"
    blocker.write_text("a file where a directory should be")
    return blocker, blocker / "claims"


def refuse_mkdir(monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    def mkdir(self: Path, *args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(Path, "mkdir", mkdir)


def read_only_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every SQLite connection opens read-only, as one on a read-only file would."""
    connect = sqlite3.connect

    def read_only(database: Path, **options: Any) -> Any:
        return connect(f"file:{database}?mode=ro", uri=True, **options)

    monkeypatch.setattr(sqlite3, "connect", read_only)


def test_a_directory_under_a_regular_file_names_the_file(tmp_path: Path) -> None:
    """A data directory that would run through a file is refused naming that file and the fix."""
    blocker, wanted = blocked_dir(tmp_path)

    with pytest.raises(DataPathError) as refused:
        ensure_writable_dir(wanted, "data", "CLAIMS_DATA_DIR")

    assert (
        f"the data directory {wanted} cannot be created: {blocker} is a file, not a "
        "directory; move that file away or set CLAIMS_DATA_DIR to another place"
    ) == str(refused.value)


def test_a_directory_that_is_a_file_names_it(tmp_path: Path) -> None:
    """A data directory path that is itself a file is refused as a file, not a directory."""
    blocker, _ = blocked_dir(tmp_path)

    with pytest.raises(DataPathError, match=f"{blocker} is a file, not a directory"):
        ensure_writable_dir(blocker, "data", "CLAIMS_DATA_DIR")


def test_a_directory_that_cannot_be_created_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A directory the OS will not create is refused as not writable, saying what to do."""
    refuse_mkdir(monkeypatch, PermissionError(errno.EACCES, "Permission denied"))

    with pytest.raises(DataPathError) as refused:
        ensure_writable_dir(tmp_path / "new", "data", "CLAIMS_DATA_DIR")

    assert (
        f"the data directory {tmp_path / 'new'} is not writable (permission denied); make it "
        "writable for this user or set CLAIMS_DATA_DIR to a directory you can write"
    ) == str(refused.value)


def test_a_directory_on_a_read_only_mount_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write probe finds what permission bits miss: a read-only file system."""

    def mkstemp(*args: Any, **kwargs: Any) -> tuple[int, str]:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    with pytest.raises(DataPathError, match=r"is not writable \(read-only file system\)"):
        ensure_writable_dir(tmp_path, "data", "CLAIMS_DATA_DIR")


def test_the_write_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    """Checking that a directory is writable creates it and leaves no probe file in it."""
    ensure_writable_dir(tmp_path / "a" / "b", "data", "CLAIMS_DATA_DIR")

    assert [] == list((tmp_path / "a" / "b").iterdir())


def test_a_read_only_database_is_refused_by_sqlites_own_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database SQLite will only open read-only is refused as read-only, naming its setting."""
    path = tmp_path / "records.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (x)")
    read_only_sqlite(monkeypatch)

    with pytest.raises(DataPathError) as refused:
        ensure_writable_sqlite(path, "records database", "CLAIMS_RECORDS_DB")

    assert f"the records database {path} is read-only" in str(refused.value)
    assert "CLAIMS_RECORDS_DB" in str(refused.value)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (sqlite3.OperationalError("attempt to write a readonly database"), "is read-only"),
        (sqlite3.OperationalError("unable to open database file"), "cannot be opened"),
        (sqlite3.DatabaseError("file is not a database"), "is not a SQLite database"),
        (PermissionError(errno.EACCES, "Permission denied"), "cannot be used"),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory"), "cannot be used"),
    ],
)
def test_sqlite_and_os_refusals_become_one_clear_line(
    tmp_path: Path, error: Exception, expected: str
) -> None:
    """Each way SQLite or the OS refuses a database becomes one line naming the file and setting."""
    path = tmp_path / "ledger.db"

    with pytest.raises(DataPathError) as refused, sqlite_refusals(path, "ledger", "CLAIMS_X"):
        raise error

    message = str(refused.value)
    assert expected in message
    assert str(path) in message
    assert "CLAIMS_X" in message


def test_other_sqlite_errors_pass_through(tmp_path: Path) -> None:
    """A locked database is not the operator's to fix by moving a file."""
    with (
        pytest.raises(sqlite3.OperationalError, match="locked"),
        sqlite_refusals(tmp_path / "x.db", "ledger", "CLAIMS_X"),
    ):
        raise sqlite3.OperationalError("database is locked")


def test_files_in_the_data_directory_name_its_setting(tmp_path: Path) -> None:
    """By default the databases live in the data directory: moving it is the fix to offer."""
    _, wanted = blocked_dir(tmp_path)
    settings = settings_in(tmp_path, CLAIMS_DATA_DIR=str(wanted))

    with pytest.raises(DataPathError, match=r"set CLAIMS_DATA_DIR \(or CLAIMS_RECORDS_DB\)"):
        ensure_data_paths(settings, with_server=False)


def test_a_ledger_elsewhere_names_its_own_setting(tmp_path: Path) -> None:
    """A ledger outside the data directory names CLAIMS_LEDGER_DB as the fix, not the directory."""
    _, wanted = blocked_dir(tmp_path)
    settings = settings_in(tmp_path / "ok", CLAIMS_LEDGER_DB=str(wanted / "ledger.db"))

    with pytest.raises(DataPathError) as refused:
        ensure_data_paths(settings, with_server=False)

    assert "ledger database directory" in str(refused.value)
    assert str(refused.value).endswith("set CLAIMS_LEDGER_DB to another place")


def test_the_server_database_is_checked_only_with_the_server(tmp_path: Path) -> None:
    """An unusable Temporal database path stops only the commands that start the dev server."""
    _, wanted = blocked_dir(tmp_path)
    settings = settings_in(tmp_path / "ok", CLAIMS_TEMPORAL_DB=str(wanted / "claims.db"))

    ensure_data_paths(settings, with_server=False)
    with pytest.raises(DataPathError, match="Temporal database directory"):
        ensure_data_paths(settings, with_server=True)


def claims(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, list(args), env={"TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "400", **env}
    )
    # Lines joined: another test may have fixed the console's width, and rich wraps.
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize("command", ["worker", "run"])
def test_commands_refuse_a_data_directory_under_a_file(tmp_path: Path, command: str) -> None:
    """`claims worker` and `claims run` say what and where before starting anything."""
    blocker, wanted = blocked_dir(tmp_path)

    code, output = claims(command, CLAIMS_DATA_DIR=str(wanted))

    assert 1 == code
    assert f"{blocker} is a file, not a directory" in output
    assert "Traceback" not in output
    assert "cannot reach Temporal" not in output


def test_claims_worker_refuses_a_read_only_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`claims worker` stops on a data directory it cannot write: one line, no traceback."""
    refuse_mkdir(monkeypatch, PermissionError(errno.EACCES, "Permission denied"))

    code, output = claims("worker", CLAIMS_DATA_DIR=str(tmp_path / "data"))

    assert 1 == code
    assert "is not writable (permission denied)" in output
    assert "Traceback" not in output


def test_claims_worker_refuses_a_read_only_ledger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`claims worker` stops on a read-only ledger database, naming it, with no traceback."""
    Ledger(tmp_path / "ledger.db")
    read_only_sqlite(monkeypatch)

    code, output = claims("worker", CLAIMS_DATA_DIR=str(tmp_path))

    assert 1 == code
    assert f"the ledger database {tmp_path / 'ledger.db'} is read-only" in output
    assert "Traceback" not in output
