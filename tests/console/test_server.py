"""The console as `claims run` and `claims console` start it, and the password command."""

from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from cli.base import command
from cli.console_commands import register_console_commands
from console.server import ConsoleServer, build_console
from console.users import UsersFileError
from runtime.ports import free_port
from runtime.settings import EXAMPLES_DIR


def _build(tmp_path: Path, with_demo: bool, **env: str) -> ConsoleServer:
    return build_console(
        None,  # type: ignore[arg-type]  # the sign-in page never reaches Temporal
        env={"CLAIMS_CONSOLE_PORT": str(free_port()), **env},
        data_dir=tmp_path,
        approvers_file=EXAMPLES_DIR / "approvers.toml",
        with_demo_accounts=with_demo,
    )


async def test_the_console_serves_in_this_loop_and_stops_when_told(tmp_path: Path) -> None:
    """uvicorn runs as a task of the caller's loop; the demo accounts are listed; it stops."""
    served = _build(tmp_path, True)
    assert {"maria": "maria-demo", "lee": "lee-demo", "sam": "sam-demo", "dana": "dana-demo"} == (
        served.demo_accounts
    )
    serving = asyncio.create_task(served.server.serve())
    while not served.server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=served.settings.url) as http:
        page = await http.get("/signin")
    served.server.should_exit = True
    await serving
    assert 200 == page.status_code
    assert "<h1>Sign in</h1>" in page.text
    assert "default-src 'self'" == page.headers["content-security-policy"].split(";")[0]


def test_a_public_console_refuses_to_make_demo_accounts(tmp_path: Path) -> None:
    """Bound beyond loopback, `claims run` does not create the published demo passwords."""
    with pytest.raises(UsersFileError, match="loopback"):
        _build(tmp_path, True, CLAIMS_CONSOLE_BIND="0.0.0.0")
    assert not (tmp_path / "console-users.json").exists()


def test_the_console_alone_needs_accounts(tmp_path: Path) -> None:
    """`claims console` makes no demo accounts, and says how to add one when there are none."""
    with pytest.raises(UsersFileError, match="set-password"):
        _build(tmp_path, False)


def test_set_password_hashes_into_an_owner_only_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`claims users set-password maria` stores an argon2 hash, 0600; unknown names are refused."""
    monkeypatch.setenv("CLAIMS_DATA_DIR", str(tmp_path))
    typed = iter(["a long secret", "a long secret"])
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(typed))
    app = typer.Typer()
    register_console_commands(app, command)
    result = CliRunner().invoke(app, ["users", "set-password", "Maria"])
    assert 0 == result.exit_code, result.output
    users = tmp_path / "console-users.json"
    entry = json.loads(users.read_text())["users"]["maria"]
    assert entry["hash"].startswith("$argon2")
    assert "a long secret" not in users.read_text()
    assert 0o600 == stat.S_IMODE(users.stat().st_mode)
    unknown = CliRunner().invoke(app, ["users", "set-password", "mallory"])
    assert 1 == unknown.exit_code
    assert "not in the approver directory" in unknown.output
