"""The claims API: `POST /api/claims` starts a review, `GET /api/claims/{id}` reads one.

For programs (an insurer's portal), not people: each request carries
`Authorization: Bearer <token>` from `claims tokens new NAME`. A claim is checked by the
same code as `claims start` (starter.validate_claim_json over workflows.claim.Claim) and
started by the same `start_claim`; the claim's one workflow id makes a retry, or the same
post sent twice at once, answer the existing review instead of starting a second one.

API tokens are apart from people's sign-in (CLAIMS_CONSOLE_AUTH, password or a proxy's
header): the API never reads a session and pages never read a token. Cross-site request
forgery is a risk for credentials a browser attaches by itself (the session cookie), which
is why every console form carries a CSRF token (console.csrf, checked by the page
handlers' `checked_form`). A bearer token is never attached by a browser, so these routes
do not ask for a form token; they are exempt only because they accept nothing else: a
request that carries the console's session cookie is refused before anything is done, so
no page can ride a signed-in person's session into the API.

Every refusal answers JSON and is logged with the token's name (never its secret); what
was wrong with a token is never told beyond "token not accepted".
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.requests import Request
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from console.api_tokens import (
    CLAIMS_READ,
    CLAIMS_READ_PERSONAL,
    CLAIMS_WRITE,
    ApiToken,
    TokensFileError,
    TokenStore,
    tokens_file,
)
from console.app import console_of
from console.rate_limit import RateLimit, RateLimiter, retry_after
from console.settings import ConsoleSettings
from runtime.logs import get_logger
from runtime.settings import DEFAULT_TASK_QUEUE
from runtime.text import printable
from signals.client import QUERY_TIMEOUT, claim_handle, query_state
from starter import (
    FILE,
    MAX_CLAIM_FILE_BYTES,
    StartStatus,
    start_claim,
    validate_claim_json,
)
from workflows.claim import Claim
from workflows.state import ClaimState

router = APIRouter(prefix="/api")
log = get_logger(__name__)

# As much as a claim file may hold: the same limit whichever door a claim comes in by.
MAX_BODY_BYTES = MAX_CLAIM_FILE_BYTES
SESSION_COOKIE = "claims_console"
BODY = "(body)"
# When the review exists but no worker answered: a moment is enough for one to.
BUSY_RETRY_SECONDS = 5
_CLAIM_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class FieldError(BaseModel):
    field: str
    message: str


class Refusal(BaseModel):
    """Why a request was refused: each field named, in printable text."""

    errors: list[FieldError]


class ClaimReview(BaseModel):
    """The review a posted claim is under: started now (201) or already (200)."""

    claim_id: str
    workflow_id: str
    review: str
    step: str | None = None
    url: str


@dataclass
class ClaimsApi:
    """What the routes share: the token store, the rate limiter, the worker's task queue."""

    tokens: TokenStore
    limiter: RateLimiter
    task_queue: str


def install(app: FastAPI, settings: ConsoleSettings, env: Mapping[str, str] | None = None) -> None:
    """Add the API to the console. The tokens file sits in the data directory, beside the
    console's session secret; CLAIMS_API_RATE is read now, so a wrong one stops the start.
    """
    env = os.environ if env is None else env
    app.state.claims_api = ClaimsApi(
        tokens=TokenStore(tokens_file(settings.secret_file.parent)),
        limiter=RateLimiter(RateLimit.from_env(env)),
        task_queue=env.get("CLAIMS_TASK_QUEUE", DEFAULT_TASK_QUEUE),
    )
    app.include_router(router)
    # The console's own app serves no schema (its pages are HTML); this one is the API's.
    app.add_api_route("/openapi.json", openapi_document, include_in_schema=False)


def api_of(request: Request) -> ClaimsApi:
    api: ClaimsApi = request.app.state.claims_api
    return api


