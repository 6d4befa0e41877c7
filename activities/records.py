"""The system of record the tools read: an embedded SQLite database.

On first use it is created and seeded from a records JSON file (`examples/records.json`
by default), so a fresh machine has policies, earlier claims, a fraud watch-list and
the documents each category of claim requires. After that the database is the source:
edit it, or point CLAIMS_RECORDS_DB at another one.

It also keeps the registry of the claims this system has reviewed (`reviewed_claims`),
so a later claim's history search sees them as it sees the seeded earlier claims. The
registry is the one thing written here; the worker therefore needs the database
writable, and says so at start if it is not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from runtime.errors import UserFacingError
from workflows.evidence import PolicyRecord, PriorClaim, ReviewedClaim, identity_key


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
CREATE TABLE IF NOT EXISTS reviewed_claims (
    claim_id TEXT PRIMARY KEY,
    claimant_id TEXT NOT NULL,
    policy_number TEXT NOT NULL,
    amount TEXT NOT NULL,
    incident_date TEXT NOT NULL,
    description_digest TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reviewed_claims_by_claimant ON reviewed_claims (claimant_id);
"""
# Written on every open: it marks the schema the database has been migrated to, and
# writing it proves the database is writable before the first claim needs it to be.
SCHEMA_VERSION = 2

# A claim registered again (an activity retry, a failed review started anew) keeps its
# status and takes the claim's facts as last submitted.
_REGISTER = """
INSERT INTO reviewed_claims VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (claim_id) DO UPDATE SET
    claimant_id = excluded.claimant_id,
    policy_number = excluded.policy_number,
    amount = excluded.amount,
    incident_date = excluded.incident_date,
    description_digest = excluded.description_digest
"""


@dataclass(frozen=True)
class ClaimOnFile:
    """An earlier claim as the history search compares it: identities as well as facts."""

    claim: PriorClaim
    claimant_id: str
    policy_number: str
    # Only claims reviewed here have one; the seeded records carry no description.
    description_digest: str | None
    # True for the seeded records, False for claims this system has reviewed.
    on_record: bool


def _load_seed(path: Path) -> Records:
    try:
        return Records.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise RecordsError(
            f"records seed file {path} does not exist; set CLAIMS_RECORDS_FILE to a records "
            "JSON like examples/records.json"
        ) from None
    except OSError as error:
        raise RecordsError(
            f"records seed file {path} cannot be read ({error.strerror or error}); set "
            "CLAIMS_RECORDS_FILE to a readable records JSON like examples/records.json"
        ) from None
    except (ValidationError, json.JSONDecodeError) as error:
        raise RecordsError(f"records seed file {path} is not valid: {error}") from None


def _sql_identity_key(value: object) -> str | None:
    """identity_key for SQL: a hand-edited row may hold a number or NULL, not text."""
    return None if value is None else identity_key(str(value))


def _database_error(path: Path, error: Exception) -> RecordsError:
    """What went wrong with the records database at `path`, and what to do about it."""
    detail = (error.strerror if isinstance(error, OSError) else None) or str(error)
    lowered = detail.lower()
    if isinstance(error, PermissionError) or "readonly" in lowered or "read-only" in lowered:
        advice = (
            "it is read-only, and the worker records the claims it reviews there: make the "
            "file and its folder writable, or point CLAIMS_RECORDS_DB at a writable place"
        )
    elif "locked" in lowered or "busy" in lowered:
        advice = "another process holds it locked; try again once that process is done"
    elif isinstance(error, OSError) or "unable to open" in lowered:
        advice = (
            "check that its folder exists and is writable and that the path names a file, "
            "not a folder, or point CLAIMS_RECORDS_DB elsewhere"
        )
    else:
        advice = (
            "it is damaged or not a records database: restore it from a backup, or move it "
            "aside to re-seed from CLAIMS_RECORDS_FILE (the claims reviewed so far are then "
            "no longer checked for duplicates), or point CLAIMS_RECORDS_DB elsewhere"
        )
    return RecordsError(f"records database {path} cannot be used ({detail}): {advice}")


