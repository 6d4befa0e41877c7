"""The evaluation's HTML report in headless Chromium: charts drawn to scale, offline, and
people's text kept as text. Also how the page is written: 0600, whole, never over a file
unless asked."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from evaluation.pricing import Pricing
from evaluation.report_html import render_html, write_html_report
from evaluation.scoring import EvalReport, score
from runtime.errors import UserFacingError
from tests.unit.test_eval_scoring import hand_computed_result

SCRIPT_ID = "<script>alert('case')</script>"


@pytest.fixture
def report() -> EvalReport:
    """The hand-computed set, with C3's id an attempt at running a script."""
    return score(hand_computed_result({"C3": SCRIPT_ID}), Pricing())


async def _open(browser: Browser, file: Path) -> tuple[Page, list[str], list[str]]:
    """The page from file://, with every request it makes and every dialog it opens."""
    page = await browser.new_page()
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(file.as_uri())
    return page, requests, dialogs


async def _widths(page: Page, selector: str) -> dict[str, float]:
    boxes: dict[str, float] = {}
    for bar in await page.locator(selector).all():
        label = await bar.get_attribute("data-label")
        box = await bar.bounding_box()
        assert label is not None
        boxes[label] = box["width"] if box else 0.0
    return boxes


async def test_the_charts_are_drawn_to_scale(
    browser: Browser, report: EvalReport, tmp_path: Path
) -> None:
    """Agreement bars are as wide as their rates (careful's route 5/6 of the original's 7/7,
    approve-all's 2/8 a quarter of it); every chart has a visible box; nothing is fetched."""
    file = write_html_report(tmp_path / "report.html", report)
    page, requests, _ = await _open(browser, file)
    assert "Evaluation demo: 8 cases" == await page.title()
    widths = await _widths(page, "#chart-agreement rect.bar")
    full = widths["original route"]
    assert full > 100
    assert widths["careful route"] / full == pytest.approx(5 / 6, rel=0.01)
    assert widths["approve-all route"] / full == pytest.approx(0.25, rel=0.01)
    assert widths["approve-all recommendation"] / full == pytest.approx(0.625, rel=0.01)
    dangerous = await _widths(page, "#chart-dangerous rect.bar")
    assert dangerous["careful dangerous"] / dangerous["approve-all dangerous"] == pytest.approx(
        1 / 5, rel=0.01
    )
    for chart in ("agreement", "dangerous", "confusion-0", "payout-1-0", "latency", "cost"):
        box = await page.locator(f"#chart-{chart}").bounding_box()
        assert box is not None
        assert box["width"] > 0
        assert box["height"] > 0
    cells = page.locator("#chart-confusion-1 rect.cell")
    assert 4 == await cells.count()
    for cell in await cells.all():
        box = await cell.bounding_box()
        assert box is not None
        assert box["width"] > 0
    columns = page.locator("#chart-payout-1-0 rect.column")
    heights = [((await c.bounding_box()) or {"height": 0.0})["height"] for c in await columns.all()]
    # approve-all's EUR errors 0, 500, 0 fall in the first bin (2) and the last (1).
    assert heights[0] == pytest.approx(2 * heights[4], rel=0.01)
    assert [] == [url for url in requests if not url.startswith("file://")]
    await page.close()


def _renamed(report: EvalReport, *names: str) -> EvalReport:
    """The report with its candidates renamed, in order: labels as long as names get."""
    candidates = [
        c.model_copy(update={"name": n}) for c, n in zip(report.candidates, names, strict=True)
    ]
    return report.model_copy(update={"candidates": candidates})


