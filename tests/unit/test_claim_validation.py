"""Claims are refused before any workflow starts, naming the file, the field and the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from runtime.settings import EXAMPLES_DIR
from starter import InvalidClaimsError, load_claims

SAMPLES = sorted((EXAMPLES_DIR / "claims").glob("*.json"))


def write_claim(tmp_path: Path, name: str, **changes: object) -> Path:
    data = json.loads((EXAMPLES_DIR / "claims" / "CLM-1002.json").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_every_sample_claim_is_valid() -> None:
    """Every file in examples/claims loads, in order, under the id its name gives."""
    claims = load_claims(SAMPLES)

    assert [p.stem for p in SAMPLES] == [c.claim_id for c in claims]


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"policy_number": None}, "policy_number", "required field is missing"),
        ({"amount": 0}, "amount", "greater than 0"),
        ({"amount": -35}, "amount", "greater than 0"),
        ({"currency": "XYZ"}, "currency", "'XYZ' is not an ISO 4217 currency code"),
        ({"claimant": {"id": "C", "name": "N", "email": "nope"}}, "claimant.email", "match"),
        ({"category": "yacht"}, "category", "Input should be"),
        ({"incident_date": "yesterday"}, "incident_date", "valid date"),
    ],
)
def test_invalid_claims_name_file_field_and_reason(
    tmp_path: Path, changes: dict[str, object], field: str, reason: str
) -> None:
    """A claim that breaks a rule is refused with its file, the field and why."""
    path = write_claim(tmp_path, "bad.json", **changes)

    with pytest.raises(InvalidClaimsError) as refused:
        load_claims([path])

    [problem] = refused.value.problems
    assert (path, field) == (problem.file, problem.field)
    assert reason in problem.reason


def test_malformed_json_is_refused_with_its_line(tmp_path: Path) -> None:
    """A file that is not JSON is refused with the line where it breaks."""
    path = tmp_path / "broken.json"
    path.write_text('{"claim_id": "X",\n "amount": }')

    with pytest.raises(InvalidClaimsError) as refused:
        load_claims([path])

    assert "broken.json: (file): malformed JSON at line 2" in str(refused.value)


def test_one_bad_file_refuses_the_whole_batch(tmp_path: Path) -> None:
    """Nothing is started when any claim in the batch is invalid."""
    good = write_claim(tmp_path, "good.json")
    bad = write_claim(tmp_path, "bad.json", claim_id="CLM-2", amount=-1)

    with pytest.raises(InvalidClaimsError) as refused:
        load_claims([good, bad])

    assert [(bad, "amount")] == [(p.file, p.field) for p in refused.value.problems]


def test_the_same_claim_twice_in_a_batch_is_refused(tmp_path: Path) -> None:
    """Two files with one claim id in a batch: the second is refused by its claim_id."""
    first = write_claim(tmp_path, "a.json")
    second = write_claim(tmp_path, "b.json")

    with pytest.raises(InvalidClaimsError) as refused:
        load_claims([first, second])

    assert [(second, "claim_id")] == [(p.file, p.field) for p in refused.value.problems]


def test_claims_start_refuses_invalid_claims_without_contacting_temporal() -> None:
    """`claims start` exits non-zero with every problem; no server is needed to say so."""
    result = CliRunner().invoke(
        app,
        ["start", str(EXAMPLES_DIR / "invalid-claim.json")],
        env={"TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "200"},
    )

    assert 1 == result.exit_code
    for expected in ("amount", "currency", "submitted_by", "no claim was started"):
        assert expected in result.output


def test_a_worker_with_a_bad_model_setting_says_so_before_connecting(tmp_path: Path) -> None:
    """The configuration error is reported, not hidden behind 'cannot reach Temporal'."""
    result = CliRunner().invoke(
        app,
        ["worker"],
        env={
            "TEMPORAL_ADDRESS": "127.0.0.1:1",
            "CLAIMS_LLM": "anthropic:claude",
            "CLAIMS_DATA_DIR": str(tmp_path),
            "COLUMNS": "200",
        },
    )

    assert 1 == result.exit_code
    assert "CLAIMS_LLM='anthropic:claude' is not a model this agent knows" in result.output
    assert "cannot reach Temporal" not in result.output
