"""The system of record the tools read: policies, earlier claims and the fraud watch-list."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from runtime.errors import UserFacingError
from workflows.evidence import PolicyRecord, PriorClaim


class RecordsError(UserFacingError):
    """The records file is missing or malformed; the message names the file and the problem."""


class PriorClaimRecord(PriorClaim):
    claimant_id: str
    policy_number: str

    def as_prior_claim(self) -> PriorClaim:
        return PriorClaim.model_validate(self.model_dump(include=set(PriorClaim.model_fields)))


class Records(BaseModel):
    policies: list[PolicyRecord] = Field(default_factory=list)
    prior_claims: list[PriorClaimRecord] = Field(default_factory=list)
    watchlist: list[str] = Field(default_factory=list)


class SystemOfRecord:
    """Read-only access to the records, loaded once per worker."""

    def __init__(self, records: Records) -> None:
        self._policies = {p.policy_number: p for p in records.policies}
        self._prior_claims = records.prior_claims
        self._watchlist = {entry.casefold() for entry in records.watchlist}

    @classmethod
    def from_file(cls, path: Path) -> SystemOfRecord:
        try:
            return cls(Records.model_validate_json(path.read_bytes()))
        except FileNotFoundError:
            raise RecordsError(
                f"records file {path} does not exist; set CLAIMS_RECORDS_FILE to a records JSON"
            ) from None
        except (ValidationError, json.JSONDecodeError) as error:
            raise RecordsError(f"records file {path} is not valid: {error}") from None

    def policy(self, policy_number: str) -> PolicyRecord | None:
        return self._policies.get(policy_number)

    def claims_by(self, claimant_id: str) -> list[PriorClaimRecord]:
        return [c for c in self._prior_claims if c.claimant_id == claimant_id]

    def watchlist_matches(self, *identifiers: str) -> list[str]:
        return [i for i in identifiers if i.casefold() in self._watchlist]


def within_days(a: date, b: date, days: int) -> bool:
    return abs((a - b).days) <= days
