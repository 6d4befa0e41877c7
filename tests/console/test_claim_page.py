"""The claim page against a real worker on the time-skipping server: acting, conflicts,
refusals and people's text, through HTTP.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from runtime.settings import CONSOLE_PUBLIC_KEY_FILE
from signals.signing import public_key_id
from tests.console.conftest import Clock, ConsoleClient, form_token, sign_in
from tests.helpers import unique_claim
from tests.timeskipping.conftest import WaitForPerson
from workflows.authority import ReviewPolicy, Role
from workflows.state import Step


async def test_approving_from_the_claim_page_completes_the_claim(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """maria approves at the version she saw; the claim pays and completes."""
    async with waiting_claim() as (review, state), console_client(review.client) as http:
        await sign_in(http, "maria", "maria-demo")
        page = await http.get(f"/claims/{review.claim.claim_id}")
        assert 200 == page.status_code
        assert 'id="form-approve"' in page.text
        response = await http.post(
            f"/claims/{review.claim.claim_id}/act",
            data={
                "csrf_token": form_token(page.text),
                "action": "approve",
                "expected_version": str(state.version),
                "comment": "checked",
            },
        )
        assert 303 == response.status_code
        assert Step.COMPLETED == (await review.until(Step.COMPLETED)).current_step
        assert 1 == len(review.payouts())


async def test_a_stale_version_shows_the_claim_as_it_moved_on(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """A form from an older version does nothing and shows the claim's current state."""
    async with waiting_claim() as (review, state), console_client(review.client) as http:
        await sign_in(http, "maria", "maria-demo")
        page = await http.get(f"/claims/{review.claim.claim_id}")
        response = await http.post(
            f"/claims/{review.claim.claim_id}/act",
            data={
                "csrf_token": form_token(page.text),
                "action": "approve",
                "expected_version": str(state.version - 1),
            },
        )
        assert 409 == response.status_code
        assert "has moved on" in response.text
        assert f"version {state.version}" in response.text
        after = await review.state()
        assert state.version == after.version
        assert Step.AWAITING_MANAGER_APPROVAL == after.current_step


