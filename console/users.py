"""Local accounts: argon2 hashes of the directory's people in a file only its owner reads.

The demo's accounts have published passwords; each is marked `demo` in the file, and the
console refuses them (and refuses to start with them) unless it listens on loopback only.
`claims users set-password NAME` replaces a demo password and clears the mark.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from console.secret_files import SecretFile
from runtime.errors import UserFacingError

# The demo's people and passwords, as the README lists them.
DEMO_PASSWORDS = {
    "maria": "maria-demo",
    "lee": "lee-demo",
    "sam": "sam-demo",
    "dana": "dana-demo",
}
# Longer input is refused before hashing: argon2 over megabytes is a cheap way to burn CPU.
MAX_PASSWORD_LENGTH = 256
MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
# Verified when a name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class UsersFileError(UserFacingError):
    """The users file cannot be read or written; the message says which and what to do."""


USERS_FILE = SecretFile(
    kind="users",
    key="users",
    read_fix="set passwords with `claims users set-password NAME`",
    write_fix="check CLAIMS_CONSOLE_USERS_FILE and CLAIMS_DATA_DIR",
    error=UsersFileError,
)


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    demo: bool = False


def load_accounts(path: Path) -> dict[str, Account]:
    """The accounts in the users file; none when it does not exist yet."""
    accounts = {}
    for name, entry in USERS_FILE.load(path).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str):
            raise UsersFileError(f"users file {path}: the entry for {name!r} has no hash")
        accounts[name] = Account(name, entry["hash"], entry.get("demo") is True)
    return accounts


def save_accounts(path: Path, accounts: dict[str, Account]) -> None:
    """Write the file whole, readable by its owner only, replacing the old one atomically."""
    USERS_FILE.save(
        path, {a.name: {"hash": a.password_hash, "demo": a.demo} for a in accounts.values()}
    )


def check_password_text(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise UserFacingError(
            f"a password needs {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"
        )


def set_password(path: Path, name: str, password: str) -> None:
    """Hash `password` for `name` into the users file; the account is no demo account after."""
    check_password_text(password)
    accounts = load_accounts(path)
    accounts[name] = Account(name, _hasher.hash(password), demo=False)
    save_accounts(path, accounts)


def ensure_demo_accounts(path: Path, people: list[str], *, loopback: bool) -> bool:
    """Create the demo accounts when there is no users file yet; True if it did.

    Only for a console on loopback: published passwords must never guard a console
    others can reach.
    """
    if path.exists():
        return False
    if not loopback:
        raise UsersFileError(
            f"no users file at {path}, and the demo accounts are only created for a console "
            "on loopback; set passwords with `claims users set-password NAME`, or bind to "
            "127.0.0.1 (CLAIMS_CONSOLE_BIND)"
        )
    accounts = {
        name: Account(name, _hasher.hash(password), demo=True)
        for name, password in DEMO_PASSWORDS.items()
        if name in people
    }
    save_accounts(path, accounts)
    return True


def refuse_demo_accounts_off_loopback(path: Path, *, loopback: bool) -> None:
    """A console reachable from elsewhere must not start with published passwords."""
    if loopback:
        return
    demo = sorted(a.name for a in load_accounts(path).values() if a.demo)
    if demo:
        raise UsersFileError(
            f"the demo accounts {', '.join(demo)} have published passwords and the console "
            "does not bind to loopback; give each a password with `claims users set-password "
            "NAME`, or bind to 127.0.0.1 (CLAIMS_CONSOLE_BIND)"
        )


def verify(accounts: dict[str, Account], name: str, password: str, *, loopback: bool) -> bool:
    """Whether `password` is `name`'s; takes as long for an unknown name as for a wrong one."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    account = accounts.get(name)
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return account is not None and (loopback or not account.demo)
