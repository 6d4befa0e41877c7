"""What every `claims` command shares: one console, printable echoes, one way to fail,
and the one place that says which Temporal server a command talks to.

A command is an async function wrapped by `command`: any UserFacingError, or a refusal
from Temporal, becomes one clear line and exit code 1, never a traceback. Errors and the
connection line go to stderr, so a script reading `--json` from stdout gets JSON alone.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from temporalio.converter import DataConverter
from temporalio.service import RPCError, RPCStatusCode

from cli.render import print_error
from runtime.client import (
    ConnectionChoice,
    choose_connection,
    configured_data_converter,
    connection_target,
    ring_file_converter,
)
from runtime.errors import UserFacingError
from runtime.logs import configure_logging
from runtime.settings import Settings
from runtime.text import printable

console = Console()
err_console = Console(stderr=True)
R = TypeVar("R")


def said(text: object) -> str:
    """Input echoed inside our own markup: printable, and its brackets never markup."""
    return escape(printable(str(text)))


def use_server(address: str | None, namespace: str | None, announce: bool = True) -> None:
    """Connect every client of this command to `address`/`namespace` (None: the env config).

    With `announce`, the first connection is named once on stderr, so a forgotten
    TEMPORAL_ADDRESS shows before any answer from the wrong server is read.
    """
    announced = False

    def say_where(target: str, name: str) -> None:
        nonlocal announced
        if not announced:
            announced = True
            err_console.print(
                f"[dim]Temporal {said(target)}, namespace {said(name)}[/]", highlight=False
            )

    choose_connection(
        ConnectionChoice(
            target=address, namespace=namespace, on_connect=say_where if announce else None
        )
    )


def _where() -> str:
    address, namespace = connection_target()
    return f"Temporal at {address}, namespace {namespace}"


def rpc_error_message(error: RPCError) -> str:
    """A refusal from Temporal in plain words: one cause, one fix, no transport internals."""
    if error.status is RPCStatusCode.NOT_FOUND:
        return (
            f"not found on this server ({_where()}): {error.message}. "
            "List the claims with `claims status`."
        )
    if error.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return (
            f"lost the connection to {_where()}: it stopped answering. Check that it is "
            "running (`make run`), then try again."
        )
    return f"Temporal refused the request ({_where()}): {error.message}"


def run_command(coro: Coroutine[Any, Any, R]) -> R:
    """Run a command, turning every known failure into one clear line and exit code 1."""
    try:
        return asyncio.run(coro)
    except UserFacingError as error:
        print_error(err_console, str(error))
        raise typer.Exit(1) from None
    except RPCError as error:
        print_error(err_console, rpc_error_message(error))
        raise typer.Exit(1) from None


def cli_settings() -> Settings:
    try:
        settings = Settings.from_env()
    except UserFacingError as error:
        print_error(err_console, str(error))
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def command(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run_command(fn(*args, **kwargs))

    return wrapper


# Python type names as the values a person types.
_VALUE_WORDS = {"str": "TEXT", "int": "NUMBER", "float": "NUMBER", "Decimal": "AMOUNT"}


def plain_help() -> None:
    """Help that names values, not Python types: `--as NAME`, a flag alone, `CLAIM_ID`.

    typer's rich help prints `<bool>` after every flag, `<str>` after every value and
    `{claim_id}` in usage lines; a person reading help wants the word to type. Options
    with a metavar show it; flags show nothing; arguments show their name in capitals.
    """
    from typer.core import TyperArgument, TyperOption

    if getattr(TyperOption, "_plain_help", False):
        return
    type_of_option = TyperOption.display_type_rich

    def option_type(self: TyperOption, ctx: Any) -> str | None:
        if self.metavar is not None:
            return self.metavar or None
        if self.is_flag or self.count:
            return None
        shown = (type_of_option(self, ctx) or "").strip("<>")
        return _VALUE_WORDS.get(shown, shown.upper()) or None

    def argument_type(self: TyperArgument, ctx: Any) -> str | None:
        return None

    def argument_usage(self: TyperArgument) -> str:
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def argument_name(self: TyperArgument) -> str:
        return (self.metavar or self.name or "").upper()

    TyperOption.display_type_rich = option_type  # type: ignore[method-assign]
    TyperArgument.display_type_rich = argument_type  # type: ignore[method-assign,assignment]
    TyperArgument._usage_display_name = argument_usage  # type: ignore[method-assign]
    TyperArgument.display_name_raw = property(argument_name)  # type: ignore[assignment,method-assign]
    TyperOption._plain_help = True  # type: ignore[attr-defined]


KeysOption = Annotated[
    Path | None,
    typer.Option(
        "--keys",
        metavar="FILE",
        help="the key ring the history files were encrypted with (default: CLAIMS_KEYS_FILE); "
        "the replay corpus uses tests/test-keys.json",
    ),
]


def file_converter(keys: Path | None) -> DataConverter:
    """The converter that reads exported histories: the named ring, or the configured one."""
    return ring_file_converter(keys) if keys is not None else configured_data_converter()
