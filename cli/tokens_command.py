"""`claims tokens new|list|revoke`: the API tokens programs use to post claims over HTTP.

The token is printed once, by `new`, alone on stdout so a script can capture it; the data
directory keeps only its SHA-256 digest (see console.api_tokens). `list` shows names,
dates, scopes and whether a token is revoked, never a secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.render import print_error
from console.api_tokens import (
    DEFAULT_SCOPES,
    SCOPES,
    create_token,
    load_tokens,
    revoke_token,
    tokens_file,
)
from runtime.errors import UserFacingError
from runtime.settings import Settings
from runtime.text import printable

tokens_app = typer.Typer(
    help="API tokens for POST /api/claims and GET /api/claims/{id} on the console.",
    no_args_is_help=True,
)
console = Console()
err_console = Console(stderr=True)


def _path() -> Path:
    return tokens_file(Settings.from_env().data_dir)


def _fail(error: UserFacingError) -> typer.Exit:
    print_error(err_console, str(error))
    return typer.Exit(1)


@tokens_app.command("new")
def new_token(
    name: Annotated[str, typer.Argument(metavar="NAME", help="what uses it, for example portal")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="SCOPE",
            help=f"what it may do, repeatable: {', '.join(SCOPES)} "
            f"(default {' and '.join(DEFAULT_SCOPES)})",
        ),
    ] = None,
) -> None:
    """Make an API token and print it, once: keep it where the program reads it.

    Example: claims tokens new portal
    """
    try:
        path = _path()
        secret = create_token(path, name, scope or DEFAULT_SCOPES)
    except UserFacingError as error:
        raise _fail(error) from None
    err_console.print(
        f"token {escape(name)} stored in {escape(printable(str(path)))} (its digest only); "
        "it is printed once, below. Send it as Authorization: Bearer <token>.",
        highlight=False,
        soft_wrap=True,
    )
    print(secret)


@tokens_app.command("list")
def list_tokens() -> None:
    """List the API tokens: names, dates, scopes, revoked or not (never the tokens).

    Example: claims tokens list
    """
    try:
        path = _path()
        tokens = load_tokens(path)
    except UserFacingError as error:
        raise _fail(error) from None
    if not tokens:
        console.print("no API tokens yet; make one with `claims tokens new NAME`", highlight=False)
        return
    table = Table(title=f"API tokens {escape(printable(str(path)))}")
    table.add_column("name")
    table.add_column("created")
    table.add_column("scopes")
    table.add_column("")
    for token in sorted(tokens.values(), key=lambda t: t.name):
        table.add_row(
            escape(printable(token.name)),
            escape(printable(token.created)),
            escape(printable(" ".join(token.scopes))),
            "revoked" if token.revoked else "",
        )
    console.print(table)


@tokens_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the token's name")],
) -> None:
    """Revoke an API token: the console refuses it from the next request on.

    Example: claims tokens revoke portal
    """
    try:
        revoke_token(_path(), name)
    except UserFacingError as error:
        raise _fail(error) from None
    console.print(f"token {escape(printable(name))} revoked", highlight=False)
