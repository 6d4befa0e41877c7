"""The terminal report fits 80 columns, puts the dangerous cells first, and prints people's
text only as printable characters; the JSON report carries every number."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from rich.cells import cell_len

from evaluation.pricing import Pricing
from evaluation.report_text import report_json, report_text
from evaluation.scoring import score
from tests.unit.test_eval_scoring import hand_computed_result
from workflows.evaluation import Candidate

HOSTILE = {
    "C3": "\x1b]0;pwned\x07\x1b[2J<b>[red]x[/red]",
    "C5": "pay\u202e001\u202c-" + "L" * 50,
    "C7": "\u8acb\u6c42\u66f8-" * 8,
}


def _wide_result() -> object:
    result = hand_computed_result(HOSTILE)
    long_names = [
        Candidate(name="c" * 32),
        Candidate(name="d" * 32),
    ]
    renamed = {"careful": "c" * 32, "approve-all": "d" * 32}
    answers = [a.model_copy(update={"candidate": renamed[a.candidate]}) for a in result.answers]
    return result.model_copy(update={"candidates": long_names, "answers": answers})


@pytest.mark.parametrize("hostile", [False, True])
def test_the_report_fits_80_columns(hostile: bool) -> None:
    """No line is wider than 80 cells, with long candidate names and long, wide case ids."""
    result = _wide_result() if hostile else hand_computed_result()
    text = report_text(score(result, Pricing()))  # type: ignore[arg-type]
    widths = [cell_len(line) for line in text.splitlines()]
    assert max(widths) <= 80


def test_dangerous_cells_come_first_and_are_marked() -> None:
    """The first metric row is the dangerous count, marked `!`; so are dangerous cases."""
    text = report_text(score(hand_computed_result(), Pricing()))
    rows = [line for line in text.splitlines() if "│" in line]
    assert rows[0].startswith("! dangerous")
    assert ["1", "5", "0"] == rows[0].replace("│", " ").split()[2:]
    assert "! C5" in text
    assert "claims show CLM-5" in text


def test_people_s_text_cannot_steer_the_terminal() -> None:
    """Escapes, bidi overrides and markup in case ids print as visible escapes and text."""
    text = report_text(score(hand_computed_result(HOSTILE), Pricing()), width=200)
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\u202e" not in text
    assert "\\x1b]0;pwned" in text
    assert "[red]x[/red]" in text
    assert "\\u202e" in text


def test_colour_is_only_used_when_asked() -> None:
    """Plain text by default; ANSI colour with `color`, and then only ours."""
    report = score(hand_computed_result(HOSTILE), Pricing())
    assert "\x1b[" not in report_text(report)
    coloured = report_text(report, color=True)
    assert "\x1b[" in coloured
    assert "\x1b]0;pwned" not in coloured


def test_an_unpriced_model_shows_unknown_cost() -> None:
    """A model without a price shows its cost as unknown, never as $0."""
    result = hand_computed_result()
    renamed = [
        a.model_copy(update={"model": "openai:unlisted"}) if a.candidate == "careful" else a
        for a in result.answers
    ]
    text = report_text(score(result.model_copy(update={"answers": renamed}), Pricing()))
    cost_row = next(line for line in text.splitlines() if line.startswith("cost / claim"))
    assert ["unknown", "$0.00000", "-"] == cost_row.replace("│", " ").split()[4:]


def test_json_carries_every_number_as_json_numbers() -> None:
    """Amounts and costs are JSON numbers; escapes in case ids stay escaped."""
    report = score(hand_computed_result(HOSTILE), Pricing())
    document = report_json(report)
    assert "\u202e" not in document
    parsed = json.loads(document)
    careful = parsed["candidates"][0]
    assert 0.00021 == careful["usage"]["cost_per_claim"]
    assert 8000.0 == careful["dangerous"][0]["overpaid"]
    assert HOSTILE["C5"] == careful["dangerous"][0]["case_id"]
    assert Decimal("166.67") == Decimal(str(parsed["baseline"]["payout_error"][0]["mean_abs"]))
