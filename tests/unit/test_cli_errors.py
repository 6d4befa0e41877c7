"""Errors read as plain sentences: one cause, one fix, no transport internals, no "(s)"."""

from __future__ import annotations

from pathlib import Path

from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

from cli.action_commands import where_it_went
from cli.base import rpc_error_message
from cli.main import app
from runtime.ports import free_port
from signals.client import Settled
from starter import ClaimProblem, InvalidClaimsError


def words(text: str) -> str:
    """Output with the terminal's line wrapping undone, for matching sentences."""
    return " ".join(text.split())


def test_an_unreachable_server_is_one_cause_and_one_fix() -> None:
    """Nothing listening: the address, "nothing answered", how to start one; no transport words."""
    address = f"127.0.0.1:{free_port()}"

    result = CliRunner().invoke(app, ["--address", address, "approve", "CLM-1", "--as", "maria"])

    assert 1 == result.exit_code
    assert (
        f"error: cannot reach Temporal at {address}: nothing answered. Start it with "
        "`make run`, or point --address / TEMPORAL_ADDRESS at your server."
    ) == words(result.stderr)
    assert "" == result.stdout


def test_one_invalid_claim_problem_reads_as_a_sentence() -> None:
    """One problem is "a problem", never "1 problem(s)"."""
    error = InvalidClaimsError([ClaimProblem(Path("c.json"), "amount", "must be positive")])

    first_line = str(error).splitlines()[0]

    assert (
        "a claim file has a problem, so no claim was started; fix it and try again:" == first_line
    )


def test_several_invalid_claim_problems_are_counted_in_words() -> None:
    """Several problems are counted, and the fix is named."""
    problems = [
        ClaimProblem(Path("c.json"), "amount", "must be positive"),
        ClaimProblem(Path("c.json"), "currency", "is missing"),
    ]

    first_line = str(InvalidClaimsError(problems)).splitlines()[0]

    assert (
        "the claim files have 2 problems, so no claim was started; fix them and try again:"
        == first_line
    )


def test_not_found_names_the_server_asked_and_no_wrong_id_hint() -> None:
    """A NOT_FOUND from Temporal names the server, so a forgotten TEMPORAL_ADDRESS shows."""
    error = RPCError("workflow not found for ID: claim-CLM-9", RPCStatusCode.NOT_FOUND, b"")

    message = rpc_error_message(error)

    assert message.startswith("not found on this server (Temporal at localhost:7233, namespace")
    assert "check the claim id" not in message


def test_a_lost_server_is_said_in_words() -> None:
    """UNAVAILABLE mid-command says the server stopped answering, not the gRPC status."""
    error = RPCError("tonic transport error: broken pipe", RPCStatusCode.UNAVAILABLE, b"")

    message = rpc_error_message(error)

    assert "stopped answering" in message
    assert "tonic" not in message


def test_a_claim_still_moving_says_how_to_follow_it() -> None:
    """After the settling window, the answer says the claim moves on and names the command."""
    unknown = where_it_went(Settled(None, False, 5.0), "CLM-1002")

    assert "its new step is not known yet; follow it with `claims show CLM-1002`" == unknown
