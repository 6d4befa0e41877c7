"""Files that hold personal data or secrets: written readable by their owner only, whole
or not at all, and never over an existing file (or through a link) unless asked to."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from runtime.errors import UserFacingError
from runtime.text import printable


def refuse_to_overwrite(file: Path, *, force: bool) -> None:
    """Refuse before any work is done: a folder, or an existing file or link without `force`."""
    shown = printable(str(file))
    if file.is_dir():
        raise UserFacingError(f"{shown} is a folder; name the file to write")
    if (file.exists() or file.is_symlink()) and not force:
        raise UserFacingError(f"{shown} already exists; choose another name or add --force")


def write_private_file(file: Path, text: str, *, force: bool) -> None:
    """`text` at `file`, mode 0600, in one step: a reader never sees half of it.

    The text is written beside its target, then linked to the name (which refuses an
    existing name atomically, so a file appearing meanwhile is not replaced) or, with
    `force`, renamed over it; a link at `file` is replaced, never followed.
    """
    refuse_to_overwrite(file, force=force)
    shown = printable(str(file))
    try:
        descriptor, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.")
    except OSError as error:
        raise UserFacingError(
            f"cannot write in {printable(str(file.parent))}: {error.strerror or error}; "
            "choose a folder you can write"
        ) from None
    written = Path(temporary)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        if force:
            written.replace(file)
        else:
            os.link(written, file, follow_symlinks=False)
    except FileExistsError:
        raise UserFacingError(
            f"{shown} already exists; choose another name or add --force"
        ) from None
    except OSError as error:
        raise UserFacingError(f"cannot write {shown}: {error.strerror or error}") from None
    finally:
        written.unlink(missing_ok=True)
