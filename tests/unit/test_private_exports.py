"""Decrypted exports are private files, and console log lines never carry raw controls."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runtime.errors import UserFacingError
from runtime.logs import configure_logging, get_logger
from runtime.private_files import write_private_file


def test_an_export_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """A history with personal data in it is written mode 0600, in one step."""
    target = tmp_path / "CLM-1002.json"

    write_private_file(target, "{}", force=False)

    assert 0o600 == target.stat().st_mode & 0o777
    assert "{}" == target.read_text()
    assert [target] == list(tmp_path.iterdir())


def test_an_existing_file_is_never_replaced_unless_asked(tmp_path: Path) -> None:
    """Without --force an export refuses, naming the file; with it the file is replaced."""
    target = tmp_path / "CLM-1002.json"
    target.write_text("keep me")

    with pytest.raises(UserFacingError, match="already exists; choose another name or add --force"):
        write_private_file(target, "{}", force=False)
    assert "keep me" == target.read_text()
    write_private_file(target, "{}", force=True)
    assert "{}" == target.read_text()


def test_a_link_at_the_target_is_replaced_never_followed(tmp_path: Path) -> None:
    """A planted link to another file: refused, and with --force the link itself is replaced."""
    victim = tmp_path / "victim.txt"
    victim.write_text("theirs")
    link = tmp_path / "export.json"
    link.symlink_to(victim)

    with pytest.raises(UserFacingError, match="already exists"):
        write_private_file(link, "{}", force=False)
    write_private_file(link, "{}", force=True)

    assert "theirs" == victim.read_text()
    assert not link.is_symlink()


def test_a_folder_or_an_unwritable_place_is_a_plain_refusal(tmp_path: Path) -> None:
    """No traceback: a folder is named as one, a missing folder as a place that cannot be written."""
    with pytest.raises(UserFacingError, match="is a folder"):
        write_private_file(tmp_path, "{}", force=True)
    with pytest.raises(UserFacingError, match="cannot write in"):
        write_private_file(tmp_path / "missing" / "x.json", "{}", force=False)


def test_console_log_lines_show_control_characters_as_escapes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An ESC or a C1 control someone sent reaches the log as text, not as a terminal command."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("console", "INFO")
        get_logger("test").warning("refused", origin="http://x\x1b[2J\x9b31m")
        err = capsys.readouterr().err
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)

    assert ("\x1b" in err, "\x9b" in err) == (False, False)  # no colours: stderr is no tty
    assert "\\x1b[2J" in err
