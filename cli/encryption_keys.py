"""`claims keys rotate` and `claims keys list`: the key ring that encrypts claims in Temporal.

Rotation adds a new key and makes it current; every older key stays in the ring, so what
it encrypted stays readable. Running workers and consoles read the ring again when they
meet a key they do not have, so a rotation needs no restart. Key material is never
printed: only ids, dates and which key is current.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.render import print_error
from runtime.errors import UserFacingError
from runtime.keyring import read_ring_file, rotate_ring_file
from runtime.settings import Settings
from runtime.text import printable

console = Console()


def rotate() -> None:
    """Add a new encryption key and make it current; older keys stay to read older data.

    The ring is CLAIMS_KEYS_FILE, by default .temporal/claims-keys.json.

    Example: claims keys rotate
    """
    try:
        settings = Settings.from_env()
        refuse_with_key_provider()
        added, ring = rotate_ring_file(settings.keys_file)
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(1) from None
    where = printable(str(settings.keys_file))
    console.print(
        f"new current key {added.key_id} in {where} ({_keys(len(ring.keys))}); payloads "
        "written from now on use it, older ones keep theirs. Back the ring up again.",
        highlight=False,
        markup=False,  # a path may hold brackets, which rich would read as markup
        soft_wrap=True,
    )


def list_keys() -> None:
    """List the encryption keys in the ring: ids, dates, which is current (never the keys).

    Example: claims keys list
    """
    try:
        settings = Settings.from_env()
        refuse_with_key_provider()
        ring = read_ring_file(settings.keys_file)
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(1) from None
    table = Table(title=f"Key ring {_cell(str(settings.keys_file))}")
    table.add_column("key id")
    table.add_column("created")
    table.add_column("")
    for key in ring.keys:
        current = "current" if key.key_id == ring.current_id else ""
        table.add_row(key.key_id, _cell(key.created), current)
    console.print(table)


def _cell(text: str) -> str:
    """Text from the ring file (its `created` is any string) or the environment, shown as it
    is: control characters escaped, brackets not read as rich markup."""
    return escape(printable(text))


def _keys(count: int) -> str:
    return "1 key" if count == 1 else f"{count} keys"


def refuse_with_key_provider() -> None:
    """With a KMS hook configured the file ring is not in use: say so rather than edit it."""
    hook = os.environ.get("CLAIMS_KEY_PROVIDER", "").strip()
    if hook:
        raise UserFacingError(
            f"keys come from CLAIMS_KEY_PROVIDER={printable(hook)}, not from a key ring file; "
            "rotate and list them in that key service"
        )


def register_encryption_key_commands(keys_app: typer.Typer) -> None:
    keys_app.command("rotate")(rotate)
    keys_app.command("list")(list_keys)
