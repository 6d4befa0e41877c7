"""`claims status` and `claims inbox` a page at a time: the first page from one list
request, how many match from one count, and a token that continues where a page ended."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode
from typer.testing import CliRunner

import cli.read_commands
from cli.main import app
from cli.status_query import (
    MAX_PAGE_SIZE,
    PageCursor,
    page_note,
    page_token,
    parse_page_token,
)
from runtime.errors import UserFacingError
from workflows import search_attributes as sa

WIDE_ENOUGH = {"COLUMNS": "80"}


def waiting_run(number: int) -> Any:
    """A listed run of a claim waiting on the approvers queue, as list_workflows gives it."""

    async def memo_value(key: str, default: object = None) -> object:
        return "USD" if key == "currency" else default

    return SimpleNamespace(
        id=f"claim-CLM-{number:05d}",
        run_id=f"run-{number}",
        status=WorkflowExecutionStatus.RUNNING,
        workflow_type="ClaimReviewWorkflow",
        memo_value=memo_value,
        typed_search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(sa.CLAIM_STEP, "awaiting_manager_approval"),
                SearchAttributePair(sa.CLAIM_AMOUNT, 1250.0),
                SearchAttributePair(sa.ASSIGNEE, "approvers"),
                SearchAttributePair(sa.AWAITING_HUMAN, True),
            ]
        ),
    )


class FakeListing:
    """What list_workflows returns: one page per fetch, Temporal's token for the next."""

    def __init__(self, server: FakeServer, page_size: int, token: bytes | None) -> None:
        self.server, self.page_size, self.token = server, page_size, token
        self.current_page: list[Any] | None = None
        self.next_page_token: bytes | None = None

    async def fetch_next_page(self) -> None:
        self.server.list_requests += 1
        start = 0
        if self.token is not None:
            if not self.token.startswith(b"after="):
                raise RPCError("invalid page token", RPCStatusCode.INVALID_ARGUMENT, b"")
            start = int(self.token.removeprefix(b"after="))
        end = start + self.page_size
        self.current_page = self.server.runs[start:end]
        # Like the SQL visibility store, a full page always carries a token.
        self.next_page_token = f"after={end}".encode() if self.current_page else None
        if len(self.current_page) < self.page_size:
            self.next_page_token = None


class FakeServer:
    """A client over `count` waiting claims that counts the requests it answers."""

    def __init__(self, count: int) -> None:
        self.runs = [waiting_run(n) for n in range(count)]
        self.list_requests = 0
        self.count_requests = 0
        self.queries: list[str] = []

    def list_workflows(
        self, query: str, *, page_size: int, next_page_token: bytes | None = None
    ) -> FakeListing:
        self.queries.append(query)
        return FakeListing(self, page_size, next_page_token)

    async def count_workflows(self, query: str) -> Any:
        self.count_requests += 1
        return SimpleNamespace(count=len(self.runs))


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """The commands' client, over 120 waiting claims until a test changes them."""
    fake = FakeServer(120)

    async def connected() -> FakeServer:
        return fake

    monkeypatch.setattr(cli.read_commands, "build_client", connected)
    return fake


def token_in(output: str) -> str:
    """The token the note under a page gives, on a line of its own."""
    [line] = [line for line in output.splitlines() if line.strip().startswith("--page-token")]
    return line.split()[-1]


def test_a_page_token_carries_the_offset_and_temporals_token_in_one_printable_word() -> None:
    """Any bytes Temporal uses come back unchanged; the word needs no quoting in a shell."""
    raw = bytes(range(256))
    token = page_token(150, raw)

    assert (150, raw) == parse_page_token(token)
    assert token.replace(".", "").replace("-", "").replace("_", "").isalnum()


@pytest.mark.parametrize("token", ["", "abc", "12", "x.AAAA", "-3.AAAA", "5.A"])
def test_a_token_no_listing_printed_is_refused_in_plain_words(token: str) -> None:
    """A token mistyped or cut short says what to do, never a traceback."""
    with pytest.raises(UserFacingError, match="copy it whole"):
        parse_page_token(token)