def _refuse(
    status: int,
    field: str,
    message: str,
    *,
    token: ApiToken | None,
    reason: str,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    log.warning(
        "api request refused",
        token_name=token.name if token else "-",
        status=status,
        reason=reason,
    )
    body = Refusal(errors=[FieldError(field=field, message=message)])
    return JSONResponse(body.model_dump(), status_code=status, headers=dict(headers or {}))


def _not_accepted(token: ApiToken | None, reason: str) -> JSONResponse:
    return _refuse(
        401,
        "Authorization",
        "token not accepted; send Authorization: Bearer <token> with a token from "
        "`claims tokens new NAME`",
        token=token,
        reason=reason,
        headers={"WWW-Authenticate": "Bearer"},
    )


def _authorize(request: Request, scope: str) -> ApiToken | JSONResponse:
    """The request's token once it is valid, has `scope` and is within its rate."""
    if SESSION_COOKIE in request.cookies:
        return _refuse(
            400,
            "Cookie",
            "the API takes a bearer token only; send the request without the console's "
            "session cookie",
            token=None,
            reason="session cookie on an API request",
        )
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return _not_accepted(None, "no bearer token")
    api = api_of(request)
    try:
        token = api.tokens.authenticate(secret.strip())
    except TokensFileError as error:
        log.error("api tokens file unreadable", error=str(error))
        return _refuse(
            503,
            BODY,
            "the console cannot read its API tokens; try again later",
            token=None,
            reason="tokens file unreadable",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        )
    if token is None:
        return _not_accepted(None, "unknown or revoked token")
    wait = api.limiter.take(token.name)
    if wait > 0:
        return _refuse(
            429,
            BODY,
            "too many requests for this token; wait for the seconds in Retry-After",
            token=token,
            reason="rate limited",
            headers={"Retry-After": retry_after(wait)},
        )
    if not token.allows(scope):
        return _refuse(
            403,
            "Authorization",
            f"this token may not do this; it needs the scope {scope}",
            token=token,
            reason=f"missing scope {scope}",
        )
    return token


async def _read_body(request: Request, token: ApiToken) -> str | JSONResponse:
    """The body as text, refused when it is not JSON, too big or not UTF-8."""
    media, _, params = request.headers.get("content-type", "").partition(";")
    charset = params.strip().lower().removeprefix("charset=").strip('"') if params else "utf-8"
    if media.strip().lower() != "application/json" or charset not in ("utf-8", "utf8"):
        return _refuse(
            415,
            "Content-Type",
            "send the claim as JSON with Content-Type: application/json (UTF-8)",
            token=token,
            reason="content type",
        )
    too_big = _refuse_later(token)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return too_big()
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            return too_big()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return _refuse(
            400,
            BODY,
            f"not UTF-8 text at byte {error.start}; send the claim as UTF-8 JSON",
            token=token,
            reason="not utf-8",
        )


def _refuse_later(token: ApiToken) -> Callable[[], JSONResponse]:
    def too_big() -> JSONResponse:
        return _refuse(
            413,
            BODY,
            f"the body is more than a claim may hold ({MAX_BODY_BYTES:,} bytes); attach "
            "documents by reference (uri), not inline",
            token=token,
            reason="body too big",
        )

    return too_big


def _malformed(text: str, token: ApiToken) -> JSONResponse | None:
    """400 naming the line and column of JSON that cannot be read; None when it can."""
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        return _refuse(
            400,
            BODY,
            f"malformed JSON at line {error.lineno}, column {error.colno}: {error.msg}",
            token=token,
            reason="malformed json",
        )
    except (ValueError, RecursionError):
        return None  # the claim check names these, as `claims start` does
    return None


def _checked_claim(text: str, token: ApiToken) -> Claim | JSONResponse:
    """The claim, or 422 naming each field wrong, through the checks of `claims start`."""
    if (malformed := _malformed(text, token)) is not None:
        return malformed
    result = validate_claim_json(text, Path(BODY))
    if isinstance(result, Claim):
        return result
    errors = [
        FieldError(
            field=_clip(printable(BODY if p.field == FILE else p.field), 80),
            message=_clip(printable(p.reason), 300),
        )
        for p in result
    ]
    log.warning(
        "api request refused",
        token_name=token.name,
        status=422,
        reason="invalid claim",
        fields=[e.field for e in errors],
    )
    return JSONResponse(Refusal(errors=errors).model_dump(), status_code=422)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _review(claim_id: str, review: str, step: str | None) -> dict[str, Any]:
    url = f"/api/claims/{claim_id}"
    return ClaimReview(
        claim_id=claim_id, workflow_id=f"claim-{claim_id}", review=review, step=step, url=url
    ).model_dump()


async def _existing_state(request: Request, claim_id: str) -> ClaimState | None:
    """The review's state, or None when no worker answered in time."""
    try:
        return await query_state(claim_handle(console_of(request).client, claim_id), QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError):
        return None


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Refusal, "description": "malformed JSON, not UTF-8, or a session cookie"},
    401: {"model": Refusal, "description": "token not accepted"},
    403: {"model": Refusal, "description": "the token lacks the scope"},
    429: {"model": Refusal, "description": "too many requests; see Retry-After"},
    503: {"model": Refusal, "description": "Temporal or the worker did not answer; retry"},
}


