"""What the Temporal web UI shows of a review: activity summaries, refusals, rollbacks.

The summaries and the current details are what an operator reads in the UI without our
tools; they must say what happened and never name the claimant.
"""

from __future__ import annotations

from typing import Any

from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1 import WorkflowMetadata

from history.timeline import Kind, timeline_rows
from signals.messages import ROLLED_BACK
from tests.helpers import eventually, every_run_history
from tests.keys import encrypted_test_converter
from tests.timeskipping.conftest import Review, WaitForPerson
from workflows.claim_review import ClaimReviewWorkflow
from workflows.evidence import AGENT_TURN
from workflows.review_book import SHOWN_REFUSALS
from workflows.state import AuditOutcome, ClaimState, OutcomeStatus
from workflows.tools import TOOLS


async def decoded_events(review: Review) -> list[HistoryEvent]:
    """The claim's history, every run, as our tools read it: every payload decrypted."""
    return list((await every_run_history(review.handle)).events)


def summaries_by_activity(events: list[HistoryEvent]) -> list[tuple[str, str]]:
    """(activity name, summary) of every activity the review scheduled, in order."""
    found = []
    for event in events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            summary: Any = ""
            if event.user_metadata.HasField("summary"):
                [summary] = encrypted_test_converter().payload_converter.from_payloads(
                    [event.user_metadata.summary], [str]
                )
            found.append((name, summary))
    return found


async def current_details(review: Review) -> str:
    """The details the web UI shows beside the workflow (its built-in metadata query)."""
    metadata = await review.handle.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    details: str = metadata.current_details
    return details


async def test_every_activity_has_a_summary_that_names_no_claimant(
    waiting_claim: WaitForPerson,
) -> None:
    """Policy, registration, each model turn, each tool, payout and notice have a summary;
    tools use the catalogue's wording; no summary holds the claimant's name, email,
    description, document URIs or the policy number."""
    async with waiting_claim("CLM-1002") as (review, _):
        await review.handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        await review.outcome()
        summaries = summaries_by_activity(await decoded_events(review))

    claim = review.claim
    private = [
        claim.claimant.name,
        claim.claimant.email,
        claim.description,
        claim.policy_number,
        *(d.uri for d in claim.documents),
    ]
    names = {name for name, _ in summaries}
    assert {"load_review_policy", "register_reviewed_claim", AGENT_TURN, "issue_payout"} <= names
    assert "send_notice" in names
    assert set(TOOLS) <= names
    assert [] == [name for name, summary in summaries if not summary]
    assert [] == [
        (name, summary)
        for name, summary in summaries
        if name in TOOLS and summary != TOOLS[name].summary
    ]
    assert [] == [
        (summary, text)
        for _, summary in summaries
        for text in private
        if text.casefold() in summary.casefold()
    ]
    assert ("issue_payout", f"Pay 1,250.00 USD for claim {claim.claim_id}") in summaries


async def test_refusals_show_in_the_current_details_and_the_timeline(
    waiting_claim: WaitForPerson,
) -> None:
    """Four refused signals: the details list the newest three, newest first, with who and
    why; the timeline given the audit log marks each signal refused or accepted."""
    async with waiting_claim("CLM-1002") as (review, _):
        handle = review.handle
        await handle.signal(ClaimReviewWorkflow.approve, {"approver": "nobody"})
        await handle.signal(ClaimReviewWorkflow.approve, {"comment": "no approver"})
        await handle.signal("aprove", {"approver": "sam"})
        await handle.signal(ClaimReviewWorkflow.resume, {"operator": "lee*[x](y)"})
        refused = await eventually(
            review.state, lambda s: len(refused_entries(s)) == 4, what="four refusals recorded"
        )
        details = await current_details(review)
        await handle.signal(ClaimReviewWorkflow.approve, {"approver": "maria"})
        outcome = await review.outcome()
        final = await review.state()
        rows = timeline_rows(await decoded_events(review), final.audit_log)

    assert OutcomeStatus.COMPLETED == outcome.status
    assert ["approve", "approve", "aprove", "resume"] == refused_entries(refused)
    shown = details.split("**Refused lately** (newest first):\n")[1].splitlines()
    assert SHOWN_REFUSALS == len(shown) == 3
    assert shown[0].startswith("- ")
    assert " UTC: resume from lee\\*\\[x\\](y): " in shown[0]
    assert " UTC: aprove from sam: unknown signal 'aprove'" in shown[1]
    assert " UTC: approve from unknown: invalid payload: approver: " in shown[2]
    assert "nobody" not in details  # the oldest of the four is no longer listed
    signals = [r for r in rows if r.kind is Kind.SIGNAL]
    assert 5 == len(signals)
    assert [True, True, True, True, False] == [r.problem for r in signals]
    assert signals[0].description.startswith("approve signal by nobody -> refused: ")
    assert "not in the approver directory" in signals[0].description
    assert signals[2].description.startswith("aprove signal by sam -> refused: unknown signal")
    assert signals[4].description == "approve signal by maria -> accepted"


def refused_entries(state: ClaimState) -> list[str]:
    """The actions the audit log lists as refused, oldest first."""
    return [e.action for e in state.audit_log if e.outcome is AuditOutcome.REFUSED]


async def test_a_rollback_record_sent_by_hand_is_refused(waiting_claim: WaitForPerson) -> None:
    """`rolled_back` is taken only by a run a reset made: sent to any other run, it is
    refused and says so, so no one can log a rollback that never happened."""
    async with waiting_claim("CLM-1002") as (review, waiting):
        await review.handle.signal(
            ROLLED_BACK, {"operator": "maria", "reason": "pretend", "to_version": 2}
        )
        state = await eventually(
            review.state,
            lambda s: ROLLED_BACK in refused_entries(s),
            what="the rollback record refused",
        )
        details = await current_details(review)

    [entry] = [e for e in state.audit_log if e.action == ROLLED_BACK]
    assert ("maria", AuditOutcome.REFUSED) == (entry.actor, entry.outcome)
    assert "this run was not made by a rollback" in entry.detail
    assert waiting.version == state.version
    assert "rolled_back from maria: this run was not made by a rollback" in details.replace(
        "\\_", "_"
    )
