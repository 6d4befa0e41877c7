"""The codec server: Temporal's web UI and CLI send it encrypted payloads, it sends back plain ones.

It speaks Temporal's codec server protocol (`POST .../encode` and `.../decode`, a JSON
`{"payloads": [...]}` both ways) with the console's own data converter, so whoever may
read a claim in the console may read it in the Temporal UI, and nobody else:

- a person signed in to the console (its session cookie, when the UI includes credentials),
  or named by the authenticating proxy in header mode;
- `Authorization: Bearer <codec token>` (the temporal CLI's `--codec-auth`);
- the codec token in the path, `/codec/t/<token>/...`, for a UI that can send neither
  (the dev server's, which `claims run` points here).

Browsers may ask only from the web UI's origins (`CLAIMS_CODEC_ORIGINS`); every refusal
answers JSON saying what to do, and is logged once, without payload content or tokens.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
import secrets
import socket
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from google.protobuf import json_format
from starlette.requests import Request
from temporalio.api.common.v1 import Payload, Payloads

from console.app import Console, console_of
from console.settings import ConsoleSettings
from runtime.codec import PayloadKeyError
from runtime.errors import UserFacingError
from runtime.logs import get_logger
from runtime.text import printable

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_PAYLOADS = 10_000
# How much of a sender's Origin header a log line quotes.
MAX_LOGGED_ORIGIN_CHARS = 200
TOKEN_BYTES = 32
PREFLIGHT_MAX_AGE_SECONDS = 600
ALLOWED_HEADERS = "content-type, x-namespace, authorization, authorization-extras"
HOW_TO_AUTHENTICATE = (
    "sign in to the console (and turn on 'include credentials' in the web UI's codec "
    "settings), send 'Authorization: Bearer <codec token>' (the token is in the console's "
    "data directory, file codec-token), or use the endpoint with the token in its path"
)
# Protobuf's JSON reads standard and URL-safe base64, padded or not; nothing else.
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_WILDCARD_BINDS = {"0.0.0.0", "::", ""}  # noqa: S104 - names of "every address", never bound here

Action = Literal["encode", "decode"]
router = APIRouter(prefix="/codec")
log = get_logger("console.codec")


class CodecTokenError(UserFacingError):
    """The codec token file is unusable; the message names it and what to do."""


def load_or_create_codec_token(path: Path) -> str:
    """The codec token: made once in the data directory, readable by its owner only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it first
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(TOKEN_BYTES) + "\n")
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise CodecTokenError(
            f"the codec token {path} is not a regular file; remove it to make a new token"
        )
    if info.st_uid not in (os.geteuid(), 0):
        # Its owner could write a token of their choosing and read every claim with it.
        raise CodecTokenError(
            f"the codec token {path} belongs to another user (uid {info.st_uid}); remove "
            "it to make a new token"
        )
    mode = info.st_mode & 0o777
    if mode & 0o077:
        raise CodecTokenError(
            f"the codec token {path} is readable by others (mode {mode:o}); run "
            f"chmod 600 {path}, or remove it to make a new token"
        )
    token = path.read_text(encoding="ascii", errors="replace").strip()
    if len(token) < TOKEN_BYTES or not token.isascii() or not token.isprintable():
        raise CodecTokenError(
            f"the codec token {path} is empty or not a token; remove it to make a new one"
        )
    return token


def ui_codec_endpoint(settings: ConsoleSettings, token: str) -> str:
    """The codec endpoint, token included, for a web UI that cannot send credentials."""
    if settings.loopback:
        host = "127.0.0.1"
    elif settings.bind in _WILDCARD_BINDS:
        host = socket.getfqdn()
    else:
        host = settings.bind
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/codec/t/{token}"


@dataclass
class Refusal(Exception):  # noqa: N818 - reads as what the request got
    """A request the codec server answers with an error instead of payloads."""

    status: int
    reason: str
    message: str


def _foreign_origin() -> Refusal:
    return Refusal(
        403,
        "origin",
        "this origin may not use the codec server; add it to CLAIMS_CODEC_ORIGINS "
        "(comma-separated scheme://host[:port])",
    )


def _cors(origin: str | None, console: Console) -> dict[str, str]:
    """CORS headers for an allowed origin; none for any other, or without one."""
    if origin is None or origin not in console.settings.codec_origins:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def _refused(refusal: Refusal, origin: str | None, headers: Mapping[str, str]) -> JSONResponse:
    # The sender writes Origin: a header may carry C1 controls (bytes 0x80-0x9f arrive as
    # those characters) and be kilobytes long; the log line gets it short and printable.
    logged = None if origin is None else printable(origin[:MAX_LOGGED_ORIGIN_CHARS])
    log.warning(
        "codec request refused", reason=refusal.reason, status=refusal.status, origin=logged
    )
    return JSONResponse({"error": refusal.message}, refusal.status, headers=dict(headers))


def _same(sent: str, expected: str | None) -> bool:
    if not expected:
        return False
    return secrets.compare_digest(sent.encode("utf-8", "replace"), expected.encode("ascii"))


def _authenticate(request: Request, console: Console, path_token: str | None) -> None:
    if path_token is not None:
        if not _same(path_token, console.codec_token):
            raise Refusal(
                401,
                "wrong_path_token",
                "the codec token in this endpoint's path is not the one in the console's "
                f"codec-token file; put that one in the path, or {HOW_TO_AUTHENTICATE}",
            )
        return
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and _same(credential.strip(), console.codec_token):
        return
    if console.person(request) is not None:
        return
    raise Refusal(401, "unauthenticated", f"not authenticated; {HOW_TO_AUTHENTICATE}")


