"""Sign-in, sessions, sign-out, CSRF and the trusted-header mode, through HTTP."""

from __future__ import annotations

import dataclasses
import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from console.settings import AuthMode, ConsoleSettings, ConsoleSettingsError
from console.users import (
    UsersFileError,
    ensure_demo_accounts,
    refuse_demo_accounts_off_loopback,
    set_password,
)
from tests.console.conftest import Clock, ConsoleClient, form_token, sign_in


async def test_a_demo_account_signs_in_and_is_known(console_client: ConsoleClient) -> None:
    """maria with the documented demo password gets a session that names her."""
    async with console_client() as http:
        response = await sign_in(http, "Maria", "maria-demo")
        assert 303 == response.status_code
        assert "/inbox" == response.headers["location"]
        assert {"name": "maria", "role": "claims_manager"} == (await http.get("/me.json")).json()


@pytest.mark.parametrize(
    ("name", "password"),
    [("maria", "wrong-password"), ("nobody", "maria-demo"), ("maria", "x" * 10_000), ("", "")],
)
async def test_a_wrong_password_or_unknown_name_is_refused(
    console_client: ConsoleClient, name: str, password: str
) -> None:
    """Wrong password, unknown name, oversized or empty input: 401, the same message, no session."""
    async with console_client() as http:
        response = await sign_in(http, name, password)
        assert 401 == response.status_code
        assert "do not match an account" in response.text
        assert 401 == (await http.get("/me.json")).status_code


async def test_a_session_ends_after_eight_hours(console_client: ConsoleClient) -> None:
    """The session holds until its lifetime runs out, then the person must sign in again."""
    clock = Clock()
    async with console_client(clock=clock) as http:
        await sign_in(http, "lee", "lee-demo")
        clock.at += timedelta(hours=7, minutes=59)
        assert 200 == (await http.get("/me.json")).status_code
        clock.at += timedelta(minutes=2)
        assert 401 == (await http.get("/me.json")).status_code
        inbox = await http.get("/inbox")
        assert 303 == inbox.status_code
        assert "/signin" == inbox.headers["location"]


async def test_sign_out_ends_the_session(console_client: ConsoleClient) -> None:
    """Signing out with the form's token clears the session."""
    async with console_client() as http:
        await sign_in(http, "dana", "dana-demo")
        token = form_token((await http.get("/signin")).text)
        response = await http.post("/signout", data={"csrf_token": token})
        assert 303 == response.status_code
        assert 401 == (await http.get("/me.json")).status_code


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
async def test_a_post_without_the_session_token_is_refused(
    console_client: ConsoleClient, token: str | None
) -> None:
    """Missing or wrong CSRF token: 403 with a page that says what to do; nothing happens."""
    async with console_client() as http:
        await sign_in(http, "maria", "maria-demo")
        data = {} if token is None else {"csrf_token": token}
        response = await http.post("/signout", data=data)
        assert 403 == response.status_code
        assert "security token" in response.text
        assert 200 == (await http.get("/me.json")).status_code
        signin = await http.post(
            "/signin", data={"name": "maria", "password": "maria-demo", **data}
        )
        assert 403 == signin.status_code


async def test_every_form_carries_the_token(console_client: ConsoleClient) -> None:
    """The sign-in page's form has the hidden token field."""
    async with console_client() as http:
        assert form_token((await http.get("/signin")).text)


