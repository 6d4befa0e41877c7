"""The codec server: Temporal's UI and CLI get plain payloads back, and only when they may."""

from __future__ import annotations

import base64
import dataclasses
import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs
from temporalio.api.common.v1 import Payload

from console.codec_server import (
    MAX_BODY_BYTES,
    MAX_PAYLOADS,
    CodecTokenError,
    load_or_create_codec_token,
    ui_codec_endpoint,
)
from console.settings import AuthMode, ConsoleSettings, ConsoleSettingsError, codec_origins
from console.users import ensure_demo_accounts
from runtime.codec import encrypted_data_converter
from runtime.keyring import KeyRing, StaticKeyRing
from tests.console.conftest import ConsoleClient, sign_in
from tests.keys import encrypted_test_converter
from workflows.authority import ReviewPolicy

UI = "http://localhost:8233"
PLAIN = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJjbGFpbWFudCI6ICJBZGEifQ=="}


@pytest.fixture
def console_settings(tmp_path: Path) -> ConsoleSettings:
    """Console settings in tmp_path without accounts: hashing passwords is slow, and only
    the session test signs in (it makes the demo accounts itself).
    """
    return ConsoleSettings.from_env({}, tmp_path)


def temporal() -> Any:
    """What the codec server uses of the console's Temporal client: namespace and converter."""
    return SimpleNamespace(namespace="default", data_converter=encrypted_test_converter())


def with_accounts(settings: ConsoleSettings, policy: ReviewPolicy) -> None:
    ensure_demo_accounts(
        settings.users_file, [a.name for a in policy.approvers], loopback=settings.loopback
    )


def token_of(settings: ConsoleSettings) -> str:
    assert settings.codec_token_file is not None
    return load_or_create_codec_token(settings.codec_token_file)


def headers(token: str | None = None, **more: str) -> dict[str, str]:
    sent = {"Content-Type": "application/json", "X-Namespace": "default"}
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    return sent | {k.replace("_", "-"): v for k, v in more.items()}


