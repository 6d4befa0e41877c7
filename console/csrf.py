"""Cross-site request forgery: every form carries the session's token, every POST is checked.

The token is random per session and compared in constant time; a POST without it or
with another is refused with 403 and a page that says what to do.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

FIELD = "csrf_token"


class CsrfRefused(Exception):  # noqa: N818 - reads as what happened to the request
    """The form's token is missing or is not this session's."""


def token(request: Request) -> str:
    """The session's token, created on first use."""
    value = request.session.get(FIELD)
    if not isinstance(value, str):
        value = secrets.token_urlsafe(32)
        request.session[FIELD] = value
    return value


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its token is this session's; CsrfRefused otherwise."""
    form = await request.form(max_files=0, max_fields=50)
    sent = form.get(FIELD)
    expected = request.session.get(FIELD)
    if (
        not isinstance(sent, str)
        or not isinstance(expected, str)
        or not secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRefused
    return form
