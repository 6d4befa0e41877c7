"""`claims new-claim FILE`: a valid claim to edit, so nobody has to guess the format.

The claim written is one the starter accepts as it is: a fresh claim id, today's date,
a policy from the system of record (CLAIMS_RECORDS_FILE) with its holder as claimant, and
one document of each kind the category requires. Every text a person should change says
so. JSON has no comments, so the fields are explained where the file is written and in
the command's help. An existing file is never replaced.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.base import console, said
from cli.render import print_error
from runtime.settings import EXAMPLES_DIR

# What each field means, for the help and for the lines printed after writing a claim.
FIELD_GUIDE: tuple[tuple[str, str], ...] = (
    ("claim_id", "unique; letters, digits, . _ - (the workflow is claim-<id>)"),
    ("policy_number", "a policy in the system of record (examples/records.json)"),
    ("claimant", "id (the policy holder's), name and email"),
    ("amount", "a JSON number over 0, at most 2 decimals; never text"),
    ("currency", "an ISO 4217 code such as USD or EUR"),
    ("incident_date", "YYYY-MM-DD"),
    ("category", "property, auto, travel, health, liability or expense"),
    ("description", "what happened, in plain words (up to 10,000 characters)"),
    ("documents", "doc_id, kind and uri of each (a reference, not the file)"),
    ("submitted_by", "who entered the claim; they can never approve it"),
)
PLACEHOLDER_DESCRIPTION = "Describe what happened, when and where (replace this text)."
PLACEHOLDER_AMOUNT = 100.00
SUBMITTED_BY = "agent-portal"


class TemplateError(ValueError):
    """The system of record cannot give a policy to fill in; the message says what to do."""


def fresh_claim_id(today: date) -> str:
    """A claim id no sample uses and two people will not both get: date and a random tag."""
    return f"CLM-{today:%Y%m%d}-{secrets.token_hex(2).upper()}"


def _valid_on(policy: dict[str, Any], day: date) -> bool:
    try:
        start, end = (date.fromisoformat(policy[k]) for k in ("valid_from", "valid_to"))
    except (KeyError, TypeError, ValueError):
        return False
    return start <= day <= end


def choose_policy(
    records: dict[str, Any], today: date, policy_number: str | None = None
) -> dict[str, Any]:
    """The policy asked for, or the first active one in force today (any active one else)."""
    policies = [p for p in records.get("policies", []) if isinstance(p, dict)]
    if policy_number is not None:
        for policy in policies:
            if policy.get("policy_number") == policy_number:
                return policy
        known = ", ".join(str(p.get("policy_number")) for p in policies) or "none"
        raise TemplateError(
            f"policy {policy_number} is not in the system of record (known: {known}); "
            "name one of those with --policy"
        )
    active = [p for p in policies if p.get("status") == "active"]
    in_force = [p for p in active if _valid_on(p, today)]
    if not (in_force or active):
        raise TemplateError(
            "the system of record has no active policy to fill in; add one to "
            "CLAIMS_RECORDS_FILE or name a policy with --policy"
        )
    return (in_force or active)[0]


def claim_template(
    records: dict[str, Any], today: date, claim_id: str, policy_number: str | None = None
) -> dict[str, Any]:
    """A claim as JSON data, valid as it stands, with the texts to replace saying so."""
    policy = choose_policy(records, today, policy_number)
    categories = policy.get("covered_categories") or ["expense"]
    category = str(categories[0])
    kinds = records.get("required_documents", {}).get(category) or ["receipt"]
    return {
        "claim_id": claim_id,
        "policy_number": policy["policy_number"],
        "claimant": {
            "id": policy.get("holder_id") or "CUS-0000",
            "name": "Alex Example",
            "email": "alex@example.com",
        },
        "amount": PLACEHOLDER_AMOUNT,
        "currency": policy.get("currency") or "USD",
        "incident_date": today.isoformat(),
        "category": category,
        "description": PLACEHOLDER_DESCRIPTION,
        "documents": [
            {"doc_id": f"D-{n}", "kind": kind, "uri": f"s3://claims-docs/{claim_id}/{kind}.pdf"}
            for n, kind in enumerate(kinds, start=1)
        ],
        "submitted_by": SUBMITTED_BY,
    }


def write_new_claim(path: Path, claim: dict[str, Any]) -> None:
    """Write the claim to a new file; FileExistsError if anything is there already."""
    with path.open("x", encoding="utf-8") as out:
        out.write(json.dumps(claim, indent=2, ensure_ascii=False) + "\n")


def _records_file() -> Path:
    return Path(os.environ.get("CLAIMS_RECORDS_FILE") or EXAMPLES_DIR / "records.json")


def _load_records(path: Path) -> dict[str, Any]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TemplateError(
            f"cannot read the system of record {path} ({error}); set CLAIMS_RECORDS_FILE "
            "to a readable records JSON file, or unset it to use examples/records.json"
        ) from None
    if not isinstance(records, dict):
        raise TemplateError(f"{path} is not a records file (a JSON object with policies)")
    return records


def _fields_help() -> str:
    """One paragraph: the help stays short, the full guide is printed with the file."""
    return "Fields: " + "; ".join(f"{name} ({meaning})" for name, meaning in FIELD_GUIDE) + "."


def new_claim(
    file: Annotated[Path, typer.Argument(help="where to write the claim; must not exist yet")],
    policy: Annotated[
        str | None,
        typer.Option(help="the policy to claim on, such as POL-HOME-200 (default: one in force)"),
    ] = None,
) -> None:
    """Write a valid claim to FILE, to edit and then start with `claims start FILE`."""
    try:
        records = _load_records(_records_file())
        today = date.today()
        claim = claim_template(records, today, fresh_claim_id(today), policy)
        write_new_claim(file, claim)
    except TemplateError as error:
        print_error(console, str(error))
        raise typer.Exit(1) from None
    except FileExistsError:
        print_error(
            console, f"{file} already exists and is left as it is; name a new file, or delete it"
        )
        raise typer.Exit(1) from None
    except OSError as error:
        print_error(
            console,
            f"cannot write {file}: {error.strerror or error}; name a file in a folder you can "
            "write to",
        )
        raise typer.Exit(1) from None
    console.print(
        f"Wrote {said(file)}: claim {said(claim['claim_id'])} on policy "
        f"{said(claim['policy_number'])} ({said(claim['category'])}, "
        f"{said(claim['currency'])}).",
        highlight=False,
    )
    console.print("Edit it, then start its review:", highlight=False)
    console.print(f"  .venv/bin/claims start {said(file)}", highlight=False, soft_wrap=True)
    console.print("The fields:", highlight=False)
    width = max(len(name) for name, _ in FIELD_GUIDE)
    for name, meaning in FIELD_GUIDE:
        console.print(f"  {name:<{width}}  {said(meaning)}", highlight=False)


def register_new_claim_command(app: typer.Typer) -> None:
    """Add `new-claim` to the `claims` app."""
    app.command(
        "new-claim",
        epilog="Example: claims new-claim my-claim.json --policy POL-HOME-200\n\n" + _fields_help(),
    )(new_claim)
