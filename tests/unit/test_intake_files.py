"""Claim files are untrusted: every refusal names file, field and reason, never a traceback."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from runtime.settings import EXAMPLES_DIR
from starter import (
    MAX_CLAIM_FILE_BYTES,
    MAX_JSON_DEPTH,
    ClaimProblem,
    InvalidClaimsError,
    load_claims,
)

SAMPLE = (EXAMPLES_DIR / "claims" / "CLM-1002.json").read_text()


def claim_data(**changes: object) -> dict[str, object]:
    data: dict[str, object] = json.loads(SAMPLE)
    return data | changes


def write(tmp_path: Path, content: str | bytes, name: str = "claim.json") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def refusal(path: Path) -> tuple[str, str]:
    """The one problem load_claims finds in `path`, as (field, reason)."""
    with pytest.raises(InvalidClaimsError) as refused:
        load_claims([path])
    [problem] = refused.value.problems
    assert path == problem.file
    return problem.field, problem.reason


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    """A 6 MB claim is refused by size, here, not by gRPC after it was sent."""
    path = tmp_path / "huge.json"
    with path.open("wb") as file:
        file.truncate(6 * 1024 * 1024)

    field, reason = refusal(path)

    assert "(file)" == field
    assert f"6,291,456 bytes is more than a claim may hold ({MAX_CLAIM_FILE_BYTES:,}" in reason


def test_a_file_just_at_the_limit_is_read(tmp_path: Path) -> None:
    """The limit is on bytes, inclusive: padding up to it does not refuse a valid claim."""
    text = json.dumps(claim_data())
    path = write(tmp_path, text + " " * (MAX_CLAIM_FILE_BYTES - len(text.encode())))

    [claim] = load_claims([path])

    assert "CLM-1002" == claim.claim_id


def test_a_latin1_file_is_refused_with_the_byte_to_fix(tmp_path: Path) -> None:
    """A file not in UTF-8 is refused with the offset of the first bad byte and the fix."""
    text = json.dumps(claim_data(description="Dégâts des eaux"), ensure_ascii=False)
    path = write(tmp_path, text.encode("latin-1"))

    assert ("(file)", f"not UTF-8 text at byte {text.index('é')}; save it as UTF-8") == refusal(
        path
    )


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """Some editors start UTF-8 files with a BOM; the claim is still the same claim."""
    path = write(tmp_path, b"\xef\xbb\xbf" + SAMPLE.encode())

    [claim] = load_claims([path])

    assert "CLM-1002" == claim.claim_id


@pytest.mark.parametrize("depth", [50, 100_000])
def test_deeply_nested_json_is_refused(tmp_path: Path, depth: int) -> None:
    """Both depths a parser survives and depths it does not are refused, as a problem."""
    nested = "[" * depth + "]" * depth
    path = write(tmp_path, SAMPLE.replace('"agent-portal"', nested))

    field, reason = refusal(path)

    assert "nested" in reason
    assert field in {"(file)", "submitted_by" + ".0" * (MAX_JSON_DEPTH - 1) + ".…"}


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        ("[]", "a list"),
        (f"[{SAMPLE}]", "a list"),
        ('"CLM-1002"', "a string"),
        ("1250", "a number"),
        ("true", "true or false"),
        ("null", "null"),
    ],
)
def test_json_that_is_not_an_object_is_refused(tmp_path: Path, content: str, kind: str) -> None:
    """A JSON list, string, number, boolean or null is refused: a claim is an object."""
    path = write(tmp_path, content)

    assert ("(claim)", f"a claim is a JSON object ({{...}}), not {kind}") == refusal(path)


def test_a_field_given_twice_is_refused_not_silently_overridden(tmp_path: Path) -> None:
    """`{"amount": 1, "amount": 1000000}` is ambiguous: which amount did they mean?"""
    path = write(tmp_path, SAMPLE.replace('"amount": 1250.00,', '"amount": 1, "amount": 9e6,'))

    assert ("amount", "given more than once in the same object; keep one") == refusal(path)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(tmp_path: Path, constant: str) -> None:
    """NaN and the infinities, which Python's json accepts, are refused."""
    path = write(tmp_path, SAMPLE.replace("1250.00", constant))

    assert ("(file)", f"{constant} is not a JSON number") == refusal(path)


