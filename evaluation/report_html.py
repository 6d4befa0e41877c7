"""The report as one standalone HTML page: inline CSS, inline SVG charts, no script.

The page must open from a CI artifact or an e-mail attachment, offline, from file://:
nothing is fetched, and its Content-Security-Policy forbids anything that would be.
Charts are drawn here, in Python, as shapes with numbers; the template only places them,
with Jinja2's autoescape on, so a case id such as `<script>` stays text. Every chart has
a title, a description and a table with the same numbers, for screen readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from evaluation.scoring import CandidateReport, EvalReport
from runtime.private_files import write_private_file
from runtime.text import printable
from workflows.evaluation import Route

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "eval_report.html.j2"
# Chart geometry, in SVG user units.
# A histogram drawn alone is as wide as a bar chart with this label column.
LABEL_WIDTH = 160
# A bar chart's label column is as wide as its longest label needs, at 12 px text: about
# 7 units a character, 10 for capitals and m, w (wider in every sans-serif); the template
# cuts a label at LABEL_MAX_CHARS characters, the last an ellipsis.
CHAR_WIDTH = 7
WIDE_CHAR_WIDTH = 10
WIDE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZmw@%")
LABEL_MAX_CHARS = 40
# Between a label's end and its bar, and before its start at the chart's left edge.
LABEL_GAP = 6
MIN_LABEL_WIDTH = 60
BAR_AREA = 400
BAR_HEIGHT = 18
BAR_GAP = 6
HISTOGRAM_BINS = 5
HISTOGRAM_HEIGHT = 120
# Wide enough for "final human" centred over the second column at 12 px.
CELL = 80


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: its label, its value as text, and its geometry."""

    label: str
    value: float
    text: str
    y: float
    width: float
    danger: bool = False


@dataclass(frozen=True)
class BarChart:
    chart_id: str
    title: str
    description: str
    bars: list[Bar]
    height: float
    unit: str = ""


@dataclass(frozen=True)
class HeatCell:
    candidate_route: str
    final_route: str
    count: int
    x: float
    y: float
    opacity: float
    danger: bool


@dataclass(frozen=True)
class HeatGrid:
    chart_id: str
    candidate: str
    title: str
    description: str
    cells: list[HeatCell]


@dataclass(frozen=True)
class Column:
    low: Decimal
    high: Decimal
    count: int
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Histogram:
    chart_id: str
    candidate: str
    currency: str
    title: str
    description: str
    columns: list[Column] = field(default_factory=list)
    width: float = 0


def _bars(
    chart_id: str,
    title: str,
    rows: list[tuple[str, float | None, str, bool]],
    unit: str = "",
    scale_max: float | None = None,
) -> BarChart:
    """Bars proportional to their values: the largest (or `scale_max`) fills the area."""
    known = [value for _, value, _, _ in rows if value is not None]
    top = scale_max if scale_max is not None else max(known, default=0.0)
    bars = []
    for index, (label, value, text, danger) in enumerate(rows):
        shown = value or 0.0
        width = BAR_AREA * shown / top if top > 0 else 0.0
        bars.append(
            Bar(
                label=label,
                value=shown,
                text=text if value is not None else "unknown",
                y=index * (BAR_HEIGHT + BAR_GAP),
                width=round(width, 3),
                danger=danger,
            )
        )
    description = "; ".join(f"{b.label}: {b.text}" for b in bars)
    return BarChart(
        chart_id=chart_id,
        title=title,
        description=description,
        bars=bars,
        height=max(len(bars), 1) * (BAR_HEIGHT + BAR_GAP),
        unit=unit,
    )


def label_width(charts: list[BarChart]) -> int:
    """The label column that holds every bar's label as the template shows it.

    Labels are drawn right-aligned against their bar; a column narrower than a label cut
    its start off at the chart's left edge ("…ate needless referrals").
    """
    widest = 0
    for chart in charts:
        for bar in chart.bars:
            shown = printable(bar.label)
            if len(shown) > LABEL_MAX_CHARS:
                shown = shown[: LABEL_MAX_CHARS - 1] + "…"
            widest = max(
                widest,
                sum(WIDE_CHAR_WIDTH if c in WIDE_CHARS else CHAR_WIDTH for c in shown),
            )
    return max(MIN_LABEL_WIDTH, widest + 2 * LABEL_GAP)


def _columns(report: EvalReport) -> list[CandidateReport]:
    return [*report.candidates, *([report.baseline] if report.baseline else [])]


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def agreement_chart(report: EvalReport) -> BarChart:
    rows: list[tuple[str, float | None, str, bool]] = []
    for candidate in _columns(report):
        for what, agreement in (
            ("route", candidate.route),
            ("recommendation", candidate.recommendation),
        ):
            rows.append(
                (
                    f"{candidate.name} {what}",
                    agreement.rate,
                    f"{_percent(agreement.rate)} ({agreement.agree} of {agreement.compared})",
                    False,
                )
            )
    return _bars("agreement", "Agreement with the final decision", rows, "%", scale_max=1.0)


