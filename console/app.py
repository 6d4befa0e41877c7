"""The console's application: settings, directory, Temporal client and pages in one object.

`create_app` is the one way to build it, for `claims run`, `claims console` and tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from temporalio.client import Client

from console import csrf
from console.identity import signed_in
from console.settings import ConsoleSettings
from console.signing_key import ConsoleKey, load_or_create_console_key
from workflows.authority import Approver, ReviewPolicy

HERE = Path(__file__).resolve().parent
SECRET_BYTES = 32


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Console:
    """What every page needs; one per application."""

    settings: ConsoleSettings
    policy: ReviewPolicy
    client: Client
    now: Callable[[], datetime]
    templates: jinja2.Environment
    # Signs each action a signed-in person takes; None only where no key file is set.
    signing_key: ConsoleKey | None = None
    # Ids of sessions signed out while this console runs (copies of their cookie too).
    signed_out: set[str] = field(default_factory=set)
    # What a client that cannot send a session shows the codec server; None: no such client.
    codec_token: str | None = None

    def person(self, request: Request) -> Approver | None:
        return signed_in(request, self.settings, self.policy, self.now, self.signed_out)

    def render(
        self, request: Request, template: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        """A page, with the signed-in person and the form token every page may need."""
        values.setdefault("person", self.person(request))
        values["csrf_token"] = csrf.token(request)
        values["csrf_field"] = csrf.FIELD
        values["header_auth"] = bool(self.settings.auth_header)
        body = self.templates.get_template(template).render(request=request, **values)
        return HTMLResponse(body, status_code=status_code)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def load_or_create_secret(path: Path) -> str:
    """The key that signs session cookies: made once, readable by its owner only."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_text(encoding="ascii").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(secret)
    return secret


def templates() -> jinja2.Environment:
    """Autoescaping on for every template: people's text is always printed as text."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["money"] = lambda value: f"{value:,.2f}"
    return env


def create_app(
    settings: ConsoleSettings,
    policy: ReviewPolicy,
    client: Client,
    now: Callable[[], datetime] = _now,
) -> FastAPI:
    from console import api, codec_server, pages, signin

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    signing_key = (
        load_or_create_console_key(settings.signing_key_file, settings.public_key_file)
        if settings.signing_key_file is not None and settings.public_key_file is not None
        else None
    )
    app.state.console = Console(settings, policy, client, now, templates(), signing_key)
    if settings.codec_token_file is not None:
        app.state.console.codec_token = codec_server.load_or_create_codec_token(
            settings.codec_token_file
        )
    app.add_middleware(
        SessionMiddleware,
        secret_key=load_or_create_secret(settings.secret_file),
        session_cookie="claims_console",
        max_age=int(settings.session_lifetime.total_seconds()),
        same_site="strict",
        # Off this machine the console must sit behind TLS: the cookie is never sent in clear.
        https_only=not settings.loopback,
    )
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(signin.router)
    app.include_router(pages.router)
    # JSON for Temporal's UI and CLI; no form, so no CSRF token (origins and auth guard it).
    app.include_router(codec_server.router)
    # JSON for programs, with API tokens: see console.api for why no CSRF token either.
    api.install(app, settings)

    @app.exception_handler(csrf.CsrfRefused)
    async def refused(request: Request, _error: Exception) -> Response:
        return console_of(request).render(request, "csrf.html", status_code=403)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/inbox", status_code=303)

    return app
