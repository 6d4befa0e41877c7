"""API tokens and the API's door: who is let in, and every refusal before Temporal is asked.

No Temporal here: each request is refused (or answered) before a claim would start.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from console.api import PERSONAL_PATHS, WITHHELD, without_personal_data
from console.api_tokens import (
    CLAIMS_READ,
    TokensFileError,
    TokenStore,
    create_token,
    digest_of,
    load_tokens,
    revoke_token,
    tokens_file,
)
from console.rate_limit import RateLimit, RateLimiter, RateSettingError, retry_after
from console.settings import ConsoleSettings
from tests.console.conftest import ConsoleClient, sign_in
from tests.helpers import unique_claim


def _tokens(settings: ConsoleSettings) -> Path:
    return tokens_file(settings.secret_file.parent)


def test_a_token_is_stored_as_its_digest_in_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    """The secret is printed once; the file holds its SHA-256, name, date, scopes, mode 0600."""
    path = tokens_file(tmp_path)
    secret = create_token(path, "portal")
    assert secret.startswith("cra_")
    assert len(secret) == 47
    text = path.read_text()
    assert secret not in text
    assert digest_of(secret) in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = load_tokens(path)["portal"]
    assert token.scopes == ("claims:write", "claims:read")
    assert not token.revoked
    assert TokenStore(path).authenticate(secret) == token


def test_revoked_unknown_and_misshapen_tokens_are_not_accepted(tmp_path: Path) -> None:
    """A revoked token, another shape, or one off by a character finds no token."""
    path = tokens_file(tmp_path)
    secret = create_token(path, "portal")
    store = TokenStore(path)
    assert store.authenticate(secret) is not None
    assert store.authenticate(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert store.authenticate("cra_short") is None
    assert store.authenticate(secret + "\x00") is None
    revoke_token(path, "portal")
    assert store.authenticate(secret) is None


def test_token_commands_refuse_bad_names_scopes_and_duplicates(tmp_path: Path) -> None:
    """Each refusal says what to do; a revoked name may be used again."""
    path = tokens_file(tmp_path)
    create_token(path, "portal")
    with pytest.raises(TokensFileError, match="revoke it first"):
        create_token(path, "portal")
    with pytest.raises(TokensFileError, match="cannot name a token"):
        create_token(path, "Portal\x1b[31m")
    with pytest.raises(TokensFileError, match="is not a scope"):
        create_token(path, "other", ["claims:everything"])
    with pytest.raises(TokensFileError, match="no token named"):
        revoke_token(path, "nobody")
    revoke_token(path, "portal")
    assert create_token(path, "portal").startswith("cra_")


def test_an_unreadable_tokens_file_is_named(tmp_path: Path) -> None:
    """A broken file is refused with its path, not a traceback."""
    path = tokens_file(tmp_path)
    path.write_text("{not json")
    with pytest.raises(TokensFileError, match="cannot be read"):
        load_tokens(path)


def test_the_rate_limit_lets_a_burst_through_then_says_how_long_to_wait() -> None:
    """A bucket of `burst` requests refills at `rate` a second, per token."""
    now = [0.0]
    limiter = RateLimiter(RateLimit(rate=2, burst=3), clock=lambda: now[0])
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a")
    assert wait == pytest.approx(0.5)
    assert retry_after(wait) == "1"
    assert limiter.take("b") == 0.0
    now[0] = 0.5
    assert limiter.take("a") == 0.0


@pytest.mark.parametrize("raw", ["fast", "0", "-3", "5,0", "inf", "nan,4", "5,x"])
def test_a_wrong_rate_setting_is_refused_with_an_example(raw: str) -> None:
    """CLAIMS_API_RATE that is no rate stops the console with the right way to write it."""
    with pytest.raises(RateSettingError, match="for example 20,100"):
        RateLimit.from_env({"CLAIMS_API_RATE": raw})


def test_the_rate_setting_reads_rate_and_burst() -> None:
    """`RATE,BURST`, or RATE alone; unset is 20 a second, 100 at once."""
    assert RateLimit.from_env({}) == RateLimit(20, 100)
    assert RateLimit.from_env({"CLAIMS_API_RATE": "5,50"}) == RateLimit(5, 50)
    assert RateLimit.from_env({"CLAIMS_API_RATE": "2.5"}) == RateLimit(2.5, 3)


async def test_requests_without_a_good_token_are_refused_alike(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """No token, another scheme, a wrong or revoked token: 401, Bearer, the same words."""
    secret = create_token(_tokens(console_settings), "portal")
    revoked = create_token(_tokens(console_settings), "old")
    revoke_token(_tokens(console_settings), "old")
    claim = unique_claim().model_dump(mode="json")
    async with console_client() as http:
        answers = [
            await http.post("/api/claims", json=claim),
            await http.post("/api/claims", json=claim, headers={"Authorization": secret}),
            await http.post(
                "/api/claims", json=claim, headers={"Authorization": f"Basic {secret}"}
            ),
            await http.post(
                "/api/claims", json=claim, headers={"Authorization": f"Bearer {secret}x"}
            ),
            await http.post(
                "/api/claims", json=claim, headers={"Authorization": f"Bearer {revoked}"}
            ),
            await http.get("/api/claims/CLM-1", headers={b"Authorization": b"Bearer \xc3\xa9\x01"}),
        ]
    for answer in answers:
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert answer.json() == answers[0].json()
        assert "token not accepted" in answer.json()["errors"][0]["message"]


async def test_a_token_without_the_scope_is_refused_403_and_logged_by_name(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A read-only token may not post; the log names the token, never its secret."""
    secret = create_token(_tokens(console_settings), "reader", [CLAIMS_READ])
    async with console_client() as http:
        with capture_logs() as logs:
            answer = await http.post(
                "/api/claims",
                json=unique_claim().model_dump(mode="json"),
                headers={"Authorization": f"Bearer {secret}"},
            )
    assert answer.status_code == 403
    assert "claims:write" in answer.json()["errors"][0]["message"]
    assert [(e["token_name"], e["status"]) for e in logs] == [("reader", 403)]
    assert secret not in repr(logs)


