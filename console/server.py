"""The console as a server in the caller's event loop, beside the worker.

`claims run` and `claims console` build it here: the directory and accounts are checked
before anything listens, and the process's own Ctrl-C handling stops it with the rest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from temporalio.client import Client

from activities.review_policy import load_review_policy_file
from console.app import create_app
from console.codec_server import ui_codec_endpoint
from console.settings import AuthMode, ConsoleSettings, ConsoleSettingsError
from console.users import (
    DEMO_PASSWORDS,
    UsersFileError,
    ensure_demo_accounts,
    load_accounts,
    refuse_demo_accounts_off_loopback,
)
from runtime.ports import port_in_use


class _QuietServer(uvicorn.Server):
    """Leaves SIGINT and SIGTERM to the process that runs it, which stops everything in order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass(frozen=True)
class ConsoleServer:
    server: uvicorn.Server
    settings: ConsoleSettings
    demo_accounts: dict[str, str]  # name -> password, when the demo's accounts are in use
    # The codec server's endpoint with its token, for a web UI that sends no credentials.
    codec_endpoint: str | None = None


def build_console(
    client: Client,
    *,
    env: Mapping[str, str],
    data_dir: Path,
    approvers_file: Path,
    with_demo_accounts: bool,
) -> ConsoleServer:
    """The console server, checked: a free port, a directory, and accounts people can use."""
    settings = ConsoleSettings.from_env(env, data_dir)
    policy = load_review_policy_file(approvers_file)
    demo: dict[str, str] = {}
    if settings.auth is AuthMode.PASSWORD:
        if with_demo_accounts:
            ensure_demo_accounts(
                settings.users_file, [a.name for a in policy.approvers], loopback=settings.loopback
            )
        refuse_demo_accounts_off_loopback(settings.users_file, loopback=settings.loopback)
        accounts = load_accounts(settings.users_file)
        if not accounts:
            raise UsersFileError(
                f"no console accounts in {settings.users_file}; give people passwords with "
                "`claims users set-password NAME`, or use CLAIMS_CONSOLE_AUTH=header:NAME"
            )
        demo = {
            a.name: DEMO_PASSWORDS[a.name]
            for a in accounts.values()
            if a.demo and a.name in DEMO_PASSWORDS
        }
    if port_in_use(settings.bind, settings.port):
        raise ConsoleSettingsError(
            f"port {settings.port} on {settings.bind} is taken; stop what uses it or set "
            "CLAIMS_CONSOLE_PORT to another port"
        )
    app = create_app(settings, policy, client)
    token = app.state.console.codec_token
    endpoint = ui_codec_endpoint(settings, token) if token else None
    config = uvicorn.Config(
        app,
        host=settings.bind,
        port=settings.port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        server_header=False,
    )
    return ConsoleServer(_QuietServer(config), settings, demo, endpoint)