@pytest.mark.parametrize(
    "names",
    [
        (),
        ("candidate", "WIDE-MMMMWWWW-NAME-0123456789ab"),
        ("a", "b"),
    ],
    ids=["as-named", "long-names", "short-names"],
)
async def test_every_label_lies_inside_its_chart(
    browser: Browser, report: EvalReport, tmp_path: Path, names: tuple[str, ...]
) -> None:
    """No text of a chart is cut at its edges: "candidate needless referrals", capitals
    and the longest name a candidate may have are drawn whole inside their SVG."""
    if names:
        report = _renamed(report, *names)
    page, _, _ = await _open(browser, write_html_report(tmp_path / "report.html", report))
    outside = []
    for chart in await page.locator("svg").all():
        frame = await chart.bounding_box()
        assert frame is not None
        for text in await chart.locator("text").all():
            box = await text.bounding_box()
            assert box is not None
            if (
                box["x"] < frame["x"] - 0.5
                or box["y"] < frame["y"] - 0.5
                or box["x"] + box["width"] > frame["x"] + frame["width"] + 0.5
                or box["y"] + box["height"] > frame["y"] + frame["height"] + 0.5
            ):
                outside.append((await chart.get_attribute("id"), await text.text_content()))
    assert [] == outside, outside
    if "candidate" in names:
        assert await page.get_by_text("candidate needless referrals", exact=True).count() >= 1
    await page.close()


async def test_every_chart_is_labelled_for_screen_readers(
    browser: Browser, report: EvalReport, tmp_path: Path
) -> None:
    """Each chart is an image named by its own title and description, with a table after."""
    file = write_html_report(tmp_path / "report.html", report)
    page, _, _ = await _open(browser, file)
    charts = page.locator("svg")
    assert await charts.count() >= 8
    for chart in await charts.all():
        assert "img" == await chart.get_attribute("role")
        labelled_by = await chart.get_attribute("aria-labelledby")
        assert labelled_by is not None
        for part in labelled_by.split():
            assert (await page.locator(f"#{part}").text_content() or "").strip()
    assert await page.locator("figure table").count() >= 8
    await page.close()


async def test_a_case_id_with_a_script_stays_text(
    browser: Browser, report: EvalReport, tmp_path: Path
) -> None:
    """The page has no script element; the id is shown as written, and nothing ran."""
    file = write_html_report(tmp_path / "report.html", report)
    page, _, dialogs = await _open(browser, file)
    assert 0 == await page.locator("script").count()
    assert await page.get_by_text(SCRIPT_ID, exact=True).count() >= 2
    assert [] == dialogs
    await page.close()


def test_the_page_is_standalone() -> None:
    """No external asset or script; a policy forbids fetching anything."""
    page = render_html(score(hand_computed_result(), Pricing()))
    assert "<script" not in page
    assert "http://" not in page
    assert "https://" not in page
    assert "default-src 'none'" in page


def test_the_page_is_private_and_never_replaces_a_file(tmp_path: Path) -> None:
    """Written 0600; a second write is refused without force and replaces with it; a
    folder or a missing folder is a plain error."""
    report = score(hand_computed_result(), Pricing())
    file = tmp_path / "report.html"
    write_html_report(file, report)
    assert 0o600 == stat.S_IMODE(file.stat().st_mode)
    file.write_text("mine")
    with pytest.raises(UserFacingError, match="already exists; choose another name or add --force"):
        write_html_report(file, report)
    assert "mine" == file.read_text()
    write_html_report(file, report, force=True)
    assert file.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(UserFacingError, match="is a folder"):
        write_html_report(tmp_path, report)
    with pytest.raises(UserFacingError, match="cannot write in"):
        write_html_report(tmp_path / "missing" / "report.html", report)
    assert ["report.html"] == sorted(p.name for p in tmp_path.iterdir())


def test_a_link_in_the_way_is_not_followed(tmp_path: Path) -> None:
    """A symlink at the name is refused, and its target left as it was."""
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    (tmp_path / "report.html").symlink_to(target)
    with pytest.raises(UserFacingError, match="already exists"):
        write_html_report(tmp_path / "report.html", score(hand_computed_result(), Pricing()))
    assert "keep" == target.read_text()
