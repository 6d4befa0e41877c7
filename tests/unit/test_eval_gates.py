"""`--fail-if` gates: every metric read from the hand-computed report, every bad expression
refused with the part that is wrong and the names that are allowed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from evaluation.gates import (
    METRIC_NAMES,
    Gate,
    GateError,
    failed_gates,
    metric_value,
    metrics_help,
    parse_gate,
    parse_gates,
)
from evaluation.pricing import Pricing
from evaluation.scoring import EvalReport, score
from tests.unit.test_eval_scoring import hand_computed_result

# metric -> (careful, approve-all), as the scoring test's docstring computes them.
EXPECTED: dict[str, tuple[Decimal | None, Decimal | None]] = {
    "dangerous": (Decimal(1), Decimal(5)),
    "needless_referrals": (Decimal(1), Decimal(0)),
    "errors": (Decimal(1), Decimal(0)),
    "unanswered": (Decimal(1), Decimal(0)),
    "route_agreement": (Decimal(str(5 / 6)), Decimal("0.25")),
    "recommendation_agreement": (Decimal(str(5 / 6)), Decimal("0.625")),
    "payout_error_mean": (Decimal("100.00"), Decimal("166.67")),
    "payout_error_max": (Decimal("300.00"), Decimal("500.00")),
    "cost_per_claim": (Decimal("0.00021"), Decimal(0)),
    "latency_p50_ms": (Decimal(400), Decimal(400)),
    "latency_p90_ms": (Decimal(700), Decimal(800)),
}


@pytest.fixture
def report() -> EvalReport:
    return score(hand_computed_result(), Pricing())


def test_every_metric_is_checked_here() -> None:
    """The table below covers the documented set exactly."""
    assert set(METRIC_NAMES) == set(EXPECTED)
    assert all(name in metrics_help() for name in METRIC_NAMES)


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_each_metric_reads_the_hand_computed_value(report: EvalReport, metric: str) -> None:
    """Each metric's value per candidate is the one computed by hand."""
    careful, approve_all = report.candidates
    assert EXPECTED[metric] == (metric_value(careful, metric), metric_value(approve_all, metric))


@pytest.mark.parametrize("metric", sorted(EXPECTED))
def test_each_metric_gates_between_the_two_candidates(report: EvalReport, metric: str) -> None:
    """A threshold at a candidate's own value: `==` fails it, `>` and `<` do not."""
    careful_value = EXPECTED[metric][0]
    assert careful_value is not None
    equal = failed_gates(report, [Gate(metric, "==", careful_value)])
    assert "careful" in {f.candidate for f in equal}
    strict = failed_gates(
        report, [Gate(metric, ">", careful_value), Gate(metric, "<", careful_value)]
    )
    assert "careful" not in {f.candidate for f in strict}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dangerous>0", Gate("dangerous", ">", Decimal(0))),
        ("  route_agreement < 0.9 ", Gate("route_agreement", "<", Decimal("0.9"))),
        ("needless_referrals>=10", Gate("needless_referrals", ">=", Decimal(10))),
        ("payout_error_max>100", Gate("payout_error_max", ">", Decimal(100))),
        ("cost_per_claim>0.02", Gate("cost_per_claim", ">", Decimal("0.02"))),
        ("errors<=3", Gate("errors", "<=", Decimal(3))),
        ("latency_p90_ms==1e3", Gate("latency_p90_ms", "==", Decimal("1e3"))),
    ],
)
def test_gates_parse(text: str, expected: Gate) -> None:
    """METRIC OP NUMBER, spaces allowed around each part."""
    assert expected == parse_gate(text)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("dangerous", "has no comparison"),
        ("dangerous=0", "'=', not one of"),
        ("dangerous!=0", "'!=', not one of"),
        ("dangerous=>0", "'=>', not one of"),
        ("danger>0", "'danger' is not a metric; use one of dangerous, needless_referrals"),
        ("dangerous>many", "'many' is not a number"),
        ("dangerous>nan", "'nan' is not a number"),
        ("dangerous>inf", "'inf' is not a number"),
        ("dangerous>0 or errors>0", "'0 or errors>0' is not a number"),
        ("dangerous>>0", "'>>', not one of"),
        (">0", "'' is not a metric"),
        ("dangerous>", "'' is not a number"),
        ("dangerous>\x1b[31m0", "holds control characters"),
        ("dangerous>" + "9" * 200, "longer than 100 characters"),
        ("1>0", "'1' is not a metric"),
    ],
)
def test_bad_gates_are_refused_naming_the_bad_part(text: str, names: str) -> None:
    """Each refusal says what is wrong; none echoes a control character raw."""
    with pytest.raises(GateError) as refused:
        parse_gate(text)
    message = str(refused.value)
    assert names in message
    assert "\x1b" not in message


@pytest.mark.parametrize("value", [None, 3, 0.5, b"dangerous>0", ["dangerous>0"]])
def test_a_gate_that_is_not_text_is_refused(value: object) -> None:
    """Only text is read as a gate."""
    with pytest.raises(GateError, match="takes text"):
        parse_gate(value)


def test_the_same_gate_twice_is_kept_once() -> None:
    """Repeating a gate does not repeat its failures."""
    assert [Gate("dangerous", ">", Decimal(0))] == parse_gates(["dangerous>0", "dangerous > 0"])


def test_failures_name_candidate_gate_and_value(report: EvalReport) -> None:
    """route_agreement<0.9 fails both (5/6 and 2/8); cost_per_claim>0.0002 fails careful."""
    failures = failed_gates(report, parse_gates(["route_agreement<0.9", "cost_per_claim>0.0002"]))
    assert [
        ("careful", "route_agreement<0.9"),
        ("careful", "cost_per_claim>0.0002"),
        ("approve-all", "route_agreement<0.9"),
    ] == [(f.candidate, str(f.gate)) for f in failures]
    assert "approve-all: route_agreement<0.9 (it is 0.25)" == str(failures[2])


def test_a_metric_that_cannot_be_measured_fails_its_gate() -> None:
    """An unpriced model leaves the cost unknown: cost_per_claim>1 fails rather than pass."""
    result = hand_computed_result()
    renamed = [a.model_copy(update={"model": "openai:unlisted"}) for a in result.answers]
    report = score(result.model_copy(update={"answers": renamed}), Pricing())
    failures = failed_gates(report, parse_gates(["cost_per_claim>1"]))
    assert [("careful", None), ("approve-all", None)] == [(f.candidate, f.value) for f in failures]
    assert "cannot be measured" in str(failures[0])


def test_no_gates_no_failures(report: EvalReport) -> None:
    """Without --fail-if nothing fails."""
    assert [] == failed_gates(report, [])


def test_a_candidate_that_answered_nothing_fails_every_count_gate() -> None:
    """Every rerun failed: no dangerous cell is not the same as none found, so
    dangerous>0 and needless_referrals>0 fail rather than pass a candidate never measured."""
    result = hand_computed_result()
    failed = [
        a.model_copy(update={"error": "the candidate's model gave no answer"})
        for a in result.answers
    ]
    report = score(result.model_copy(update={"answers": failed}), Pricing())
    failures = failed_gates(report, parse_gates(["dangerous>0", "needless_referrals>0"]))
    assert [None] * 4 == [f.value for f in failures]
