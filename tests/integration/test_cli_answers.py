"""People's actions answer with where the claim went, and finished claims say how they ended.

Runs the `claims` app in-process (in a thread: each command runs its own event loop)
against a real dev server and worker, connected with `--address`, so the commands'
own connection line is checked too. Each answer is read once the command has returned:
the CLI follows the claim itself; the test gives it a long window, so a busy machine
never turns "now completed" into "still executing".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

import signals.client
from cli.main import app
from runtime.devserver import DevServer
from signals.client import claim_handle
from starter import start_claim
from tests.helpers import state_of, unique_claim, until_step
from tests.integration.conftest import WorkerProcess
from workflows.state import Step

pytestmark = pytest.mark.integration

QUEUE = "claim-review-it"


def claims_at(server: DevServer) -> Callable[..., Result]:
    """Run `claims --address <server> ...` in-process, as a person would type it."""

    def claims(*args: str) -> Result:
        return CliRunner().invoke(app, ["--address", server.address, *args])

    return claims


def words(text: str) -> str:
    """Output with the terminal's line wrapping undone, for matching sentences."""
    return " ".join(text.split())


async def test_actions_report_where_the_claim_settled_and_finished_claims_say_how(
    dev_server: DevServer, worker_process: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """approve answers "now completed, paid ..."; a second approve names who approved and
    when, never a wrong id; request-info answers "now awaiting_documents"; a terminated
    claim says so; an unknown id names the server asked; each command names its server
    once, on stderr."""
    monkeypatch.setattr(signals.client, "SETTLE_SECONDS", 600.0)
    client = await dev_server.start()
    worker_process()
    paid, asked, ended = (unique_claim("CLM-1002") for _ in range(3))
    for claim in (paid, asked, ended):
        await start_claim(client, claim, QUEUE)
    for claim in (paid, asked):
        await until_step(claim_handle(client, claim.claim_id), Step.AWAITING_MANAGER_APPROVAL)
    claims = claims_at(dev_server)

    approved = await asyncio.to_thread(claims, "approve", paid.claim_id, "--as", "maria")
    again = await asyncio.to_thread(claims, "approve", paid.claim_id, "--as", "sam")
    info = await asyncio.to_thread(
        claims, "request-info", asked.claim_id, "--as", "maria", "--what", "the invoice"
    )
    await claim_handle(client, ended.claim_id).terminate(reason="duplicate filing")
    terminated = await asyncio.to_thread(claims, "pause", ended.claim_id, "--as", "lee")
    unknown = await asyncio.to_thread(claims, "approve", "CLM-NO-SUCH", "--as", "maria")

    assert 0 == approved.exit_code, approved.output
    assert f"approve accepted (claim {paid.claim_id}, version" in words(approved.stdout)
    assert "now completed, paid 1,250.00 USD" in words(approved.stdout)
    where = f"Temporal {dev_server.address}, namespace default"
    assert [where] == [line for line in approved.stderr.splitlines() if "Temporal" in line]

    assert 1 == again.exit_code
    decided = (await state_of(claim_handle(client, paid.claim_id))).outcome
    assert decided is not None
    assert (
        f"{paid.claim_id} is already completed (approved by maria at "
        f"{decided.decided_at:%Y-%m-%d %H:%M} UTC, paid 1,250.00 USD); nothing was changed"
    ) in words(again.stderr)
    assert "check the claim id" not in again.output

    assert 0 == info.exit_code, info.output
    assert "now awaiting_documents, waiting for claimant" in words(info.stdout)

    assert 1 == terminated.exit_code
    assert f"{ended.claim_id} was terminated at" in words(terminated.stderr)
    assert "duplicate filing" in words(terminated.stderr)

    assert 1 == unknown.exit_code
    assert (
        f"no claim CLM-NO-SUCH on this server (Temporal at {dev_server.address}, namespace default)"
    ) in words(unknown.stderr)


async def test_a_signal_is_followed_until_the_claim_rests(
    dev_server: DevServer, worker_process: WorkerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--signal waits for the worker to record the action, then for the claim to rest."""
    monkeypatch.setattr(signals.client, "SETTLE_SECONDS", 600.0)
    client = await dev_server.start()
    worker_process()
    claim = unique_claim("CLM-1002")
    await start_claim(client, claim, QUEUE)
    await until_step(claim_handle(client, claim.claim_id), Step.AWAITING_MANAGER_APPROVAL)

    result = await asyncio.to_thread(
        claims_at(dev_server), "approve", claim.claim_id, "--as", "maria", "--signal"
    )

    assert 0 == result.exit_code, result.output
    assert f"approve accepted (claim {claim.claim_id}, version" in words(result.stdout)
    assert "now completed, paid 1,250.00 USD" in words(result.stdout)