@router.post(
    "/claims",
    status_code=201,
    response_model=ClaimReview,
    responses={
        **_RESPONSES,
        200: {"model": ClaimReview, "description": "the claim is already under review"},
        409: {"model": Refusal, "description": "another claim is under review with this id"},
        413: {"model": Refusal, "description": "the body is bigger than 256 KiB"},
        415: {"model": Refusal, "description": "the body is not application/json"},
        422: {"model": Refusal, "description": "the claim is invalid; each field named"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Claim"}}},
        }
    },
    summary="Start the review of a claim (idempotent on claim_id)",
)
async def post_claim(request: Request) -> Response:
    """Start a review; the same claim again answers the review it is under (200)."""
    token = _authorize(request, CLAIMS_WRITE)
    if isinstance(token, Response):
        return token
    text = await _read_body(request, token)
    if isinstance(text, Response):
        return text
    claim = _checked_claim(text, token)
    if isinstance(claim, Response):
        return claim
    try:
        result = await start_claim(console_of(request).client, claim, api_of(request).task_queue)
    except RPCError:
        return _unavailable(token)
    if result.status is StartStatus.STARTED:
        log.info("api claim started", token_name=token.name, claim_id=claim.claim_id)
        body = _review(claim.claim_id, str(result.status), "intake")
        return JSONResponse(
            body, status_code=201, headers={"Location": f"/api/claims/{claim.claim_id}"}
        )
    if result.status is StartStatus.ENDED_NOT_RESTARTED:
        return _refuse(
            409,
            "claim_id",
            f"the review of {claim.claim_id} ended without a decision and was not started "
            "again; post the claim again",
            token=token,
            reason="ended review not restarted",
        )
    state = await _existing_state(request, claim.claim_id)
    if state is None:
        return _unavailable(token)
    if state.context.claim != claim:
        return _refuse(
            409,
            "claim_id",
            f"another claim is under review as {claim.claim_id}; give this one its own claim_id",
            token=token,
            reason="different claim under the same id",
        )
    return JSONResponse(
        _review(claim.claim_id, str(result.status), str(state.current_step)), status_code=200
    )


def _unavailable(token: ApiToken) -> JSONResponse:
    return _refuse(
        503,
        BODY,
        "Temporal or the claims worker did not answer in time; nothing was lost, post the "
        "same request again after Retry-After seconds",
        token=token,
        reason="temporal unavailable",
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


# What a token without claims:read-personal never sees: the claimant's name and email,
# what happened, where the documents are, and every field a person or the model writes
# in words (comments, notes, letters, reasons, the model's trace, the evidence records),
# and the places that copy them: a wait's detail (the documents asked for), a transition's
# reason (a cancelling comment, what was asked of whom), the model's draft letter.
# Paths into the state document; `*` is every item of a list.
PERSONAL_PATHS = (
    "context.claim.claimant.name",
    "context.claim.claimant.email",
    "context.claim.description",
    "context.claim.documents.*.uri",
    "context.supporting_docs.*.uri",
    "context.previous_decisions.*.comment",
    "context.proposal.customer_message",
    "context.proposal.edits.*.comment",
    "context.proposal.edits.*.changes",
    "context.information_requests.*.what",
    "context.notes",
    "context.evidence",
    "context.assessment.rationale",
    "context.assessment.customer_message",
    "pending_actions.*.detail",
    "transitions.*.reason",
    "llm_state",
    "audit_log.*.detail",
    "outcome.reason",
)
WITHHELD = "[withheld]"


def without_personal_data(document: dict[str, Any]) -> dict[str, Any]:
    """The state document with every PERSONAL_PATHS value replaced by WITHHELD."""
    for path in PERSONAL_PATHS:
        _withhold(document, path.split("."))
    return document


def _withhold(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head == "*":
        for item in node if isinstance(node, list) else []:
            _withhold(item, rest)
        return
    if not isinstance(node, dict) or node.get(head) is None:
        return
    if rest:
        _withhold(node[head], rest)
    else:
        node[head] = WITHHELD


_NOT_FOUND = "there is no claim with this id that this token may read"


@router.get(
    "/claims/{claim_id}",
    responses={
        **_RESPONSES,
        200: {
            "description": "the claim's state document; personal data withheld without the "
            "claims:read-personal scope",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        404: {"model": Refusal, "description": "no such claim (or not visible to the token)"},
    },
    summary="The state document of a claim under review",
)
async def get_claim(request: Request, claim_id: str) -> Response:
    """The state document, with personal data only for tokens that may read it."""
    token = _authorize(request, CLAIMS_READ)
    if isinstance(token, Response):
        return token
    if not (0 < len(claim_id) <= 64 and set(claim_id) <= _CLAIM_ID_CHARS):
        return _refuse(404, "claim_id", _NOT_FOUND, token=token, reason="not a claim id")
    try:
        state = await query_state(claim_handle(console_of(request).client, claim_id), QUERY_TIMEOUT)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return _refuse(404, "claim_id", _NOT_FOUND, token=token, reason="unknown claim")
        return _unavailable(token)
    except WorkflowQueryFailedError:
        return _unavailable(token)
    document = state.model_dump(mode="json")
    if not token.allows(CLAIMS_READ_PERSONAL):
        document = without_personal_data(document)
    return JSONResponse(document)


async def openapi_document() -> JSONResponse:
    """The API's OpenAPI document: its routes and models only, never the console's pages."""
    return JSONResponse(openapi_schema())


def openapi_schema() -> dict[str, Any]:
    schema = get_openapi(
        title="Claim review API",
        version="1",
        description="Start claim reviews and read their state with an API token "
        "(`claims tokens new NAME`), sent as Authorization: Bearer <token>.",
        routes=router.routes,
    )
    components = schema.setdefault("components", {})
    claim_schema = Claim.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = claim_schema.pop("$defs", {})
    components.setdefault("schemas", {}).update({**definitions, "Claim": claim_schema})
    components["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    schema["security"] = [{"bearer": []}]
    return schema