def _check_namespace(request: Request, console: Console) -> None:
    namespace = request.headers.get("x-namespace")
    if namespace is None:
        raise Refusal(
            400,
            "namespace_missing",
            "the X-Namespace header is missing; send the namespace the payloads belong to "
            f"({console.client.namespace})",
        )
    if namespace != console.client.namespace:
        raise Refusal(
            403,
            "namespace_other",
            f"this codec server serves namespace {console.client.namespace!r} only; "
            "point the other namespace at its own codec server",
        )


async def _body(request: Request) -> bytes:
    too_big = Refusal(
        413,
        "body_too_large",
        f"the body is over {MAX_BODY_BYTES // (1024 * 1024)} MiB; send fewer payloads at a time",
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not re.fullmatch(r"\s*[0-9]{1,20}\s*", declared):
            raise Refusal(400, "bad_content_length", "the Content-Length header is not a number")
        if int(declared) > MAX_BODY_BYTES:
            raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _base64_valid(text: str) -> bool:
    if not _BASE64.fullmatch(text) or ("=" in text and len(text) % 4):
        return False
    bare = text.rstrip("=")
    standard = bare.replace("-", "+").replace("_", "/") + "=" * (-len(bare) % 4)
    try:
        base64.b64decode(standard, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _bad(field: str, what: str) -> Refusal:
    return Refusal(400, "malformed", f'{field} {what}; send {{"payloads": [...]}} as protobuf JSON')


def _check_payload(item: Any, where: str) -> None:
    """Shapes protobuf's parser would accept too leniently (it skips bad base64)."""
    if not isinstance(item, dict):
        raise _bad(where, "must be an object with metadata and data")
    metadata = item.get("metadata", {})
    if not isinstance(metadata, dict):
        raise _bad(f"{where}.metadata", "must be an object of base64 strings")
    for key, value in metadata.items():
        if not isinstance(value, str) or not _base64_valid(value):
            raise _bad(f"{where}.metadata.{printable(str(key)[:64])}", "is not base64")
    data = item.get("data", "")
    if not isinstance(data, str) or not _base64_valid(data):
        raise _bad(f"{where}.data", "is not base64")


def _payloads(body: bytes) -> list[Payload]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise _bad("the body", "is not JSON") from None
    if not isinstance(document, dict):
        raise _bad("the body", 'must be an object, {"payloads": [...]}')
    # Protobuf JSON leaves an empty list out: the temporal CLI asks `{}` for a query
    # without arguments, which is no payloads, not a mistake.
    document.setdefault("payloads", [])
    if not isinstance(document["payloads"], list):
        raise _bad("payloads", "must be a list")
    items = document["payloads"]
    if len(items) > MAX_PAYLOADS:
        raise Refusal(
            413,
            "too_many_payloads",
            f"{len(items)} payloads in one request; send at most {MAX_PAYLOADS} at a time",
        )
    for index, item in enumerate(items):
        _check_payload(item, f"payloads[{index}]")
    try:
        parsed = json_format.ParseDict(document, Payloads())
    except (json_format.ParseError, RecursionError) as error:
        raise Refusal(
            400, "malformed", f"the body is not Temporal payloads JSON: {error}"
        ) from None
    return list(parsed.payloads)


async def _convert(console: Console, action: Action, payloads: list[Payload]) -> list[Payload]:
    codec = console.client.data_converter.payload_codec
    if codec is None:
        return payloads
    try:
        if action == "encode":
            return await codec.encode(payloads)
        return await codec.decode(payloads)
    except PayloadKeyError as error:
        raise Refusal(422, "payload_key", str(error)) from None
    except UserFacingError as error:
        # The key ring itself cannot be read: the operator's to fix, said in its own words.
        raise Refusal(503, "key_ring", str(error)) from None


async def _serve(request: Request, action: Action, path_token: str | None) -> Response:
    console = console_of(request)
    origin = request.headers.get("origin")
    cors = _cors(origin, console)
    try:
        if origin is not None and not cors:
            raise _foreign_origin()
        _authenticate(request, console, path_token)
        _check_namespace(request, console)
        converted = await _convert(console, action, _payloads(await _body(request)))
    except Refusal as refusal:
        return _refused(refusal, origin, cors)
    except Exception as error:  # any failure still gets an answer, never a bare 500 page
        failed = Refusal(500, f"failed:{type(error).__name__}", "the codec server failed")
        return _refused(failed, origin, cors)
    answer = json_format.MessageToDict(Payloads(payloads=converted))
    answer.setdefault("payloads", [])
    return JSONResponse(answer, headers=cors)


def _preflight(request: Request) -> Response:
    console = console_of(request)
    origin = request.headers.get("origin")
    cors = _cors(origin, console)
    if not cors:
        return _refused(_foreign_origin(), origin, {})
    headers = {
        **cors,
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
    }
    return Response(status_code=204, headers=headers)


@router.post("/encode")
async def encode(request: Request) -> Response:
    return await _serve(request, "encode", None)


@router.post("/decode")
async def decode(request: Request) -> Response:
    return await _serve(request, "decode", None)


@router.post("/t/{token}/encode")
async def encode_with_token(request: Request, token: str) -> Response:
    return await _serve(request, "encode", token)


@router.post("/t/{token}/decode")
async def decode_with_token(request: Request, token: str) -> Response:
    return await _serve(request, "decode", token)


@router.options("/encode")
@router.options("/decode")
@router.options("/t/{token}/encode")
@router.options("/t/{token}/decode")
async def preflight(request: Request) -> Response:
    return _preflight(request)