async def test_the_proxy_header_names_a_person_by_name_or_email(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """In header mode the header's email or name maps to the directory; anything else is 403."""
    settings = dataclasses.replace(
        console_settings, auth=AuthMode.HEADER, auth_header="X-Forwarded-Email"
    )
    async with console_client(settings=settings) as http:
        cases = {
            "maria@example.com": 200,
            "SAM": 200,
            "mallory@example.com": 401,
            "maria\x1b[2J@example.com": 401,
            "a" * 1000: 401,
        }
        for value, status in cases.items():
            response = await http.get("/me.json", headers={"X-Forwarded-Email": value})
            assert status == response.status_code, value
        assert 401 == (await http.get("/me.json")).status_code
        no_person = await http.get("/inbox")
        assert 403 == no_person.status_code
        assert "did not name a person" in no_person.text
        password = await http.post("/signin", data={"name": "maria", "password": "maria-demo"})
        assert 303 == password.status_code
        assert 401 == (await http.get("/me.json")).status_code


@pytest.mark.parametrize(
    "value", ["header:", "header:X Forwarded", "basic", "header:X-Email\r\nSet-Cookie:"]
)
def test_an_unknown_auth_setting_is_refused(tmp_path: Path, value: str) -> None:
    """CLAIMS_CONSOLE_AUTH accepts `password` or `header:NAME` only, naming the variable."""
    with pytest.raises(ConsoleSettingsError, match="CLAIMS_CONSOLE_AUTH"):
        ConsoleSettings.from_env({"CLAIMS_CONSOLE_AUTH": value}, tmp_path)


def test_demo_accounts_are_made_on_loopback_only(tmp_path: Path) -> None:
    """No users file and a console bound elsewhere: refused; on loopback: made, owner-only."""
    users = tmp_path / "users.json"
    with pytest.raises(UsersFileError, match="loopback"):
        ensure_demo_accounts(users, ["maria"], loopback=False)
    assert not users.exists()
    assert ensure_demo_accounts(users, ["maria", "sam"], loopback=True)
    assert 0o600 == stat.S_IMODE(users.stat().st_mode)
    assert {"maria", "sam"} == set(json.loads(users.read_text())["users"])
    assert not ensure_demo_accounts(users, ["maria"], loopback=True)


def test_demo_passwords_keep_a_public_console_from_starting(tmp_path: Path) -> None:
    """Off loopback the demo accounts refuse the start until each has a password of its own."""
    users = tmp_path / "users.json"
    ensure_demo_accounts(users, ["maria", "sam"], loopback=True)
    with pytest.raises(UsersFileError, match="maria, sam"):
        refuse_demo_accounts_off_loopback(users, loopback=False)
    set_password(users, "maria", "a long secret")
    set_password(users, "sam", "another secret")
    refuse_demo_accounts_off_loopback(users, loopback=False)


async def test_a_demo_account_cannot_sign_in_off_loopback(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """Even with a demo file in place, a console bound elsewhere refuses demo passwords."""
    settings = dataclasses.replace(console_settings, bind="192.0.2.10")
    # Off loopback the session cookie is Secure: the console sits behind TLS.
    async with console_client(settings=settings, base_url="https://testserver") as http:
        assert 401 == (await sign_in(http, "maria", "maria-demo")).status_code


async def test_off_loopback_the_session_cookie_is_never_sent_in_clear(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A console bound to another address marks its session cookie Secure."""
    settings = dataclasses.replace(console_settings, bind="192.0.2.10")
    async with console_client(settings=settings, base_url="https://testserver") as http:
        page = await http.get("/signin")

    assert "secure" in page.headers["set-cookie"].lower()


async def test_a_cookie_copied_before_sign_out_is_worth_nothing_after(
    console_client: ConsoleClient,
) -> None:
    """Sign-out ends the session itself, not only the browser's copy of its cookie."""
    async with console_client() as http:
        await sign_in(http, "maria", "maria-demo")
        copied = dict(http.cookies)
        before = await http.get("/me.json")
        signin_page = await http.get("/signin")
        await http.post("/signout", data={"csrf_token": form_token(signin_page.text)})
        http.cookies.clear()
        http.cookies.update(copied)  # the same server, a copy of the old cookie
        after = await http.get("/me.json")

    assert "maria" in before.text
    assert "maria" not in after.text


async def test_an_unknown_name_costs_a_password_check_like_a_known_one(
    console_client: ConsoleClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sign-in runs the password hash for a name without an account too: no timing leak."""
    from console.users import verify as real

    calls: list[str] = []

    def counting(accounts: Any, name: str, password: str, *, loopback: bool) -> bool:
        calls.append(name)
        return real(accounts, name, password, loopback=loopback)

    monkeypatch.setattr("console.signin.verify", counting)
    async with console_client() as http:
        await sign_in(http, "nobody", "whatever")
        await sign_in(http, "maria", "wrong")

    assert 2 == len(calls)


def test_the_session_secret_is_owner_only(console_settings: ConsoleSettings) -> None:
    """The key that signs cookies is generated once into the data dir, mode 0600."""
    from console.app import load_or_create_secret

    first = load_or_create_secret(console_settings.secret_file)
    assert first == load_or_create_secret(console_settings.secret_file)
    assert 0o600 == stat.S_IMODE(console_settings.secret_file.stat().st_mode)