@pytest.mark.parametrize("size", [0, -1, MAX_PAGE_SIZE + 1])
def test_a_page_size_temporal_cannot_answer_is_refused(size: int) -> None:
    """A page is 1 to 1,000 claims, Temporal's limit for one list request."""
    with pytest.raises(UserFacingError, match=f"from 1 to {MAX_PAGE_SIZE}"):
        PageCursor.from_options(size, None)


def test_a_first_page_that_holds_every_claim_needs_no_note() -> None:
    """Twelve claims on a page of fifty: nothing more to say."""
    assert [] == page_note(PageCursor(50), 12, None)


def test_the_note_says_which_claims_of_how_many_and_gives_the_next_token() -> None:
    """The token stands whole on its own line, to be copied."""
    cursor = PageCursor(50, offset=50, next_token="100.QUJD")

    assert [
        "Showing claims 51 to 100 of 10,000. For the next 50, run the same command with",
        "  --page-token 100.QUJD",
    ] == page_note(cursor, 50, 10_000)


def test_the_last_page_says_so_and_a_page_past_it_too() -> None:
    """Past the end there is nothing to show, and the note says why."""
    assert ["Showing claims 101 to 120 of 120; this is the last page."] == page_note(
        PageCursor(50, offset=100), 20, 120
    )
    assert ["No claims after the first 150; that page was the last."] == page_note(
        PageCursor(50, offset=150), 0, None
    )


def test_status_shows_the_first_page_from_one_list_request_and_one_count(
    server: FakeServer,
) -> None:
    """Ten thousand claims: fifty rows, the total from a count, never the whole list."""
    server.runs = [waiting_run(n) for n in range(10_000)]

    result = CliRunner().invoke(app, ["status"], env=WIDE_ENOUGH)

    assert 0 == result.exit_code, result.output
    assert (1, 1) == (server.list_requests, server.count_requests)
    assert "CLM-00049" in result.stdout
    assert "CLM-00050" not in result.stdout
    assert "Showing claims 1 to 50 of 10,000. For the next 50" in result.stdout


def test_status_pages_through_every_claim_with_the_tokens_it_prints(server: FakeServer) -> None:
    """Each page starts where the last ended, under the same filters; the last says so."""
    first = CliRunner().invoke(app, ["status", "--running"], env=WIDE_ENOUGH)
    second = CliRunner().invoke(
        app, ["status", "--running", "--page-token", token_in(first.stdout)], env=WIDE_ENOUGH
    )
    third = CliRunner().invoke(
        app, ["status", "--running", "--page-token", token_in(second.stdout)], env=WIDE_ENOUGH
    )

    assert [0, 0, 0] == [first.exit_code, second.exit_code, third.exit_code], third.output
    assert "Showing claims 51 to 100 of 120" in second.stdout
    assert "CLM-00050" in second.stdout
    assert "CLM-00049" not in second.stdout
    assert "Showing claims 101 to 120 of 120; this is the last page." in third.stdout
    assert len(set(server.queries)) == 1


def test_a_page_of_json_is_the_list_alone_and_the_note_goes_to_stderr(
    server: FakeServer,
) -> None:
    """A script reads the page's claims from stdout, and the next token from stderr."""
    result = CliRunner().invoke(app, ["status", "--json", "--limit", "30"])

    assert 0 == result.exit_code, result.output
    assert 30 == len(json.loads(result.stdout))
    assert "Showing claims 1 to 30 of 120" in result.stderr
    assert token_in(result.stderr).startswith("30.")


def test_the_inbox_pages_as_status_does(server: FakeServer) -> None:
    """A person with a long inbox sees a page, how many wait, and how to see more."""
    result = CliRunner().invoke(app, ["inbox", "--as", "maria", "--limit", "25"], env=WIDE_ENOUGH)

    assert 0 == result.exit_code, result.output
    assert "Showing claims 1 to 25 of 120. For the next 25" in result.stdout
    assert "AwaitingHuman = true" in server.queries[0]


def test_a_token_temporal_does_not_accept_is_explained(server: FakeServer) -> None:
    """A well-formed token from elsewhere: the server refuses it, the person learns why."""
    result = CliRunner().invoke(app, ["status", "--page-token", page_token(50, b"elsewhere")])

    assert 1 == result.exit_code
    assert "only continues the listing that printed it" in " ".join(result.stderr.split())
