"""Sign-in and sign-out pages (password mode); in header mode the proxy signs people in."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from console.app import console_of
from console.csrf import checked_form
from console.identity import end_session, start_session
from console.settings import AuthMode
from console.users import load_accounts, verify
from workflows.people import person_key

router = APIRouter()
MAX_NAME_LENGTH = 64


@router.get("/signin")
async def signin_page(request: Request) -> Response:
    console = console_of(request)
    if console.settings.auth is AuthMode.HEADER:
        return RedirectResponse("/inbox", status_code=303)
    return console.render(request, "signin.html", person=None, error="", name="")


@router.post("/signin")
async def signin(request: Request) -> Response:
    console = console_of(request)
    if console.settings.auth is AuthMode.HEADER:
        return RedirectResponse("/inbox", status_code=303)
    form = await checked_form(request)
    raw_name, password = form.get("name"), form.get("password")
    name = person_key(raw_name)[:MAX_NAME_LENGTH] if isinstance(raw_name, str) else ""
    person = console.policy.find(name) if name else None
    accounts = load_accounts(console.settings.users_file)
    # A password is checked whatever the name, so a name without an account costs the
    # same time as a wrong password: nobody learns who has one by timing sign-in.
    matches = isinstance(password, str) and verify(
        accounts,
        person.name if person else name or "-",
        password,
        loopback=console.settings.loopback,
    )
    if person is None or not matches:
        return console.render(
            request,
            "signin.html",
            status_code=401,
            person=None,
            error="That name and password do not match an account. Check both and try again.",
            name=name,
        )
    start_session(request, person, console.now())
    return RedirectResponse("/inbox", status_code=303)


@router.post("/signout")
async def signout(request: Request) -> Response:
    await checked_form(request)
    end_session(request, console_of(request).signed_out)
    return RedirectResponse("/signin", status_code=303)
