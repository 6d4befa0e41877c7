"""`claims keys new NAME` and signing an action with a personal key (`--key FILE`).

A personal key signs what its owner does at the terminal: the claim id, the action, every
field, the claim's current version, the time and a fresh nonce. The workflow checks it
against the public keys of the approver directory.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from cli.render import print_error
from runtime.errors import UserFacingError
from runtime.text import printable
from signals.messages import NAME_PATTERN, HumanAction
from signals.signing import (
    SignatureError,
    load_private_key,
    new_key_pair,
    new_nonce,
    public_key_id,
    public_text,
    sign_payload,
)
from workflows.people import person_key

keys_app = typer.Typer(
    help="Personal signing keys for people's actions, and the key ring that encrypts claims.",
    no_args_is_help=True,
)
console = Console()
DEFAULT_KEY_DIR = Path("~/.claims")


@keys_app.command("new")
def new_key(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="your name in the approver directory")
    ],
    directory: Annotated[
        Path,
        typer.Option(
            "--dir", metavar="FOLDER", help="where to write NAME.key (readable by you only)"
        ),
    ] = DEFAULT_KEY_DIR,
) -> None:
    """Make a key pair: NAME.key stays with you, the public key goes in the approvers file.

    Example: claims keys new maria
    """
    try:
        _write_key(name, directory)
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(1) from None


def _write_key(name: str, directory: Path) -> None:
    owner = person_key(name)
    if not re.fullmatch(NAME_PATTERN, owner):
        raise UserFacingError(
            f"'{printable(name)}' is not a directory name: use lower-case letters, digits and "
            "_ . @ - (up to 64), as in the approvers file"
        )
    folder = directory.expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise UserFacingError(
            f"cannot make {folder}: {error.strerror}; pick another --dir"
        ) from None
    path = folder / f"{owner}.key"
    pem, public = new_key_pair()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserFacingError(
            f"{path} already exists; keep it, or move it away to make a new key (then retire "
            "the old key in the approvers file)"
        ) from None
    except OSError as error:
        raise UserFacingError(
            f"cannot write {path}: {error.strerror}; pick another --dir"
        ) from None
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    key_id = public_key_id(public)
    console.print(f"wrote {escape(str(path))} (mode 0600); key id {key_id}", highlight=False)
    console.print("Add this to the approvers file (CLAIMS_APPROVERS_FILE):\n", highlight=False)
    print(f'[[keys]]\nkey_id = "{key_id}"\npublic_key = "{public}"\nowner = "{owner}"')


def signed_payload(
    payload: dict[str, Any],
    *,
    claim_id: str,
    action: HumanAction,
    key_file: Path,
    version: int,
) -> dict[str, Any]:
    """The payload signed with the key in `key_file`, for the claim at `version`."""
    try:
        key = load_private_key(key_file.expanduser())
        return sign_payload(
            {**payload, "expected_version": payload.get("expected_version") or version},
            claim_id=claim_id,
            action=str(action),
            key=key,
            key_id=public_key_id(public_text(key)),
            issued_at=datetime.now(UTC),
            nonce=new_nonce(),
        )
    except SignatureError as wrong:
        raise UserFacingError(str(wrong)) from None
