"""The system of record the tools read: an embedded SQLite database.

On first use it is created and seeded from a records JSON file (`examples/records.json`
by default), so a fresh machine has policies, earlier claims, a fraud watch-list and
the documents each category of claim requires. After that the database is the source:
edit it, or point CLAIMS_RECORDS_DB at another one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from runtime.errors import UserFacingError
from workflows.evidence import PolicyRecord, PriorClaim


class RecordsError(UserFacingError):
    """The records database or its seed file is missing or malformed."""


class PriorClaimRecord(PriorClaim):
    claimant_id: str
    policy_number: str


class Records(BaseModel):
    """The seed file's shape."""

    policies: list[PolicyRecord] = Field(default_factory=list)
    prior_claims: list[PriorClaimRecord] = Field(default_factory=list)
    watchlist: list[str] = Field(default_factory=list)
    required_documents: dict[str, list[str]] = Field(default_factory=dict)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS policies (
    policy_number TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS prior_claims (
    claim_id TEXT PRIMARY KEY,
    claimant_id TEXT NOT NULL,
    policy_number TEXT NOT NULL,
    amount TEXT NOT NULL,
    incident_date TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS prior_claims_by_claimant ON prior_claims (claimant_id);
CREATE TABLE IF NOT EXISTS watchlist (
    identifier TEXT PRIMARY KEY COLLATE NOCASE
);
CREATE TABLE IF NOT EXISTS required_documents (
    category TEXT NOT NULL,
    kind TEXT NOT NULL,
    PRIMARY KEY (category, kind)
);
"""


def _load_seed(path: Path) -> Records:
    try:
        return Records.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise RecordsError(
            f"records seed file {path} does not exist; set CLAIMS_RECORDS_FILE to a records "
            "JSON like examples/records.json"
        ) from None
    except (ValidationError, json.JSONDecodeError) as error:
        raise RecordsError(f"records seed file {path} is not valid: {error}") from None


class SystemOfRecord:
    """Read-only queries over the records database; one short connection per query."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, path: Path, seed: Path) -> SystemOfRecord:
        """Open the database, creating and seeding it from `seed` if it is new or empty."""
        records = cls(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with records._connect() as db:
                db.executescript(_SCHEMA)
                empty = db.execute("SELECT COUNT(*) FROM policies").fetchone()[0] == 0
                if empty:
                    records._seed(db, _load_seed(seed))
        except sqlite3.DatabaseError as error:
            raise RecordsError(
                f"records database {path} cannot be opened ({error}); remove it to re-seed "
                "from CLAIMS_RECORDS_FILE, or point CLAIMS_RECORDS_DB elsewhere"
            ) from None
        return records

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
            yield db

    @staticmethod
    def _seed(db: sqlite3.Connection, seed: Records) -> None:
        db.executemany(
            "INSERT INTO policies VALUES (?, ?)",
            [(p.policy_number, p.model_dump_json()) for p in seed.policies],
        )
        db.executemany(
            "INSERT INTO prior_claims VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    c.claim_id,
                    c.claimant_id,
                    c.policy_number,
                    f"{c.amount:.2f}",
                    c.incident_date.isoformat(),
                    c.status,
                )
                for c in seed.prior_claims
            ],
        )
        db.executemany("INSERT INTO watchlist VALUES (?)", [(w,) for w in seed.watchlist])
        db.executemany(
            "INSERT INTO required_documents VALUES (?, ?)",
            [(cat, kind) for cat, kinds in seed.required_documents.items() for kind in kinds],
        )

    def policy(self, policy_number: str) -> PolicyRecord | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT record FROM policies WHERE policy_number = ?", (policy_number,)
            ).fetchone()
        return PolicyRecord.model_validate_json(row[0]) if row else None

    def claims_by(self, claimant_id: str) -> list[PriorClaim]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT claim_id, amount, incident_date, status FROM prior_claims "
                "WHERE claimant_id = ? ORDER BY incident_date",
                (claimant_id,),
            ).fetchall()
        return [
            PriorClaim(
                claim_id=claim_id,
                amount=Decimal(amount),
                incident_date=date.fromisoformat(incident),
                status=status,
            )
            for claim_id, amount, incident, status in rows
        ]

    def watchlist_matches(self, *identifiers: str) -> list[str]:
        with self._connect() as db:
            return [
                i
                for i in identifiers
                if db.execute("SELECT 1 FROM watchlist WHERE identifier = ?", (i,)).fetchone()
            ]

    def required_documents(self, category: str) -> list[str]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT kind FROM required_documents WHERE category = ? ORDER BY kind",
                (category,),
            ).fetchall()
        return [kind for (kind,) in rows]
