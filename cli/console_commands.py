"""`claims console` (the reviewer console alone) and `claims users set-password NAME`.

The console's web stack loads only when these commands run, so other commands start fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import signal
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import typer
from rich.console import Console

from runtime.errors import UserFacingError
from runtime.settings import Settings
from runtime.text import printable

CommandWrapper = Callable[[Callable[..., Coroutine[Any, Any, None]]], Callable[..., None]]
users_app = typer.Typer(help="Console accounts: passwords of the directory's people.")
console = Console()


async def serve_console() -> None:
    """Run the reviewer console against TEMPORAL_ADDRESS until SIGINT or SIGTERM.

    Example: claims console
    """
    from console.server import build_console
    from runtime.client import build_client

    settings = Settings.from_env()
    client = await build_client()
    served = build_console(
        client,
        env=os.environ,
        data_dir=settings.data_dir,
        approvers_file=settings.approvers_file,
        with_demo_accounts=False,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    serving = asyncio.create_task(served.server.serve())
    console.print(f"Reviewer console: {served.settings.url} (Ctrl-C stops it)", highlight=False)
    console.print(
        f"Codec server for Temporal's web UI and CLI: {served.settings.url}/codec "
        f"(token in {printable(str(served.settings.codec_token_file))})",
        highlight=False,
        soft_wrap=True,
    )
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopping, serving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        served.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving


async def set_password(
    name: Annotated[str, typer.Argument(metavar="NAME", help="a person of the approver directory")],
) -> None:
    """Set a console password (argon2 hash into the users file, readable by its owner only).

    Example: claims users set-password maria
    """
    from activities.review_policy import load_review_policy_file
    from console.settings import ConsoleSettings
    from console.users import check_password_text
    from console.users import set_password as store

    settings = Settings.from_env()
    person = load_review_policy_file(settings.approvers_file).find(name)
    if person is None:
        raise UserFacingError(
            f"{printable(name)!r} is not in the approver directory "
            f"({settings.approvers_file}); add them there first"
        )
    password = getpass.getpass(f"New console password for {person.name}: ")
    check_password_text(password)
    if getpass.getpass("Again: ") != password:
        raise UserFacingError("the two passwords differ; nothing was changed")
    users_file = ConsoleSettings.from_env(os.environ, settings.data_dir).users_file
    store(users_file, person.name, password)
    console.print(f"Password set for {person.name} in {users_file}", highlight=False)


def register_console_commands(app: typer.Typer, command: CommandWrapper) -> None:
    """Add `console` and `users set-password` to the `claims` app."""
    app.command("console")(command(serve_console))
    users_app.command("set-password")(command(set_password))
    app.add_typer(users_app, name="users")
