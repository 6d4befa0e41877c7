"""The report in a terminal (rich, 80 columns, candidates side by side) and as JSON.

The dangerous cells come first and are marked with `!`. Case ids, names and error texts
come from people and models: they are shown through `runtime.text.printable` inside rich
`Text` objects, so no byte of them can steer the terminal or be read as markup.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from evaluation.scoring import (
    NO_RECOMMENDATION,
    Agreement,
    CandidateReport,
    EvalReport,
)
from runtime.text import json_printable, printable
from workflows.evaluation import Route
from workflows.evidence import Recommendation

REPORT_WIDTH = 80
# The terminal lists this many disagreements per candidate; --json and the HTML list all.
MAX_LISTED = 10
DANGER_STYLE = "bold red"


def report_json(report: EvalReport) -> str:
    """The whole report as JSON: money and costs as numbers, unprintable characters escaped."""
    return json_printable(report.model_dump_json(indent=2))


def _text(value: object, style: str = "") -> Text:
    return Text(printable(str(value)), style=style)


def _rate(agreement: Agreement) -> str:
    if agreement.rate is None:
        return "-"
    return f"{agreement.agree}/{agreement.compared} {agreement.rate:.0%}"


def _number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _cost(candidate: CandidateReport) -> str:
    usage = candidate.usage
    if usage is None:
        return "-"
    if usage.cost_per_claim is None:
        return "unknown" if usage.unpriced_models else "-"
    return f"${usage.cost_per_claim:.5f}"


def _latency(candidate: CandidateReport, which: str) -> str:
    if candidate.usage is None or candidate.usage.latency is None:
        return "-"
    value: float = getattr(candidate.usage.latency, which)
    return f"{value:,.0f}"


Read = Callable[[CandidateReport], str]
Row = tuple[str, Read, bool]


def _confusion(mine: Route, final: Route) -> Read:
    return lambda c: str(c.route_confusion[mine.value][final.value])


def _decisions(recommendation: str) -> Read:
    return lambda c: "/".join(str(n) for n in c.recommendation_table[recommendation].values())


def _payout(currency: str, field: str) -> Read:
    def read(c: CandidateReport) -> str:
        found = [getattr(e, field) for e in c.payout_error if e.currency == currency]
        return f"{found[0]:,.2f}" if found else "-"

    return read


def _rows(report: EvalReport, columns: list[CandidateReport]) -> list[Row]:
    rows: list[Row] = [
        ("! dangerous", lambda c: str(len(c.dangerous)), True),
        ("! needless referrals", lambda c: str(len(c.needless_referrals)), True),
        ("cases", lambda c: str(c.cases), False),
        ("answered", lambda c: str(c.answered), False),
        ("errors", lambda c: str(c.errors), False),
        ("route agreement", lambda c: _rate(c.route), False),
        ("recommendation agreement", lambda c: _rate(c.recommendation), False),
    ]
    for mine in Route:
        for final in Route:
            rows.append((f"route {mine.value}, was {final.value}", _confusion(mine, final), False))
    for recommendation in [*(r.value for r in Recommendation), NO_RECOMMENDATION]:
        rows.append((f"{recommendation}: done/rej/canc", _decisions(recommendation), False))
    currencies = sorted({e.currency for c in columns for e in c.payout_error})
    for currency in currencies:
        for label, field in (("mean", "mean_abs"), ("max", "max_abs")):
            rows.append((f"payout error {label} {currency}", _payout(currency, field), False))
    rows += [
        (
            "tokens in / claim",
            lambda c: _number(c.usage.input_tokens_per_claim if c.usage else None),
            False,
        ),
        (
            "tokens out / claim",
            lambda c: _number(c.usage.output_tokens_per_claim if c.usage else None),
            False,
        ),
        ("cost / claim (USD)", _cost, False),
        ("model ms / claim p50", lambda c: _latency(c, "p50_ms"), False),
        ("model ms / claim p90", lambda c: _latency(c, "p90_ms"), False),
    ]
    return rows


def summary_table(report: EvalReport) -> Table:
    """Metrics down, candidates across; the original review last, as the baseline."""
    columns = [*report.candidates, *([report.baseline] if report.baseline else [])]
    table = Table(
        title=_text(f"Evaluation {report.eval_id}: {report.cases} cases"),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("metric", no_wrap=True)
    for candidate in columns:
        header = candidate.name + (" (baseline)" if candidate.baseline else "")
        table.add_column(_text(header), justify="right", overflow="fold")
    for label, read, danger in _rows(report, columns):
        cells = [read(c) for c in columns]
        hits = [danger and cell not in {"0", "-"} for cell in cells]
        table.add_row(
            _text(label, DANGER_STYLE if any(hits) else ""),
            *(
                _text(cell, DANGER_STYLE if hit else "")
                for cell, hit in zip(cells, hits, strict=True)
            ),
        )
    return table


def disagreements_table(candidate: CandidateReport, limit: int = MAX_LISTED) -> Table | None:
    """The candidate's disagreements, dangerous first, each with the command to look."""
    if not candidate.disagreements:
        return None
    shown = candidate.disagreements[:limit]
    more = len(candidate.disagreements) - len(shown)
    table = Table(
        title=_text(
            f"{candidate.name}: {len(candidate.disagreements)} disagreements"
            + (f" (first {len(shown)}; all in --json and the HTML report)" if more else "")
        ),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        show_lines=True,
    )
    table.add_column("case", overflow="fold", max_width=22)
    table.add_column("why", overflow="fold", max_width=18)
    table.add_column("candidate / what happened", overflow="fold")
    for item in shown:
        danger = item.kinds[0].value == "dangerous"
        mark = "! " if danger else ""
        detail = Text()
        detail.append_text(_text(item.candidate_did))
        detail.append("\n")
        detail.append_text(_text(item.happened, "dim"))
        if item.show_command:
            detail.append("\n")
            detail.append_text(_text(item.show_command, "cyan"))
        table.add_row(
            _text(mark + item.case_id, DANGER_STYLE if danger else ""),
            _text(", ".join(k.value.replace("_", " ") for k in item.kinds)),
            detail,
        )
    return table


def report_renderables(report: EvalReport, limit: int = MAX_LISTED) -> list[RenderableType]:
    """What `claims eval` prints: the summary, then each candidate's disagreements."""
    parts: list[RenderableType] = [summary_table(report)]
    if report.skipped:
        count = len(report.skipped)
        parts.append(
            _text(f"{count} {'entry' if count == 1 else 'entries'} of the source skipped (--json)")
        )
    for candidate in report.candidates:
        table = disagreements_table(candidate, limit)
        if table is not None:
            parts.append(Text(""))
            parts.append(table)
    return parts


def report_text(report: EvalReport, *, width: int = REPORT_WIDTH, color: bool = False) -> str:
    """The terminal report as text `width` columns wide (colour codes only with `color`)."""
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        color_system="standard" if color else None,
        force_terminal=color,
        highlight=False,
        emoji=False,
        legacy_windows=False,
    )
    console.print(Group(*report_renderables(report)))
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