def dangerous_chart(report: EvalReport) -> BarChart:
    rows: list[tuple[str, float | None, str, bool]] = []
    for candidate in _columns(report):
        rows.append(
            (
                f"{candidate.name} dangerous",
                len(candidate.dangerous),
                str(len(candidate.dangerous)),
                True,
            )
        )
        needless = len(candidate.needless_referrals)
        rows.append((f"{candidate.name} needless referrals", needless, str(needless), False))
    return _bars("dangerous", "Dangerous cells and needless referrals", rows)


def confusion_grid(candidate: CandidateReport, index: int) -> HeatGrid:
    counts = candidate.route_confusion
    top = max((n for row in counts.values() for n in row.values()), default=0)
    routes = [route.value for route in Route]
    cells = [
        HeatCell(
            candidate_route=mine,
            final_route=final,
            count=counts[mine][final],
            x=column * CELL,
            y=row * CELL,
            opacity=round(0.08 + 0.92 * counts[mine][final] / top, 3) if top else 0.08,
            danger=mine == Route.AUTO.value and final == Route.HUMAN.value,
        )
        for row, mine in enumerate(routes)
        for column, final in enumerate(routes)
    ]
    description = "; ".join(
        f"candidate {c.candidate_route}, finally {c.final_route}: {c.count}" for c in cells
    )
    return HeatGrid(
        chart_id=f"confusion-{index}",
        candidate=candidate.name,
        title=f"Routes of {candidate.name} against the final route",
        description=description,
        cells=cells,
    )


def histograms(
    candidate: CandidateReport, index: int, label_width: float = LABEL_WIDTH
) -> list[Histogram]:
    """One histogram of payout errors per currency, as wide as the bar charts."""
    found = []
    for number, error in enumerate(candidate.payout_error):
        values = error.abs_errors
        top = max(values, default=Decimal(0))
        step = top / HISTOGRAM_BINS if top > 0 else Decimal(1)
        counts = [0] * HISTOGRAM_BINS
        for value in values:
            counts[min(int(value / step), HISTOGRAM_BINS - 1)] += 1
        tallest = max(counts, default=0) or 1
        width = (BAR_AREA + label_width) / HISTOGRAM_BINS
        columns = []
        for bin_index, count in enumerate(counts):
            height = HISTOGRAM_HEIGHT * count / tallest
            columns.append(
                Column(
                    low=(step * bin_index).quantize(Decimal("0.01")),
                    high=(step * (bin_index + 1)).quantize(Decimal("0.01")),
                    count=count,
                    x=bin_index * width,
                    y=HISTOGRAM_HEIGHT - height,
                    height=round(height, 3),
                )
            )
        found.append(
            Histogram(
                chart_id=f"payout-{index}-{number}",
                candidate=candidate.name,
                currency=error.currency,
                title=f"Payout error of {candidate.name}, {error.currency}",
                description="; ".join(
                    f"{c.low} to {c.high} {error.currency}: {c.count} claims" for c in columns
                ),
                columns=columns,
                width=width,
            )
        )
    return found


def usage_charts(report: EvalReport) -> list[BarChart]:
    measured = [c for c in report.candidates if c.usage is not None]
    latency_rows: list[tuple[str, float | None, str, bool]] = []
    cost_rows: list[tuple[str, float | None, str, bool]] = []
    for candidate in measured:
        usage = candidate.usage
        assert usage is not None
        for which in ("mean_ms", "p50_ms", "p90_ms"):
            value = getattr(usage.latency, which) if usage.latency else None
            text = "-" if value is None else f"{value:,.0f} ms"
            latency_rows.append(
                (f"{candidate.name} {which.removesuffix('_ms')}", value, text, False)
            )
        cost = usage.cost_per_claim
        cost_rows.append(
            (
                candidate.name,
                None if cost is None else float(cost),
                "-" if cost is None else f"${cost:.5f}",
                False,
            )
        )
    return [
        _bars("latency", "Model time per claim", latency_rows, "ms"),
        _bars("cost", "Estimated model cost per claim (USD)", cost_rows, "$"),
    ]


def render_html(report: EvalReport) -> str:
    """The whole page as text; every value from the report is escaped by the template."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html", "j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["printable"] = lambda value: printable(str(value))
    columns = _columns(report)
    agreement, dangerous, usage = (
        agreement_chart(report),
        dangerous_chart(report),
        usage_charts(report),
    )
    # One label column for every bar chart, so their bars start at the same place.
    labels = label_width([agreement, dangerous, *usage])
    return environment.get_template(TEMPLATE).render(
        report=report,
        columns=columns,
        agreement=agreement,
        dangerous=dangerous,
        grids=[confusion_grid(c, i) for i, c in enumerate(columns)],
        histograms=[h for i, c in enumerate(columns) for h in histograms(c, i, labels)],
        usage=usage,
        label_width=labels,
        label_max_chars=LABEL_MAX_CHARS,
        bar_area=BAR_AREA,
        bar_height=BAR_HEIGHT,
        cell=CELL,
        histogram_height=HISTOGRAM_HEIGHT,
    )


def write_html_report(file: Path, report: EvalReport, *, force: bool = False) -> Path:
    """Write the page readable by its owner only, in one step; never replace a file (or
    follow a link) unless `force`. Returns the path written."""
    write_private_file(file, render_html(report), force=force)
    return file