class SystemOfRecord:
    """Queries over the records database, and the registry of reviewed claims.

    One short connection per query. Every failure of the database is a RecordsError
    that names the file and what to do.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, path: Path, seed: Path) -> SystemOfRecord:
        """Open the database, migrating it to the current schema and seeding it from
        `seed` if it is new or empty; refuse one the worker cannot write."""
        records = cls(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            blocker = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
            why = f"{blocker} is a file" if blocker else error.strerror or str(error)
            raise RecordsError(
                f"cannot create the folder {path.parent} for the records database {path} "
                f"({why}): set CLAIMS_DATA_DIR or CLAIMS_RECORDS_DB to a place in a writable "
                "folder"
            ) from None
        with records._connect() as db:
            # Each statement is its own transaction and a no-op once applied, so workers
            # starting together migrate an older database safely.
            db.executescript(_SCHEMA)
            # One writer at a time from here: two workers never both seed.
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT COUNT(*) FROM policies").fetchone()[0] == 0:
                records._seed(db, _load_seed(seed))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        return records

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(sqlite3.connect(self.path, timeout=30)) as db, db:
                db.create_function("identity_key", 1, _sql_identity_key, deterministic=True)
                yield db
        except (sqlite3.Error, OSError) as error:
            raise _database_error(self.path, error) from None

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

    def register_reviewed_claim(self, claim: ReviewedClaim) -> None:
        """Add a claim to the registry of reviewed claims; registering it again is harmless."""
        with self._connect() as db:
            db.execute(
                _REGISTER,
                (
                    claim.claim_id,
                    claim.claimant_id,
                    claim.policy_number,
                    f"{claim.amount:.2f}",
                    claim.incident_date.isoformat(),
                    claim.description_digest,
                    claim.status,
                ),
            )

    def claims_on_file(self, claimant_id: str, claim_id: str = "") -> list[ClaimOnFile]:
        """Every earlier claim of the claimant (compared by identity key): the seeded
        records and the claims reviewed here other than `claim_id`, plus any seeded record
        that carries `claim_id` itself, which is never this review's to hide.
        """
        key = identity_key(claimant_id)
        with self._connect() as db:
            # identity_key() in SQL scans the seeded table; it is the insurer's small
            # reference data. The registry, which grows, stores keys and uses its index.
            on_record = db.execute(
                "SELECT claim_id, claimant_id, policy_number, amount, incident_date, status, "
                "NULL FROM prior_claims WHERE identity_key(claimant_id) = ? OR claim_id = ?",
                (key, claim_id),
            ).fetchall()
            reviewed = db.execute(
                "SELECT claim_id, claimant_id, policy_number, amount, incident_date, status, "
                "description_digest FROM reviewed_claims WHERE claimant_id = ? AND claim_id != ?",
                (key, claim_id),
            ).fetchall()
        return [
            ClaimOnFile(
                claim=PriorClaim(
                    claim_id=row_claim_id,
                    amount=Decimal(amount),
                    incident_date=date.fromisoformat(incident),
                    status=status,
                ),
                claimant_id=identity_key(str(claimant)),
                policy_number=identity_key(str(policy)),
                description_digest=digest,
                on_record=seeded,
            )
            for rows, seeded in ((on_record, True), (reviewed, False))
            for row_claim_id, claimant, policy, amount, incident, status, digest in rows
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

    def add_records(self, records: Records) -> int:
        """Add policies, earlier claims, watch-list entries and required documents that are
        not there yet, in one transaction; what exists already is left as it is.

        An evaluation dataset brings the records its cases were decided against: loading
        it twice, or into a database that already holds some of them, changes nothing
        that is there. Returns how many rows were added.
        """
        with self._connect() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO policies VALUES (?, ?)",
                [(p.policy_number, p.model_dump_json()) for p in records.policies],
            )
            db.executemany(
                "INSERT OR IGNORE INTO prior_claims VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        c.claim_id,
                        c.claimant_id,
                        c.policy_number,
                        f"{c.amount:.2f}",
                        c.incident_date.isoformat(),
                        c.status,
                    )
                    for c in records.prior_claims
                ],
            )
            db.executemany(
                "INSERT OR IGNORE INTO watchlist VALUES (?)", [(w,) for w in records.watchlist]
            )
            db.executemany(
                "INSERT OR IGNORE INTO required_documents VALUES (?, ?)",
                [
                    (category, kind)
                    for category, kinds in records.required_documents.items()
                    for kind in kinds
                ],
            )
            return db.total_changes - before
