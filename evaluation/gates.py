"""CI gates: `--fail-if dangerous>0` thresholds, checked against each candidate's report.

A gate is `METRIC OP NUMBER` with OP one of > >= < <= ==. It fails a candidate when the
comparison holds for it, or when the metric cannot be measured for it (no cases compared,
a model without a price): a gate that cannot tell never passes a change silently. The
baseline (the original review) is never gated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from evaluation.scoring import CandidateReport, EvalReport
from runtime.errors import UserFacingError
from runtime.text import printable

MAX_GATE_CHARS = 100


def _largest_payout_error(report: CandidateReport, field: str) -> Decimal | None:
    """The largest over currencies: compared one by one, never summed across currencies."""
    values = [getattr(error, field) for error in report.payout_error]
    return max(values) if values else None


def _latency(report: CandidateReport, field: str) -> float | None:
    if report.usage is None or report.usage.latency is None:
        return None
    value: float = getattr(report.usage.latency, field)
    return value


def _found(report: CandidateReport, cases: list[Any]) -> int | None:
    """How many cases were found; unknown when the candidate answered none (every rerun
    failed), so that "none dangerous" is never read from a candidate never measured."""
    return len(cases) if report.answered else None


# name -> (what it measures, how to read it from a candidate's report)
METRICS: dict[str, tuple[str, Callable[[CandidateReport], Decimal | float | int | None]]] = {
    "dangerous": (
        "claims it would auto-approve that a person rejected or paid less",
        lambda r: _found(r, r.dangerous),
    ),
    "needless_referrals": (
        "claims it would send to a person that were fine",
        lambda r: _found(r, r.needless_referrals),
    ),
    "errors": ("reruns that failed", lambda r: r.errors),
    "unanswered": ("cases without an answer", lambda r: r.unanswered),
    "route_agreement": ("share of routes as finally decided, 0 to 1", lambda r: r.route.rate),
    "recommendation_agreement": (
        "share of recommendations the final decision agrees with, 0 to 1",
        lambda r: r.recommendation.rate,
    ),
    "payout_error_mean": (
        "mean absolute payout error, largest over currencies",
        lambda r: _largest_payout_error(r, "mean_abs"),
    ),
    "payout_error_max": (
        "largest absolute payout error, in the claim's currency",
        lambda r: _largest_payout_error(r, "max_abs"),
    ),
    "cost_per_claim": (
        "estimated model cost per claim, in dollars",
        lambda r: r.usage.cost_per_claim if r.usage else None,
    ),
    "latency_p50_ms": ("median model time per claim, ms", lambda r: _latency(r, "p50_ms")),
    "latency_p90_ms": ("90th percentile model time per claim, ms", lambda r: _latency(r, "p90_ms")),
}
METRIC_NAMES = tuple(METRICS)

_OPERATORS: dict[str, Callable[[Decimal, Decimal], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
}
_ANY_OPERATOR = re.compile(r"[<>=!]+")


class GateError(UserFacingError):
    """A `--fail-if` expression that cannot be read; the message names the bad part."""


@dataclass(frozen=True)
class Gate:
    metric: str
    operator: str
    threshold: Decimal

    def __str__(self) -> str:
        return f"{self.metric}{self.operator}{self.threshold}"


@dataclass(frozen=True)
class GateFailure:
    candidate: str
    gate: Gate
    # None: the metric could not be measured for this candidate.
    value: Decimal | None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.candidate}: {self.gate} cannot be measured (nothing to compare)"
        return f"{self.candidate}: {self.gate} (it is {self.value.normalize():f})"


def _names() -> str:
    return ", ".join(METRIC_NAMES)


def parse_gate(text: object) -> Gate:
    """One `METRIC OP NUMBER`, or a `GateError` naming what is wrong and what is allowed."""
    if not isinstance(text, str):
        raise GateError(f"--fail-if takes text such as dangerous>0, not {type(text).__name__}")
    shown = printable(text)
    example = "such as dangerous>0 or route_agreement<0.9"
    if len(text) > MAX_GATE_CHARS:
        raise GateError(f"--fail-if {shown[:40]}... is longer than {MAX_GATE_CHARS} characters")
    operator = _ANY_OPERATOR.search(text) if text.isprintable() else None
    problem = ""
    if not text.strip():
        problem = "is empty"
    elif not text.isprintable():
        problem = "holds control characters"
    elif operator is None:
        problem = "has no comparison (> >= < <= ==)"
    elif operator.group() not in _OPERATORS:
        problem = f"has {operator.group()!r}, not one of > >= < <= =="
    if problem or operator is None:
        raise GateError(f"--fail-if {shown!r} {problem}; write METRIC OP NUMBER, {example}")
    metric = text[: operator.start()].strip()
    number = text[operator.end() :].strip()
    operator_text = operator.group()
    if metric not in METRICS:
        raise GateError(f"--fail-if {shown!r}: {metric!r} is not a metric; use one of {_names()}")
    try:
        threshold = Decimal(number)
    except InvalidOperation:
        threshold = Decimal("NaN")
    if not threshold.is_finite():
        raise GateError(f"--fail-if {shown!r}: {number!r} is not a number; {example}")
    return Gate(metric=metric, operator=operator_text, threshold=threshold)


def parse_gates(texts: Iterable[object]) -> list[Gate]:
    """Every gate, or the first refusal; the same gate given twice is kept once."""
    gates: list[Gate] = []
    for text in texts:
        gate = parse_gate(text)
        if gate not in gates:
            gates.append(gate)
    return gates


def metric_value(report: CandidateReport, metric: str) -> Decimal | None:
    raw = METRICS[metric][1](report)
    if raw is None or (isinstance(raw, float) and not math.isfinite(raw)):
        return None
    return raw if isinstance(raw, Decimal) else Decimal(str(raw))


def failed_gates(report: EvalReport, gates: Iterable[Gate]) -> list[GateFailure]:
    """Each (candidate, gate) that fails, candidates in the report's order."""
    failures = []
    gate_list = list(gates)
    for candidate in report.candidates:
        for gate in gate_list:
            value = metric_value(candidate, gate.metric)
            if value is None or _OPERATORS[gate.operator](value, gate.threshold):
                failures.append(GateFailure(candidate=candidate.name, gate=gate, value=value))
    return failures


def metrics_help() -> str:
    """The metric names and what each measures, for `--fail-if`'s help and the README."""
    return "\n".join(f"{name}: {what}" for name, (what, _) in METRICS.items())
