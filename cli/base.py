"""What every `claims` command shares: one console, printable echoes, one way to fail.

A command is an async function wrapped by `command`: any UserFacingError, or a refusal
from Temporal, becomes one clear line and exit code 1, never a traceback.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from temporalio.service import RPCError, RPCStatusCode

from cli.render import print_error
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


def run_command(coro: Coroutine[Any, Any, R]) -> R:
    """Run a command, turning every known failure into one clear line and exit code 1."""
    try:
        return asyncio.run(coro)
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(1) from None
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            print_error(console, f"{error.message}; check the claim id with `claims status`")
        else:
            print_error(console, f"Temporal refused the request: {error.message}")
        raise typer.Exit(1) from None


def cli_settings() -> Settings:
    try:
        settings = Settings.from_env()
    except UserFacingError as error:
        print_error(console, str(error))
        raise typer.Exit(2) from None
    configure_logging(settings.log_format, settings.log_level)
    return settings


def command(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        run_command(fn(*args, **kwargs))

    return wrapper
