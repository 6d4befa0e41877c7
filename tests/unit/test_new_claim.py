"""`claims new-claim` and examples/claim-template.json: a claim to edit that the starter accepts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli.new_claim import FIELD_GUIDE, claim_template, register_new_claim_command
from runtime.settings import EXAMPLES_DIR
from starter import load_claims
from workflows.claim import Claim

RECORDS = json.loads((EXAMPLES_DIR / "records.json").read_text(encoding="utf-8"))


@pytest.fixture
def app() -> typer.Typer:
    """The command as `claims` registers it, in an app of its own."""
    app = typer.Typer()

    @app.callback()
    def claims() -> None:
        """Keeps `new-claim` a subcommand, as it is under `claims`."""

    register_new_claim_command(app)
    return app


def invoke(app: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(app, list(args))
    return result.exit_code, result.output


def test_the_written_claim_is_valid_as_it_stands(app: typer.Typer, tmp_path: Path) -> None:
    """What new-claim writes passes the starter's validation: today's date, a known policy."""
    path = tmp_path / "my-claim.json"

    code, output = invoke(app, "new-claim", str(path))

    assert 0 == code, output
    [claim] = load_claims([path])
    assert date.today() == claim.incident_date
    policies = {p["policy_number"]: p for p in RECORDS["policies"]}
    assert claim.policy_number in policies
    assert policies[claim.policy_number]["holder_id"] == claim.claimant.id
    assert f"claims start {path}" in output.replace("\n", "")


def test_each_new_claim_gets_a_fresh_id(app: typer.Typer, tmp_path: Path) -> None:
    """Two claims written the same day do not share an id, nor take a sample's."""
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for path in paths:
        assert 0 == invoke(app, "new-claim", str(path))[0]

    ids = {claim.claim_id for claim in load_claims(paths)}

    assert 2 == len(ids)
    assert not ids & {p.stem for p in (EXAMPLES_DIR / "claims").glob("*.json")}


def test_an_existing_file_is_never_replaced(app: typer.Typer, tmp_path: Path) -> None:
    """A file already there is left byte for byte; the answer says what to do instead."""
    path = tmp_path / "my-claim.json"
    path.write_text("my notes\n", encoding="utf-8")

    code, output = invoke(app, "new-claim", str(path))

    assert 1 == code
    assert "my notes\n" == path.read_text(encoding="utf-8")
    assert "already exists" in output
    assert "name a new file" in output


def test_a_named_policy_is_used_and_an_unknown_one_is_refused_with_the_known_ones(
    app: typer.Typer, tmp_path: Path
) -> None:
    """--policy picks the policy; a policy not on record is refused, listing those that are."""
    path = tmp_path / "auto.json"
    assert 0 == invoke(app, "new-claim", str(path), "--policy", "POL-AUTO-300")[0]
    [claim] = load_claims([path])
    assert ("POL-AUTO-300", "auto", "EUR") == (claim.policy_number, claim.category, claim.currency)

    code, output = invoke(app, "new-claim", str(tmp_path / "x.json"), "--policy", "POL-NOPE")

    assert 1 == code
    assert "POL-NOPE is not in the system of record" in output
    assert "POL-HOME-200" in output
    assert not (tmp_path / "x.json").exists()


def test_every_required_document_kind_is_listed_for_the_category() -> None:
    """The claim carries one document of each kind its category requires, so intake is clean."""
    data = claim_template(RECORDS, date(2026, 6, 15), "CLM-T-1", "POL-HOME-200")

    kinds = [d["kind"] for d in Claim.model_validate(data).model_dump()["documents"]]

    assert RECORDS["required_documents"]["property"] == kinds


def test_a_policy_in_force_today_is_preferred(tmp_path: Path) -> None:
    """On a day some policies have lapsed, the default is one that still covers it."""
    data = claim_template(RECORDS, date(2027, 4, 1), "CLM-T-2")

    policy = next(p for p in RECORDS["policies"] if p["policy_number"] == data["policy_number"])
    assert "2027-04-01" <= policy["valid_to"]


def test_the_output_and_the_help_fit_80_columns_and_explain_every_field(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON has no comments: the fields are explained when the file is written and in --help.
    The start command is printed whole for pasting, so the file is named as a person would."""
    monkeypatch.chdir(tmp_path)
    _, output = invoke(app, "new-claim", "my-claim.json")
    _, help_text = invoke(app, "new-claim", "--help")

    assert [] == [line for line in output.splitlines() if len(line) > 80]
    for name, _ in FIELD_GUIDE:
        assert name in output
        assert name in help_text
    assert "claims new-claim my-claim.json" in help_text


def test_the_template_in_examples_is_a_valid_claim() -> None:
    """examples/claim-template.json, which the README points to, passes the starter."""
    [claim] = load_claims([EXAMPLES_DIR / "claim-template.json"])

    assert "POL-HOME-200" == claim.policy_number
