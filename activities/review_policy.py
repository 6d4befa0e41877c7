"""The review policy and approver directory, read from a TOML file by an activity.

Reading it in an activity puts the rules each claim was judged by into its history.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError
from temporalio import activity

from runtime.errors import UserFacingError
from workflows.authority import ReviewPolicy


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
    def __init__(self, path: Path) -> None:
        self._path = path
        self._loaded: tuple[tuple[int, int], ReviewPolicy] | None = None

    @activity.defn
    async def load_review_policy(self) -> ReviewPolicy:
        """The rules in force now; the claim keeps them for its whole review.

        The file is parsed again only when it changed (its modification time or size), so
        an edit applies to the next claim without a parse for every claim in between.
        """
        try:
            stat = self._path.stat()
        except OSError:
            return load_review_policy_file(self._path)  # raises, naming the file and why
        version = (stat.st_mtime_ns, stat.st_size)
        if self._loaded is None or self._loaded[0] != version:
            self._loaded = (version, load_review_policy_file(self._path))
        return self._loaded[1]
