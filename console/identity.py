"""Who is asking: the signed-in person of the session, or the person a trusted proxy names.

Either way the answer is a person of the approver directory, or nobody. A session holds
the name and when they signed in; it ends after the session lifetime whatever the
cookie says, and at sign-out.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Set
from datetime import datetime

from starlette.requests import Request

from console.settings import AuthMode, ConsoleSettings
from workflows.authority import Approver, ReviewPolicy
from workflows.people import control_characters, person_key

# A header longer than any address is a mistake or an attack; never looked up.
MAX_HEADER_LENGTH = 320


def person_named(policy: ReviewPolicy, value: str) -> Approver | None:
    """The directory's person a header names, by name or by email (its local part)."""
    if not value or len(value) > MAX_HEADER_LENGTH or control_characters(value):
        return None
    key = person_key(value)
    found = policy.find(key)
    if found is None and "@" in key:
        found = policy.find(key.rsplit("@", 1)[0])
    return found


def signed_in(
    request: Request,
    settings: ConsoleSettings,
    policy: ReviewPolicy,
    now: Callable[[], datetime],
    signed_out: Set[str] = frozenset(),
) -> Approver | None:
    """The person behind this request, or None (then they must sign in, or the proxy failed)."""
    if settings.auth is AuthMode.HEADER:
        return person_named(policy, request.headers.get(settings.auth_header, ""))
    session = request.session
    name, since = session.get("person"), session.get("signed_in_at")
    if not isinstance(name, str) or not isinstance(since, (int, float)):
        return None
    age = now().timestamp() - since
    if not 0 <= age <= settings.session_lifetime.total_seconds():
        session.clear()
        return None
    if session.get("id") in signed_out:
        # Signed out: a copy of the cookie taken before is worth nothing either.
        session.clear()
        return None
    return policy.find(name)


def start_session(request: Request, person: Approver, at: datetime) -> None:
    """A fresh session for `person`: nothing of the one before sign-in carries over."""
    request.session.clear()
    request.session["id"] = secrets.token_urlsafe(16)
    request.session["person"] = person.name
    request.session["signed_in_at"] = at.timestamp()


def end_session(request: Request, signed_out: set[str]) -> None:
    """Sign out: this session's id is refused from now on, whoever holds a copy."""
    session_id = request.session.get("id")
    if isinstance(session_id, str):
        signed_out.add(session_id)
    request.session.clear()
