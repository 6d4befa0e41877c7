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
from urllib.parse import urlsplit

from runtime.errors import UserFacingError
from runtime.settings import CONSOLE_PUBLIC_KEY_FILE, CONSOLE_SIGNING_KEY_FILE

DEFAULT_PORT = 8080
DEFAULT_BIND = "127.0.0.1"
DEFAULT_UI_PORT = 8233
CODEC_TOKEN_FILE = "codec-token"  # noqa: S105 - a file name, not the token
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
    # The codec server's token for clients that cannot send a session (the dev server's UI).
    codec_token_file: Path | None = None
    # Web UIs allowed to ask the codec server from a browser (exact origins).
    codec_origins: tuple[str, ...] = ()

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
            codec_token_file=data_dir / CODEC_TOKEN_FILE,
            codec_origins=codec_origins(env),
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


def _port(raw: str, variable: str = "CLAIMS_CONSOLE_PORT") -> int:
    try:
        port = int(raw)
    except ValueError:
        raise ConsoleSettingsError(
            f"{variable}={raw!r} is not a port number; use 1-65535"
        ) from None
    if not 0 < port < 65536:
        raise ConsoleSettingsError(f"{variable}={raw!r} is out of range; use 1-65535")
    return port


def codec_origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """CLAIMS_CODEC_ORIGINS, each checked and written as a browser writes its Origin header.

    By default the dev server's web UI, under both names a browser may use for this machine.
    """
    raw = env.get("CLAIMS_CODEC_ORIGINS", "").strip()
    if not raw:
        port = _port(env.get("CLAIMS_UI_PORT", str(DEFAULT_UI_PORT)), "CLAIMS_UI_PORT")
        return (f"http://localhost:{port}", f"http://127.0.0.1:{port}")
    return tuple(dict.fromkeys(_origin(item.strip()) for item in raw.split(",") if item.strip()))


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(value: str) -> str:
    """One origin, lower-cased and without its scheme's default port (as browsers send it)."""
    refused = ConsoleSettingsError(
        f"CLAIMS_CODEC_ORIGINS: {value!r} is not an origin; list the web UI's origins as "
        "scheme://host[:port], comma-separated, with no path (for example "
        "https://temporal.example.com,http://localhost:8233)"
    )
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise refused from None
    host = parts.hostname
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not host
        or parts.username is not None
        or parts.password is not None
        or parts.path
        or parts.query
        or parts.fragment
        or "*" in value
    ):
        raise refused
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        shown = f"{shown}:{port}"
    return f"{parts.scheme}://{shown}"


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
