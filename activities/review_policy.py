"""The review policy and approver directory, read from a TOML file by an activity.

Reading it in an activity puts the rules each claim was judged by into its history.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError
from temporalio import activity

from runtime.errors import UserFacingError
from workflows.authority import CONSOLE_KEY_OWNER, ReviewPolicy, TrustedKey


class ReviewPolicyError(UserFacingError):
    """The approvers file is missing or wrong; the message names the file and the field."""


def load_review_policy_file(path: Path) -> ReviewPolicy:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReviewPolicyError(
            f"approvers file {path} does not exist; set CLAIMS_APPROVERS_FILE to a TOML file "
            "like examples/approvers.toml"
        ) from None
    except OSError as error:
        raise ReviewPolicyError(
            f"approvers file {path} cannot be read ({error.strerror}); check its permissions "
            "or point CLAIMS_APPROVERS_FILE elsewhere"
        ) from None
    except tomllib.TOMLDecodeError as error:
        raise ReviewPolicyError(f"approvers file {path} is not valid TOML: {error}") from None
    try:
        return ReviewPolicy.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(top)'}: {e['msg']}" for e in error.errors()
        )
        raise ReviewPolicyError(f"approvers file {path} is not valid: {problems}") from None


class ReviewPolicyActivities:
    def __init__(self, path: Path, console_public_key: Path | None = None) -> None:
        self._path = path
        self._console_key = console_public_key
        self._loaded: tuple[tuple[tuple[int, int], ...], ReviewPolicy] | None = None

    @activity.defn
    async def load_review_policy(self) -> ReviewPolicy:
        """The rules in force now; the claim keeps them for its whole review.

        The file is parsed again only when it changed (its modification time or size), so
        an edit applies to the next claim without a parse for every claim in between. The
        console's public key, when the console has made one, is trusted as "console".
        """
        try:
            stat = self._path.stat()
        except OSError:
            return load_review_policy_file(self._path)  # raises, naming the file and why
        version = ((stat.st_mtime_ns, stat.st_size), _file_version(self._console_key))
        if self._loaded is None or self._loaded[0] != version:
            policy = with_console_key(load_review_policy_file(self._path), self._console_key)
            self._loaded = (version, policy)
        return self._loaded[1]


def with_console_key(policy: ReviewPolicy, public_key_file: Path | None) -> ReviewPolicy:
    """The policy trusting the console's key too, if the console has one and it is new."""
    if public_key_file is None:
        return policy
    try:
        public = public_key_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return policy
    except (OSError, UnicodeDecodeError) as error:
        raise ReviewPolicyError(
            f"console public key {public_key_file} cannot be read ({error}); remove it and "
            "start the console again to make a new one"
        ) from None
    try:
        key = TrustedKey.of(public, owner=CONSOLE_KEY_OWNER)
    except ValidationError:
        raise ReviewPolicyError(
            f"console public key {public_key_file} is not an Ed25519 public key in base64; "
            "remove it and start the console again to make a new one"
        ) from None
    if any(k.key_id == key.key_id for k in policy.keys):
        return policy
    return policy.model_copy(update={"keys": [*policy.keys, key]})


def _file_version(path: Path | None) -> tuple[int, int]:
    try:
        stat = path.stat() if path is not None else None
    except OSError:
        stat = None
    return (stat.st_mtime_ns, stat.st_size) if stat is not None else (0, -1)