async def post(
    http: httpx.AsyncClient, path: str, body: object, sent: dict[str, str]
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await http.post(path, content=content, headers=sent)


async def test_encode_then_decode_gives_back_the_payload(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """Encode encrypts under the current key; decode of that gives the same payload back."""
    token = token_of(console_settings)
    async with console_client(temporal()) as http:
        encoded = await post(http, "/codec/encode", {"payloads": [PLAIN]}, headers(token))
        assert 200 == encoded.status_code
        [sealed] = encoded.json()["payloads"]
        assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
        assert "Ada" not in base64.b64decode(sealed["data"]).decode("latin-1")
        decoded = await post(http, "/codec/decode", encoded.json(), headers(token))
    assert 200 == decoded.status_code
    assert {"payloads": [PLAIN]} == decoded.json()


async def test_decode_passes_an_unencrypted_payload_through(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """Payloads written before encryption (or search attributes) come back as they are."""
    async with console_client(temporal()) as http:
        response = await post(
            http, "/codec/decode", {"payloads": [PLAIN]}, headers(token_of(console_settings))
        )
    assert (200, {"payloads": [PLAIN]}) == (response.status_code, response.json())


async def test_an_empty_list_answers_an_empty_list(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """No payloads in, `{"payloads": []}` out, as the protocol spells it."""
    async with console_client(temporal()) as http:
        response = await post(
            http, "/codec/decode", {"payloads": []}, headers(token_of(console_settings))
        )
    assert {"payloads": []} == response.json()


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("/codec/decode", headers()),
        ("/codec/decode", headers("not-the-token")),
        ("/codec/decode", headers() | {"Authorization": "Basic bWFyaWE6bWFyaWEtZGVtbw=="}),
        ("/codec/t/not-the-token/decode", headers()),
        ("/codec/t/not-the-token/encode", headers()),
    ],
)
async def test_without_a_valid_credential_it_is_401_saying_how(
    console_client: ConsoleClient, path: str, sent: dict[str, str]
) -> None:
    """No credential, a wrong bearer or a wrong path token: 401 naming the ways in."""
    async with console_client(temporal()) as http:
        response = await post(http, path, {"payloads": [PLAIN]}, sent)
    assert 401 == response.status_code
    assert "Authorization: Bearer" in response.json()["error"]


async def test_a_wrong_path_token_is_refused_even_with_a_session(
    console_client: ConsoleClient, console_settings: ConsoleSettings, policy: ReviewPolicy
) -> None:
    """The path names its credential; a wrong one is a mistake to report, not to paper over."""
    with_accounts(console_settings, policy)
    async with console_client(temporal()) as http:
        await sign_in(http, "maria", "maria-demo")
        response = await post(http, "/codec/t/wrong/decode", {"payloads": [PLAIN]}, headers())
    assert 401 == response.status_code


async def test_the_token_in_the_path_works(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """`/codec/t/<token>/decode` needs nothing else: the dev server's UI sends no credentials."""
    path = f"/codec/t/{token_of(console_settings)}/decode"
    async with console_client(temporal()) as http:
        response = await post(http, path, {"payloads": [PLAIN]}, headers(Origin=UI))
    assert 200 == response.status_code
    assert UI == response.headers["access-control-allow-origin"]


async def test_a_signed_in_session_works(
    console_client: ConsoleClient, console_settings: ConsoleSettings, policy: ReviewPolicy
) -> None:
    """A person signed in to the console decodes with the session cookie alone."""
    with_accounts(console_settings, policy)
    async with console_client(temporal()) as http:
        assert 401 == (await post(http, "/codec/decode", {"payloads": []}, headers())).status_code
        await sign_in(http, "maria", "maria-demo")
        response = await post(http, "/codec/decode", {"payloads": [PLAIN]}, headers(Origin=UI))
    assert 200 == response.status_code
    assert "true" == response.headers["access-control-allow-credentials"]


async def test_header_auth_names_a_person_of_the_directory(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """Behind the proxy, its header naming a known person is enough; an unknown name is not."""
    settings = dataclasses.replace(
        console_settings, auth=AuthMode.HEADER, auth_header="X-Forwarded-Email"
    )
    async with console_client(temporal(), settings=settings) as http:
        known = await post(
            http,
            "/codec/decode",
            {"payloads": [PLAIN]},
            headers(X_Forwarded_Email="maria@example.com"),
        )
        unknown = await post(
            http, "/codec/decode", {"payloads": [PLAIN]}, headers(X_Forwarded_Email="mallory")
        )
    assert (200, 401) == (known.status_code, unknown.status_code)


async def test_a_post_from_another_origin_is_403_and_recorded(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A page elsewhere cannot use someone's credentials here: 403, no CORS headers, one log line."""
    async with console_client(temporal()) as http:
        with capture_logs() as logs:
            response = await post(
                http,
                "/codec/decode",
                {"payloads": [PLAIN]},
                headers(token_of(console_settings), Origin="https://evil.example"),
            )
    assert 403 == response.status_code
    assert "access-control-allow-origin" not in response.headers
    assert [("origin", 403, "https://evil.example")] == [
        (e["reason"], e["status"], e["origin"]) for e in logs
    ]


async def test_a_preflight_from_another_origin_is_403(console_client: ConsoleClient) -> None:
    """The browser's preflight from a foreign origin gets no CORS headers, so it stops there."""
    async with console_client(temporal()) as http:
        response = await http.options(
            "/codec/decode",
            headers={"Origin": "http://localhost:9999", "Access-Control-Request-Method": "POST"},
        )
    assert 403 == response.status_code
    assert not [h for h in response.headers if h.startswith("access-control-")]


@pytest.mark.parametrize("path", ["/codec/decode", "/codec/encode", "/codec/t/anything/decode"])
@pytest.mark.parametrize("origin", [UI, "http://127.0.0.1:8233"])
async def test_a_preflight_from_the_ui_is_allowed(
    console_client: ConsoleClient, path: str, origin: str
) -> None:
    """The UI's preflight: its own origin, credentials, POST and the headers it sends."""
    async with console_client(temporal()) as http:
        response = await http.options(
            path,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace",
            },
        )
    assert 204 == response.status_code
    expected = {
        "access-control-allow-origin": origin,
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "POST",
        "access-control-allow-headers": (
            "content-type, x-namespace, authorization, authorization-extras"
        ),
        "vary": "Origin",
    }
    assert expected == {k: response.headers[k] for k in expected}


@pytest.mark.parametrize(
    ("sent", "status", "words"),
    [
        ({"Content-Type": "application/json"}, 400, "X-Namespace"),
        (headers(X_Namespace="claims-prod"), 403, "'default'"),
    ],
)
async def test_the_namespace_must_be_the_consoles(
    console_client: ConsoleClient,
    console_settings: ConsoleSettings,
    sent: dict[str, str],
    status: int,
    words: str,
) -> None:
    """A missing X-Namespace is named; another namespace is refused."""
    sent = sent | {"Authorization": f"Bearer {token_of(console_settings)}"}
    async with console_client(temporal()) as http:
        response = await post(http, "/codec/decode", {"payloads": [PLAIN]}, sent)
    assert status == response.status_code
    assert words in response.json()["error"]


async def test_a_body_over_the_limit_is_413(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """Over 4 MiB is refused, whether the Content-Length says so or the body only turns out so."""
    big = b'{"payloads": [], "x": "' + b"a" * MAX_BODY_BYTES + b'"}'

    async def chunks() -> Any:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    async with console_client(temporal()) as http:
        declared = await post(http, "/codec/decode", big, headers(token_of(console_settings)))
        streamed = await http.post(
            "/codec/decode", content=chunks(), headers=headers(token_of(console_settings))
        )
    assert (413, 413) == (declared.status_code, streamed.status_code)
    assert "MiB" in streamed.json()["error"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "the body is not JSON"),
        (b"[1, 2]", "the body must be an object"),
        (b'{"payloads": {"a": 1}}', "payloads must be a list"),
        (b'{"payloads": null}', "payloads must be a list"),
        (b'{"payloads": [5]}', "payloads[0] must be an object"),
        (b'{"payloads": [{"data": "!!!"}]}', "payloads[0].data is not base64"),
        (b'{"payloads": [{"data": 5}]}', "payloads[0].data is not base64"),
        (b'{"payloads": [{"metadata": {"encoding": "a b"}}]}', "metadata.encoding is not base64"),
        (b'{"payloads": [{"metadata": []}]}', "payloads[0].metadata must be an object"),
        (b'{"payloads": [{"colour": "red"}]}', "has no field named"),
        (b'{"payloads": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
    ],
)
async def test_malformed_input_is_400_naming_the_field(
    console_client: ConsoleClient, console_settings: ConsoleSettings, body: bytes, words: str
) -> None:
    """Not JSON, not payloads, bad base64: 400 with the field, never an exception."""
    async with console_client(temporal()) as http:
        response = await post(http, "/codec/decode", body, headers(token_of(console_settings)))
    assert 400 == response.status_code
    assert words in response.json()["error"]


async def test_too_many_payloads_is_413(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """More payloads than one request may carry are refused before any is decoded."""
    body: dict[str, list[object]] = {"payloads": [{}] * (MAX_PAYLOADS + 1)}
    async with console_client(temporal()) as http:
        response = await post(http, "/codec/decode", body, headers(token_of(console_settings)))
    assert 413 == response.status_code
    assert str(MAX_PAYLOADS) in response.json()["error"]


async def test_a_payload_under_an_unknown_key_is_422_naming_it(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A payload encrypted with a key the ring does not hold: 422, the key id named."""
    other = KeyRing.fresh()
    codec = encrypted_data_converter(StaticKeyRing(other, "another ring")).payload_codec
    assert codec is not None
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b"{}")])
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    async with console_client(temporal()) as http:
        with capture_logs() as logs:
            response = await post(http, "/codec/decode", body, headers(token_of(console_settings)))
    assert 422 == response.status_code
    assert other.current_id in response.json()["error"]
    assert ["payload_key"] == [e["reason"] for e in logs]


def test_the_token_file_is_made_once_for_its_owner_only(tmp_path: Path) -> None:
    """Made with mode 0600 on first use, the same token read back after."""
    path = tmp_path / "data" / "codec-token"
    first = load_or_create_codec_token(path)
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert first == load_or_create_codec_token(path)
    assert len(first) >= 32


def test_a_token_file_others_can_read_is_refused(tmp_path: Path) -> None:
    """A loose token file is refused with the command that fixes it."""
    path = tmp_path / "codec-token"
    load_or_create_codec_token(path)
    path.chmod(0o644)
    with pytest.raises(CodecTokenError, match=f"chmod 600 {path}"):
        load_or_create_codec_token(path)


def test_the_ui_endpoint_carries_the_token_on_loopback(
    console_settings: ConsoleSettings,
) -> None:
    """On this machine the dev server's UI is told 127.0.0.1 and the console's port."""
    expected = f"http://127.0.0.1:{console_settings.port}/codec/t/abc"
    assert expected == ui_codec_endpoint(console_settings, "abc")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("http://localhost:8233", "http://127.0.0.1:8233")),
        ({"CLAIMS_UI_PORT": "9000"}, ("http://localhost:9000", "http://127.0.0.1:9000")),
        (
            {"CLAIMS_CODEC_ORIGINS": "https://UI.example.com:443, http://localhost:8233"},
            ("https://ui.example.com", "http://localhost:8233"),
        ),
    ],
)
def test_codec_origins_default_to_the_dev_servers_ui(
    env: dict[str, str], expected: tuple[str, ...]
) -> None:
    """Origins are written as browsers send them; the default follows CLAIMS_UI_PORT."""
    assert expected == codec_origins(env)


@pytest.mark.parametrize(
    "value", ["*", "localhost:8233", "http://ui.example.com/", "ftp://x", "http://a@b", "http://"]
)
def test_a_codec_origin_that_is_not_one_is_refused(value: str) -> None:
    """Anything but scheme://host[:port] is refused, with the form it must take."""
    with pytest.raises(ConsoleSettingsError, match=r"scheme://host\[:port\]"):
        codec_origins({"CLAIMS_CODEC_ORIGINS": value})


async def test_a_request_without_payloads_is_answered_with_none(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """`{}` is what the temporal CLI sends for a query without arguments: no payloads."""
    async with console_client(temporal()) as http:
        response = await post(http, "/codec/encode", b"{}", headers(token_of(console_settings)))
    assert (200, {"payloads": []}) == (response.status_code, response.json())
