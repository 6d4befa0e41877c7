"""A reading of a page's HTML for what a keyboard and screen-reader user needs."""

from __future__ import annotations

from html.parser import HTMLParser


class PageReading(HTMLParser):
    """Headings in order, and the ids of labels and of the controls that need one."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.labelled: set[str] = set()
        self.controls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
            self.headings.append(int(tag[1]))
        elif tag == "label" and values.get("for"):
            self.labelled.add(values["for"] or "")
        elif tag in {"input", "textarea", "select"} and values.get("type") != "hidden":
            self.controls.append(values.get("id") or f"<{tag} name={values.get('name')}>")


def problems(page: str) -> list[str]:
    """What stops a keyboard or screen-reader user on `page`; empty when nothing does."""
    reading = PageReading()
    reading.feed(page)
    found = [
        f"no label for {control}" for control in reading.controls if control not in reading.labelled
    ]
    if reading.headings.count(1) != 1:
        found.append(f"{reading.headings.count(1)} h1 headings, not one")
    for before, after in zip(reading.headings, reading.headings[1:], strict=False):
        if after > before + 1:
            found.append(f"heading h{after} follows h{before}")
    if reading.headings and reading.headings[0] != 1:
        found.append("the first heading is not the h1")
    return found