async def test_a_refusal_shows_the_claims_reason(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """sam approving over his limit is refused; the page shows the claim's own reason."""
    async with (
        waiting_claim("CLM-1003") as (review, state),
        console_client(review.client) as http,
    ):
        await sign_in(http, "sam", "sam-demo")
        page = await http.get(f"/claims/{review.claim.claim_id}")
        response = await http.post(
            f"/claims/{review.claim.claim_id}/act",
            data={
                "csrf_token": form_token(page.text),
                "action": "approve",
                "expected_version": str(state.version),
            },
        )
        assert 409 == response.status_code
        assert "approval limit" in response.text
        assert Step.AWAITING_MANAGER_APPROVAL == (await review.state()).current_step


async def test_peoples_text_is_printed_as_text(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """A description with a script tag is shown escaped, never as markup."""
    text = "Broken <script>alert(1)</script> lens"
    async with (
        waiting_claim(unique_claim("CLM-1002", description=text)) as (review, _state),
        console_client(review.client) as http,
    ):
        await sign_in(http, "maria", "maria-demo")
        page = await http.get(f"/claims/{review.claim.claim_id}")
        assert 200 == page.status_code
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_operator_actions_are_offered_only_to_the_roles_granted(
    console_client: ConsoleClient, waiting_claim: WaitForPerson, policy: ReviewPolicy
) -> None:
    """With operators limited to directors, maria sees no pause form and a forged one is 403."""
    directors_only = policy.model_copy(update={"operator_roles": [Role.DIRECTOR]})
    async with (
        waiting_claim() as (review, state),
        console_client(review.client, directory=directors_only) as http,
    ):
        await sign_in(http, "maria", "maria-demo")
        page = await http.get(f"/claims/{review.claim.claim_id}")
        assert 'id="form-approve"' in page.text
        assert 'id="form-pause"' not in page.text
        response = await http.post(
            f"/claims/{review.claim.claim_id}/act",
            data={
                "csrf_token": form_token(page.text),
                "action": "pause",
                "expected_version": str(state.version),
            },
        )
        assert 403 == response.status_code
        assert "You may not pause" in response.text
        assert not (await review.state()).paused


async def test_an_edit_is_previewed_then_sent_and_the_approval_pays_it(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """Preview shows the payout's old and new value and sends nothing; the edit then goes,
    and maria's approval pays the edited amount.
    """
    async with (
        waiting_claim() as (review, state),
        console_client(review.client) as http,
    ):
        await sign_in(http, "maria", "maria-demo")
        url = f"/claims/{review.claim.claim_id}"
        token = form_token((await http.get(url)).text)
        edit = {
            "csrf_token": token,
            "action": "edit",
            "expected_version": str(state.version),
            "payout_amount": "1,100.50",
            "comment": "receipt <b>checked</b>",
        }
        preview = await http.post(f"{url}/act", data=edit | {"intent": "preview"})
        assert 200 == preview.status_code
        assert state.context.proposal is not None
        assert f"<del>{state.context.proposal.payout_amount:,.2f}</del>" in preview.text
        assert "<ins>1,100.50</ins>" in preview.text
        assert "receipt &lt;b&gt;checked&lt;/b&gt;</textarea>" in preview.text
        assert state.version == (await review.state()).version
        sent = await http.post(f"{url}/act", data=edit)
        assert 303 == sent.status_code
        edited = await review.state()
        assert edited.context.proposal is not None
        assert "1100.50" == f"{edited.context.proposal.payout_amount:.2f}"
        approve = {
            "csrf_token": token,
            "action": "approve",
            "expected_version": str(edited.version),
        }
        assert 303 == (await http.post(f"{url}/act", data=approve)).status_code
        await review.until(Step.COMPLETED)
        assert ["1100.50"] == [f"{float(amount):.2f}" for _, amount in review.payouts()]


async def test_a_form_mistake_keeps_what_was_typed(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """An amount that is no number, or a missing reason: 400, nothing sent, the text kept."""
    async with (
        waiting_claim() as (review, state),
        console_client(review.client) as http,
    ):
        await sign_in(http, "maria", "maria-demo")
        url = f"/claims/{review.claim.claim_id}"
        token = form_token((await http.get(url)).text)
        base = {"csrf_token": token, "expected_version": str(state.version)}
        bad_amount = await http.post(
            f"{url}/act",
            data=base | {"action": "edit", "payout_amount": "12abc", "comment": "my long note"},
        )
        no_reason = await http.post(f"{url}/act", data=base | {"action": "reject", "comment": " "})
        unknown = await http.post(f"{url}/act", data=base | {"action": "delete_everything"})
        huge = await http.post(
            f"{url}/act", data=base | {"action": "reject", "comment": "x" * 5000}
        )
        after = await review.state()
    assert 400 == bad_amount.status_code
    assert "is not an amount" in bad_amount.text
    assert "my long note</textarea>" in bad_amount.text
    assert 400 == no_reason.status_code
    assert "this field is required" in no_reason.text
    assert 400 == unknown.status_code
    assert 400 == huge.status_code
    assert (state.version, Step.AWAITING_MANAGER_APPROVAL) == (after.version, after.current_step)


async def test_a_console_approval_is_signed_by_the_console_and_verified(
    console_client: ConsoleClient,
    waiting_claim: WaitForPerson,
    time_env: WorkflowEnvironment,
) -> None:
    """With the console's key made before the claim read its policy, maria's approval from
    the console carries the console's signature and the audit log says who verified it.
    """
    clock = Clock()
    # The console first: its key exists before the claim reads its policy.
    async with (
        console_client(time_env.client, clock=clock) as http,
        waiting_claim() as (review, state),
    ):
        clock.at = await time_env.get_current_time()
        await sign_in(http, "maria", "maria-demo")
        page = await http.get(f"/claims/{review.claim.claim_id}")
        response = await http.post(
            f"/claims/{review.claim.claim_id}/act",
            data={
                "csrf_token": form_token(page.text),
                "action": "approve",
                "expected_version": str(state.version),
            },
        )
        final = await review.until(Step.COMPLETED)

    assert 303 == response.status_code
    [approval] = [e for e in final.audit_log if e.action == "approve"]
    public = (review.settings.data_dir / CONSOLE_PUBLIC_KEY_FILE).read_text().strip()
    assert public_key_id(public) == approval.verified_by


async def test_the_claim_page_sums_up_each_tools_finding_and_shows_the_timeline(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """Evidence reads as one line per tool (not raw data), and the latest events are listed."""
    async with waiting_claim() as (review, _state), console_client(review.client) as http:
        await sign_in(http, "maria", "maria-demo")
        page = (await http.get(f"/claims/{review.claim.claim_id}")).text

    evidence = page[page.index("<h2>Evidence</h2>") : page.index("<h2>Reasoning</h2>")]
    assert "covered; payable 1,250.00" in evidence
    assert "{&#39;" not in evidence
    timeline = page[page.index("<h2>Timeline</h2>") :]
    assert "started" in timeline
    # The run resting at the gate says where it carries on, whatever the run before holds.
    assert "carries on at awaiting_manager_approval, waiting on approvers" in timeline


async def test_only_an_edit_has_a_preview_and_the_notice_prints_only_what_happened(
    console_client: ConsoleClient, waiting_claim: WaitForPerson
) -> None:
    """A hand-made "preview" of a reject does nothing; a crafted ?done= link shows no text."""
    async with waiting_claim() as (review, state), console_client(review.client) as http:
        await sign_in(http, "maria", "maria-demo")
        claim_url = f"/claims/{review.claim.claim_id}"
        page = await http.get(claim_url)
        preview = await http.post(
            f"{claim_url}/act",
            data={
                "csrf_token": form_token(page.text),
                "action": "reject",
                "intent": "preview",
                "expected_version": str(state.version),
                "comment": "no",
            },
        )
        after = await review.state()
        crafted = await http.get(f"{claim_url}?done=approve. Call +1 555 0100&version=7")

    assert 400 == preview.status_code
    assert state.version == after.version
    assert "555 0100" not in crafted.text
