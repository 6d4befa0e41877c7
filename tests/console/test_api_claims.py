"""Claims over HTTP against the real worker on the time-skipping test server.

A posted claim is reviewed; the same post again, or a thousand at once, starts no second
review; a different claim under the same id is refused; reading a claim withholds personal
data from a token that may not read it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from console.api import WITHHELD, without_personal_data
from console.api_tokens import CLAIMS_READ, CLAIMS_READ_PERSONAL, create_token, tokens_file
from console.settings import ConsoleSettings
from signals.client import claim_handle
from tests.console.conftest import ConsoleClient
from tests.helpers import unique_claim, until_step
from tests.timeskipping.conftest import WorkerFactory
from workflows.state import Step


@dataclass
class Api:
    """An HTTP client on a console whose API starts claims on a running worker."""

    http: httpx.AsyncClient
    env: WorkflowEnvironment
    settings: ConsoleSettings

    def bearer(self, name: str, *scopes: str) -> dict[str, str]:
        """A header with a new token `name` (default scopes unless given)."""
        path = tokens_file(self.settings.secret_file.parent)
        secret = create_token(path, name, scopes) if scopes else create_token(path, name)
        return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def api(
    console_client: ConsoleClient,
    console_settings: ConsoleSettings,
    claims_worker: WorkerFactory,
    time_env: WorkflowEnvironment,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Api]:
    """The console's API with the worker's task queue; the worker runs until the test ends."""
    async with claims_worker() as (_, settings):
        monkeypatch.setenv("CLAIMS_TASK_QUEUE", settings.task_queue)
        async with console_client(time_env.client) as http:
            yield Api(http, time_env, console_settings)


def _claim(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = unique_claim("CLM-1002", **changes).model_dump(mode="json")
    return body


async def _waits_for_a_manager(api: Api, claim_id: str) -> None:
    """The review ran on the worker up to its human gate: a test that ends before the
    worker took the review's first task would leave that task to hold the test clock."""
    await until_step(claim_handle(api.env.client, claim_id), Step.AWAITING_MANAGER_APPROVAL)


async def _started_events(env: WorkflowEnvironment, claim_id: str) -> int:
    history = await claim_handle(env.client, claim_id).fetch_history()
    started = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    return sum(1 for event in history.events if event.event_type == started)


async def test_a_posted_claim_is_reviewed_and_the_same_post_again_starts_nothing(
    api: Api,
) -> None:
    """201 with Location, the review reaches a person; the retry answers 200, same review."""
    headers = api.bearer("portal")
    claim = _claim()
    first = await api.http.post("/api/claims", json=claim, headers=headers)
    assert first.status_code == 201, first.text
    assert first.headers["Location"] == f"/api/claims/{claim['claim_id']}"
    assert first.json()["review"] == "started"
    handle = claim_handle(api.env.client, claim["claim_id"])
    await until_step(handle, Step.AWAITING_MANAGER_APPROVAL)
    again = await api.http.post("/api/claims", json=claim, headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["review"] == "already under review"
    assert again.json()["step"] == str(Step.AWAITING_MANAGER_APPROVAL)
    assert await _started_events(api.env, claim["claim_id"]) == 1
    other = await api.http.post(
        "/api/claims", json={**claim, "amount": claim["amount"] + 1}, headers=headers
    )
    assert other.status_code == 409
    assert claim["claim_id"] in other.json()["errors"][0]["message"]


async def test_the_same_claim_posted_at_once_starts_one_review(api: Api) -> None:
    """Ten identical posts together: one 201, the others 200 for the same review."""
    headers = api.bearer("portal")
    claim = _claim()
    answers = await asyncio.gather(
        *(api.http.post("/api/claims", json=claim, headers=headers) for _ in range(10))
    )
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 1, 200: 9}, [a.text for a in answers if a.status_code >= 300]
    assert {a.json()["workflow_id"] for a in answers} == {f"claim-{claim['claim_id']}"}
    assert await _started_events(api.env, claim["claim_id"]) == 1
    await _waits_for_a_manager(api, claim["claim_id"])


async def test_a_burst_of_a_thousand_posts_starts_one_review_and_no_server_error(
    api: Api,
) -> None:
    """1,000 posts of one claim at once: the limiter's burst passes, the rest are 429."""
    api.http._transport.app.state.claims_api.limiter.clock = lambda: 0.0  # type: ignore[attr-defined]
    headers = api.bearer("portal")
    claim = _claim()
    answers = await asyncio.gather(
        *(api.http.post("/api/claims", json=claim, headers=headers) for _ in range(1000))
    )
    codes = Counter(a.status_code for a in answers)
    assert codes == {201: 1, 200: 99, 429: 900}, codes
    assert all(a.headers["Retry-After"] for a in answers if a.status_code == 429)
    assert await _started_events(api.env, claim["claim_id"]) == 1
    await _waits_for_a_manager(api, claim["claim_id"])


async def test_reading_a_claim_withholds_personal_data_without_the_scope(api: Api) -> None:
    """claims:read sees the review without names, description, uris; read-personal sees all."""
    writer = api.bearer("portal")
    reader = api.bearer("reader", CLAIMS_READ)
    personal = api.bearer("auditor", CLAIMS_READ, CLAIMS_READ_PERSONAL)
    claim = _claim(description="Burst pipe in Ann Example's kitchen")
    assert (await api.http.post("/api/claims", json=claim, headers=writer)).status_code == 201
    await until_step(
        claim_handle(api.env.client, claim["claim_id"]), Step.AWAITING_MANAGER_APPROVAL
    )
    url = f"/api/claims/{claim['claim_id']}"
    shown = await api.http.get(url, headers=reader)
    full = await api.http.get(url, headers=personal)
    assert shown.status_code == full.status_code == 200
    assert shown.json()["current_step"] == str(Step.AWAITING_MANAGER_APPROVAL)
    hidden = shown.json()["context"]["claim"]
    assert hidden["description"] == hidden["claimant"]["name"] == WITHHELD
    assert hidden["claimant"]["email"] == WITHHELD
    assert "Ann Example" not in shown.text
    assert claim["claimant"]["email"] not in shown.text
    assert full.json()["context"]["claim"]["description"] == claim["description"]
    missing = await api.http.get("/api/claims/CLM-never-posted", headers=reader)
    not_an_id = await api.http.get("/api/claims/bad%20id%1b", headers=reader)
    assert missing.status_code == not_an_id.status_code == 404
    assert missing.json() == not_an_id.json()
    no_scope = api.bearer("poster", "claims:write")
    assert (await api.http.get(url, headers=no_scope)).status_code == 403


def test_copies_of_personal_words_are_withheld_too() -> None:
    """The model's draft letter, a wait's detail and a transition's reason carry words of
    the claim or a person (a name, what was asked for, a cancelling comment): withheld."""
    name = "Ann Example"
    document: dict[str, Any] = {
        "current_step": "awaiting_documents",
        "context": {"assessment": {"customer_message": f"Dear {name}", "confidence": 0.9}},
        "pending_actions": [{"type": "documents", "detail": f"{name}'s repair invoice"}],
        "transitions": [
            {"to_step": "awaiting_documents", "reason": f"maria asked {name} for: invoice"},
            {"to_step": "cancelled", "reason": f"cancelled by maria: {name} withdrew"},
        ],
    }
    shown = without_personal_data(document)
    assert name not in repr(shown)
    assert shown["context"]["assessment"]["confidence"] == 0.9
    assert [t["to_step"] for t in shown["transitions"]] == ["awaiting_documents", "cancelled"]
