"""Every page has one h1, headings in order and a label for every control."""

from __future__ import annotations

from tests.console.accessibility import problems
from tests.console.conftest import ConsoleClient, sign_in
from tests.timeskipping.conftest import WaitForPerson


def test_the_reading_finds_what_is_missing() -> None:
    """The checker itself: an unlabelled input, two h1 and a skipped level are all reported."""
    page = "<h1>a</h1><h3>b</h3><h1>c</h1><input id='x' name='x'><label for='y'>y</label>"
    assert ["no label for x", "2 h1 headings, not one", "heading h3 follows h1"] == problems(page)


async def test_sign_in_page_is_accessible(console_client: ConsoleClient) -> None:
    """The sign-in page, before and after a failed attempt."""
    async with console_client() as http:
        assert [] == problems((await http.get("/signin")).text)
        assert [] == problems((await sign_in(http, "maria", "wrong-password")).text)


async def test_claim_page_and_its_forms_are_accessible(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """The claim page with every action form maria may use, and its version endpoint."""
    async with (
        waiting_claim() as (review, state),
        console_client(review.client) as http,
    ):
        await sign_in(http, "maria", "maria-demo")
        page = (await http.get(f"/claims/{review.claim.claim_id}")).text
        version = (await http.get(f"/claims/{review.claim.claim_id}/version.json")).json()
    assert [] == problems(page)
    for action in (
        "approve",
        "reject",
        "edit",
        "request_info",
        "pause",
        "reassign",
        "interrupt",
        "cancel",
    ):
        assert f'id="form-{action}"' in page
    assert {"version": state.version, "step": "awaiting_manager_approval"} == version
    assert '<script src="/static/refresh.js"></script>' in page
