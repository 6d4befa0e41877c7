"""The console's own settings: where it listens, how people sign in, where its files live.

Read apart from the worker's settings, so the console needs no model or server settings
to start; the data directory is the caller's (the worker's `CLAIMS_DATA_DIR`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path

from runtime.errors import UserFacingError
from runtime.settings import CONSOLE_PUBLIC_KEY_FILE, CONSOLE_SIGNING_KEY_FILE

DEFAULT_PORT = 8080
DEFAULT_BIND = "127.0.0.1"
SESSION_LIFETIME = timedelta(hours=8)
# Header names are tokens: letters, digits and hyphens are all a proxy sends.
_HEADER_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


class ConsoleSettingsError(UserFacingError):
    """A console setting that cannot work; the message names the variable to change."""


class AuthMode(StrEnum):
    PASSWORD = "password"  # noqa: S105 - a mode name, not a secret; local accounts with argon2 hashes in the users file
    HEADER = "header"  # an authenticating proxy names the person in a header


@dataclass(frozen=True)
class ConsoleSettings:
    port: int
    bind: str
    auth: AuthMode
    auth_header: str
    users_file: Path
    secret_file: Path
    session_lifetime: timedelta = SESSION_LIFETIME
    # The console signs what people do; the worker trusts the public half (same directory).
    signing_key_file: Path | None = None
    public_key_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], data_dir: Path) -> ConsoleSettings:
        auth, header = _auth(env.get("CLAIMS_CONSOLE_AUTH", "password"))
        return cls(
            port=_port(env.get("CLAIMS_CONSOLE_PORT", str(DEFAULT_PORT))),
            bind=env.get("CLAIMS_CONSOLE_BIND", DEFAULT_BIND).strip() or DEFAULT_BIND,
            auth=auth,
            auth_header=header,
            users_file=Path(env.get("CLAIMS_CONSOLE_USERS_FILE", data_dir / "console-users.json")),
            secret_file=data_dir / "console-secret",
            signing_key_file=data_dir / CONSOLE_SIGNING_KEY_FILE,
            public_key_file=data_dir / CONSOLE_PUBLIC_KEY_FILE,
        )

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the console: demo accounts are allowed then."""
        if self.bind == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.bind).is_loopback
        except ValueError:
            return False

    @property
    def url(self) -> str:
        host = "localhost" if self.loopback else self.bind
        return f"http://{host}:{self.port}"


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ConsoleSettingsError(
            f"CLAIMS_CONSOLE_PORT={raw!r} is not a port number; use 1-65535"
        ) from None
    if not 0 < port < 65536:
        raise ConsoleSettingsError(f"CLAIMS_CONSOLE_PORT={raw!r} is out of range; use 1-65535")
    return port


def _auth(raw: str) -> tuple[AuthMode, str]:
    value = raw.strip()
    if value == "password":
        return AuthMode.PASSWORD, ""
    kind, _, header = value.partition(":")
    if kind == "header" and header and set(header) <= _HEADER_CHARS:
        return AuthMode.HEADER, header
    raise ConsoleSettingsError(
        f"CLAIMS_CONSOLE_AUTH={raw!r} is not known; use password, or header:NAME behind an "
        "authenticating proxy (for example header:X-Forwarded-Email)"
    )