def test_an_integer_too_long_to_convert_is_refused(tmp_path: Path) -> None:
    """A 5,000-digit number is refused as unreadable, not raised as a crash."""
    path = write(tmp_path, SAMPLE.replace("1250.00", "1" * 5000))

    field, reason = refusal(path)

    assert "(file)" == field
    assert reason.startswith("not a readable JSON value")


def test_an_unpaired_surrogate_is_refused_naming_its_field(tmp_path: Path) -> None:
    """`\\ud800` is valid JSON but no text: it could be neither stored nor printed."""
    path = write(tmp_path, SAMPLE.replace("Daniel Okafor", "Daniel \\ud800"))

    assert ("claimant.name", "holds an unpaired surrogate (\\ud800)") == refusal(path)


def test_a_string_amount_is_refused(tmp_path: Path) -> None:
    """Amounts are JSON numbers: "1250" is a string, refused like any other wrong type."""
    path = write(tmp_path, json.dumps(claim_data(amount="1250")))

    field, _ = refusal(path)

    assert "amount" == field


def test_a_directory_is_refused(tmp_path: Path) -> None:
    """A directory named as a claim file is refused, with a hint to name its files."""
    assert ("(file)", "is a directory; name the claim files in it") == refusal(tmp_path)


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    """Reading a named pipe would block for ever; it is refused from its file type."""
    path = tmp_path / "pipe.json"
    os.mkfifo(path)

    assert ("(file)", "is not a regular file; save the claim to a file") == refusal(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    """A claim file that does not exist is refused with the system's reason."""
    assert ("(file)", "cannot read: No such file or directory") == refusal(tmp_path / "nope.json")


def test_problems_print_as_printable_text(tmp_path: Path) -> None:
    """A refusal quotes the input; its control characters are shown, not sent to a terminal."""
    path = write(tmp_path, json.dumps({"\x1b[2J": 1, **claim_data()}))

    with pytest.raises(InvalidClaimsError) as refused:
        load_claims([path])

    assert "\x1b" not in str(refused.value)
    assert "\\x1b[2J" in str(refused.value)


def mutations(seed: int, count: int) -> list[bytes]:
    """Truncated, spliced and random-byte variants of a valid claim file."""
    rng = random.Random(seed)  # noqa: S311 (reproducible test data, not a secret)
    base = SAMPLE.encode()
    out: list[bytes] = []
    for _ in range(count):
        blob = bytearray(base)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(len(blob))
            choice = rng.random()
            if choice < 0.4:
                blob[at] = rng.randrange(256)
            elif choice < 0.7:
                del blob[at : at + rng.randint(1, 40)]
            else:
                blob[at:at] = rng.choice([b"[", b"{", b'"', b"\\u", b"\xff", b"\x00", b"1e999"])
        out.append(bytes(blob))
    return out


def problems_in(path: Path) -> list[ClaimProblem]:
    """What load_claims refuses in `path`; empty when it is a valid claim."""
    try:
        load_claims([path])
    except InvalidClaimsError as refused:
        return refused.problems
    return []


def test_no_mangled_claim_file_gives_a_traceback(tmp_path: Path) -> None:
    """Hundreds of damaged files each end as a claim or as named problems, nothing else."""
    paths = [
        write(tmp_path, blob, name=f"m{n}.json")
        for n, blob in enumerate(mutations(seed=9, count=400))
    ]

    unnamed = [
        (path.name, p)
        for path in paths
        for p in problems_in(path)
        if not (p.file == path and p.field and p.reason)
    ]

    assert [] == unnamed
    assert sum(1 for path in paths if problems_in(path)) > 300


def test_claims_start_reports_a_bad_file_in_one_message(tmp_path: Path) -> None:
    """The command exits 1 with the file and the reason, and no traceback."""
    path = write(tmp_path, b'{"claim_id": "CLM-1", "description": "d\xe9g\xe2ts"}')

    result = CliRunner().invoke(
        app, ["start", str(path)], env={"TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "300"}
    )

    assert 1 == result.exit_code
    assert "not UTF-8 text at byte 39; save it as UTF-8" in result.output
    assert "Traceback" not in result.output