@pytest.fixture
def bearer(console_settings: ConsoleSettings) -> dict[str, str]:
    """An Authorization header with a new token of the default scopes."""
    return {"Authorization": f"Bearer {create_token(_tokens(console_settings), 'portal')}"}


async def test_bodies_that_are_not_json_claims_are_refused_before_temporal(
    console_client: ConsoleClient, bearer: dict[str, str]
) -> None:
    """Wrong type, too big (declared or not), not UTF-8, malformed: each its own status."""
    claim = json.dumps(unique_claim().model_dump(mode="json"))
    big = b"{" + b" " * (300 * 1024) + b"}"

    async def chunks() -> object:
        for _ in range(40):
            yield b" " * 8192

    async with console_client() as http:

        async def post(body: object, content_type: str = "application/json") -> httpx.Response:
            return await http.post(
                "/api/claims",
                content=body,  # type: ignore[arg-type]
                headers={**bearer, "Content-Type": content_type},
            )

        assert (await post(claim, "text/plain")).status_code == 415
        assert (await post(claim, "application/json; charset=latin-1")).status_code == 415
        assert (await post(claim, "application/x-www-form-urlencoded")).status_code == 415
        assert (await post(big)).status_code == 413
        assert (await post(chunks())).status_code == 413
        not_utf8 = await post(b'{"claim_id": "\xff"}')
        assert not_utf8.status_code == 400
        assert "byte 14" in not_utf8.json()["errors"][0]["message"]
        malformed = await post('{\n  "claim_id": "X",\n  oops\n}')
        assert malformed.status_code == 400
        assert "line 3, column 3" in malformed.json()["errors"][0]["message"]
        assert (await post("[" * 100_000 + "]" * 100_000)).status_code in (400, 422)


