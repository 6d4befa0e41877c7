"""API tokens: how a program (an insurer's portal) is let in to `/api/claims`.

A token is 32 random bytes, shown once as `cra_<urlsafe base64>` by `claims tokens new
NAME`; the data directory keeps only its SHA-256 digest, with its name, the day it was
made, its scopes and whether it is revoked, in a file only its owner reads.

Why a plain SHA-256 and not argon2 as for people's passwords: a slow hash protects guessable
secrets, and these are 256 random bits no one can guess from a digest, however fast it is.
A slow hash would only make each API request cost tens of milliseconds of CPU, and a burst
of a thousand requests a denial of service of its own. Digests are compared in constant
time, against every token in the file, so the time taken tells nothing of which came close.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from console.secret_files import SecretFile
from runtime.errors import UserFacingError
from runtime.text import printable

TOKENS_FILE = "api-tokens.json"
PREFIX = "cra_"
TOKEN_BYTES = 32
# A token as printed: the prefix and 43 characters of unpadded urlsafe base64.
_TOKEN_SHAPE = re.compile(r"cra_[A-Za-z0-9_-]{43}")
NAME_PATTERN = r"[a-z0-9][a-z0-9_.-]{0,63}"

CLAIMS_WRITE = "claims:write"
CLAIMS_READ = "claims:read"
# Lets a token read the claimant's name and email, the description, documents and comments.
CLAIMS_READ_PERSONAL = "claims:read-personal"
SCOPES = (CLAIMS_WRITE, CLAIMS_READ, CLAIMS_READ_PERSONAL)
DEFAULT_SCOPES = (CLAIMS_WRITE, CLAIMS_READ)


class TokensFileError(UserFacingError):
    """The tokens file cannot be read or written, or a command's input is refused."""


TOKENS = SecretFile(
    kind="tokens",
    key="tokens",
    read_fix="make tokens again with `claims tokens new NAME`",
    write_fix="check CLAIMS_DATA_DIR",
    error=TokensFileError,
)


@dataclass(frozen=True)
class ApiToken:
    """One token as stored: never the secret, only its digest."""

    name: str
    digest: str
    created: str
    scopes: tuple[str, ...]
    revoked: bool = False

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def tokens_file(data_dir: Path) -> Path:
    return data_dir / TOKENS_FILE


def digest_of(secret: str) -> str:
    """The SHA-256 of a token's text, as hex: what the file keeps (see the module's note)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    raw = base64.urlsafe_b64encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")
    return PREFIX + raw.rstrip("=")


def check_name(name: str) -> str:
    if not re.fullmatch(NAME_PATTERN, name):
        raise TokensFileError(
            f"'{printable(name)}' cannot name a token: use lower-case letters, digits and "
            "_ . - (up to 64 characters), for example portal"
        )
    return name


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown:
        raise TokensFileError(f"'{printable(unknown[0])}' is not a scope; use {', '.join(SCOPES)}")
    if not chosen:
        raise TokensFileError(f"a token needs at least one scope: {', '.join(SCOPES)}")
    return chosen


def load_tokens(path: Path) -> dict[str, ApiToken]:
    """The tokens in the file; none when it does not exist yet."""
    tokens = {}
    for name, entry in TOKENS.load(path).items():
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not isinstance(entry.get("scopes"), list)
        ):
            raise TokensFileError(
                f"tokens file {path}: the entry for {printable(str(name))!r} has no sha256 "
                "or scopes; revoke it and make a new token"
            )
        tokens[name] = ApiToken(
            name=name,
            digest=entry["sha256"],
            created=str(entry.get("created", "")),
            scopes=tuple(str(s) for s in entry["scopes"]),
            revoked=entry.get("revoked") is True,
        )
    return tokens


def save_tokens(path: Path, tokens: dict[str, ApiToken]) -> None:
    """Write the file whole, readable by its owner only, replacing the old one atomically."""
    TOKENS.save(
        path,
        {
            t.name: {
                "sha256": t.digest,
                "created": t.created,
                "scopes": list(t.scopes),
                "revoked": t.revoked,
            }
            for t in tokens.values()
        },
    )


def create_token(
    path: Path, name: str, scopes: Iterable[str] = DEFAULT_SCOPES, today: date | None = None
) -> str:
    """Store a new token under `name` and return its secret, the only time it exists in clear.

    A name in use is refused unless its token is revoked (then the new one replaces it).
    """
    check_name(name)
    chosen = check_scopes(scopes)
    tokens = load_tokens(path)
    if name in tokens and not tokens[name].revoked:
        raise TokensFileError(
            f"a token named {name} exists already; revoke it first (`claims tokens revoke "
            f"{name}`) or pick another name"
        )
    secret = new_secret()
    tokens[name] = ApiToken(
        name=name,
        digest=digest_of(secret),
        created=(today or date.today()).isoformat(),
        scopes=chosen,
    )
    save_tokens(path, tokens)
    return secret


def revoke_token(path: Path, name: str) -> ApiToken:
    """Mark `name`'s token revoked; it is refused from the next request on."""
    tokens = load_tokens(path)
    token = tokens.get(name)
    if token is None:
        known = ", ".join(sorted(tokens)) or "none yet"
        raise TokensFileError(
            f"there is no token named {printable(name)!r} (tokens: {known}); "
            "`claims tokens list` shows them"
        )
    tokens[name] = replace(token, revoked=True)
    save_tokens(path, tokens)
    return tokens[name]


class TokenStore:
    """The console's view of the tokens file, read again whenever the file changes.

    So `claims tokens revoke` takes effect at the next request, with no restart.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._tokens: tuple[ApiToken, ...] = ()

    def _current(self) -> tuple[ApiToken, ...]:
        try:
            info = self.path.stat()
            stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        except OSError:
            self._seen, self._tokens = None, ()
            return ()
        if stamp != self._seen:
            self._tokens = tuple(load_tokens(self.path).values())
            self._seen = stamp
        return self._tokens

    def authenticate(self, secret: str) -> ApiToken | None:
        """The token `secret` is, if it is one and not revoked; None otherwise.

        Every stored digest is compared, each in constant time, so how long this takes
        does not depend on which token (if any) it matches.
        """
        if not _TOKEN_SHAPE.fullmatch(secret):
            return None
        sent = digest_of(secret).encode("ascii")
        found = None
        for token in self._current():
            if secrets.compare_digest(sent, token.digest.encode("ascii", "replace")):
                found = token
        return found if found is not None and not found.revoked else None