async def test_an_invalid_claim_is_refused_422_naming_each_field_in_printable_text(
    console_client: ConsoleClient, bearer: dict[str, str]
) -> None:
    """The checks of `claims start`: every field named, control characters shown escaped."""
    claim = unique_claim().model_dump(mode="json")
    claim["amount"] = "12"
    claim["claimant"]["name"] = "Ann\x1b[2J\x00"
    claim["currency"] = "XXX"
    del claim["policy_number"]
    claim["extra\u202e"] = 1
    async with console_client() as http:
        answer = await http.post("/api/claims", json=claim, headers=bearer)
        not_object = await http.post("/api/claims", json=[1, 2], headers=bearer)
        twice = await http.post(
            "/api/claims",
            content='{"claim_id": "A", "claim_id": "B"}',
            headers={**bearer, "Content-Type": "application/json"},
        )
    assert answer.status_code == 422
    errors = answer.json()["errors"]
    fields = {e["field"] for e in errors}
    assert {"amount", "claimant.name", "currency", "policy_number"} <= fields
    assert any(f.startswith("extra") for f in fields)
    for error in errors:
        for text in (error["field"], error["message"]):
            assert text.isprintable(), text
    assert not_object.status_code == 422
    assert not_object.json()["errors"][0]["field"] == "(claim)"
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["field"] == "claim_id"


async def test_the_burst_beyond_the_limit_is_answered_429_with_retry_after(
    console_client: ConsoleClient, bearer: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLAIMS_API_RATE=1,3: three requests pass the limiter, the rest wait their turn."""
    monkeypatch.setenv("CLAIMS_API_RATE", "1,3")
    async with console_client() as http:
        answers = [await http.post("/api/claims", json=[1], headers=bearer) for _ in range(6)]
    assert [a.status_code for a in answers] == [422, 422, 422, 429, 429, 429]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in answers[3:])


async def test_a_request_with_the_console_session_cookie_is_refused(
    console_client: ConsoleClient, bearer: dict[str, str]
) -> None:
    """The API takes no session: a signed-in browser's cookie never rides into it."""
    async with console_client() as http:
        await sign_in(http, "maria", "maria-demo")
        assert "claims_console" in http.cookies
        answer = await http.post("/api/claims", json=[1], headers=bearer)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "Cookie"


async def test_the_openapi_document_holds_the_api_and_none_of_the_pages(
    console_client: ConsoleClient,
) -> None:
    """/openapi.json: both API routes, the claim and refusal models, no HTML page."""
    async with console_client() as http:
        answer = await http.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert set(document["paths"]) == {"/api/claims", "/api/claims/{claim_id}"}
    schemas = document["components"]["schemas"]
    assert {"Claim", "Claimant", "Refusal", "ClaimReview"} <= set(schemas)
    post = document["paths"]["/api/claims"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Claim")
    assert {"201", "200", "409", "413", "415", "422", "429"} <= set(post["responses"])


def test_personal_data_is_withheld_from_a_state_document() -> None:
    """Every path listed is replaced where present; absent ones are left absent."""
    document = {
        "context": {
            "claim": {
                "claimant": {"id": "C1", "name": "Ann", "email": "a@x.io"},
                "description": "what happened",
                "documents": [{"doc_id": "d", "uri": "s3://x"}],
            },
            "supporting_docs": [{"doc_id": "d", "uri": "s3://x"}],
            "previous_decisions": [{"comment": "hers"}],
            "proposal": None,
            "notes": ["a note"],
        },
        "llm_state": {"reasoning_trace": []},
        "audit_log": [{"action": "approve", "detail": "why"}],
    }
    shown = without_personal_data(document)
    text = json.dumps(shown)
    for value in ("Ann", "a@x.io", "what happened", "s3://x", "hers", "a note", "why"):
        assert value not in text
    assert shown["context"]["claim"]["claimant"]["id"] == "C1"
    assert shown["llm_state"] == WITHHELD
    assert shown["context"]["proposal"] is None
    assert len(PERSONAL_PATHS) == len(set(PERSONAL_PATHS))


async def test_the_api_works_the_same_behind_a_signing_in_proxy(
    console_client: ConsoleClient, tmp_path: Path
) -> None:
    """CLAIMS_CONSOLE_AUTH=header: people come through the proxy, programs with a token."""
    settings = ConsoleSettings.from_env(
        {"CLAIMS_CONSOLE_AUTH": "header:X-Forwarded-Email"}, tmp_path
    )
    secret = create_token(_tokens(settings), "portal")
    async with console_client(settings=settings) as http:
        with_token = await http.post(
            "/api/claims", json=[1], headers={"Authorization": f"Bearer {secret}"}
        )
        proxy_only = await http.post(
            "/api/claims", json=[1], headers={"X-Forwarded-Email": "maria@example.com"}
        )
    assert with_token.status_code == 422
    assert proxy_only.status_code == 401
