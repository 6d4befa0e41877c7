"""The codec server under attack: hostile headers, key ids and token files, and what held.

An outsider can reach the console's port and write to Temporal, but holds no key and no
token. Each test states what must hold when they try.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from console.codec_server import (
    MAX_LOGGED_ORIGIN_CHARS,
    CodecTokenError,
    load_or_create_codec_token,
)
from console.settings import ConsoleSettings
from runtime.codec import encrypted_data_converter
from runtime.text import printable
from tests.console.conftest import ConsoleClient
from tests.console.test_codec_server import PLAIN, UI, headers, post, temporal, token_of

HOSTILE_ORIGIN = b"http://evil\x9b31m\xe2\x80\xae" + b"a" * 5000


@pytest.fixture
def console_settings(tmp_path: Path) -> ConsoleSettings:
    """Console settings without accounts (hashing their passwords is slow; none signs in)."""
    return ConsoleSettings.from_env({}, tmp_path)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


class DownKeys:
    """A KMS hook whose service is down."""

    def current(self) -> tuple[str, bytes]:
        raise TimeoutError("kms.example timed out")

    def get(self, key_id: str) -> bytes | None:
        raise TimeoutError("kms.example timed out")

    def describe(self) -> str:
        return "the test KMS"


async def test_a_hostile_origin_is_logged_short_and_printable(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """An Origin with a C1 control (CSI, byte 0x9b) and 5,000 more characters, sent without
    credentials: refused 403, and the log line quotes it printable and cut short, so a
    terminal showing the console's log cannot be steered by whoever sent it."""
    sent: dict[str, Any] = headers() | {"Origin": HOSTILE_ORIGIN}
    async with console_client(temporal()) as http:
        with capture_logs() as logs:
            response = await http.post("/codec/decode", content=b'{"payloads": []}', headers=sent)
    assert 403 == response.status_code
    [line] = logs
    assert line["origin"] == printable(line["origin"])
    assert len(line["origin"]) <= MAX_LOGGED_ORIGIN_CHARS + 20
    assert "\\x9b" in line["origin"]


async def test_a_hostile_key_id_gets_a_short_printable_422(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A payload naming a key id of 100,000 characters with escapes in it: 422, and the
    answer quotes the id cut short and printable, not echoed whole."""
    metadata = {
        "encoding": b64(b"binary/encrypted"),
        "encryption-key-id": b64(b"\x1b]0;x\x07" + b"k" * 100_000),
    }
    body = {"payloads": [{"metadata": metadata, "data": b64(b"\0" * 40)}]}
    async with console_client(temporal()) as http:
        response = await post(http, "/codec/decode", body, headers(token_of(console_settings)))
    assert 422 == response.status_code
    error = response.json()["error"]
    assert error == printable(error)
    assert len(error) < 400


async def test_a_metadata_name_with_controls_is_quoted_printable(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A metadata name holding a bidi override, its value not base64: the 400 names the
    field with the override escaped (JSON escapes only C0 controls on its own)."""
    body = {"payloads": [{"metadata": {"enc\u202eoding": "!!"}}]}
    async with console_client(temporal()) as http:
        response = await post(http, "/codec/decode", body, headers(token_of(console_settings)))
    assert 400 == response.status_code
    assert "enc\\u202eoding" in response.json()["error"]


async def test_a_key_service_that_is_down_is_503_not_500(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """A KMS hook that times out: 503 naming the key service (the operator's to fix), not
    the bare 500 of an unexpected failure."""
    converter = encrypted_data_converter(DownKeys())
    down = SimpleNamespace(namespace="default", data_converter=converter)
    async with console_client(down) as http:
        response = await post(
            http, "/codec/encode", {"payloads": [PLAIN]}, headers(token_of(console_settings))
        )
    assert 503 == response.status_code
    assert "the test KMS failed" in response.json()["error"]


def test_a_token_file_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    """A directory where the token should be: a CodecTokenError saying to remove it, not
    an IsADirectoryError from deep inside the console's start."""
    path = tmp_path / "codec-token"
    path.mkdir(mode=0o700)

    with pytest.raises(CodecTokenError, match="not a regular file"):
        load_or_create_codec_token(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="making a file of another user needs root")
def test_a_token_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    """A token file someone else owns (mode 0600): they chose or can change the token, so
    it is refused."""
    path = tmp_path / "codec-token"
    path.write_text("t" * 43 + "\n")
    path.chmod(0o600)
    os.chown(path, 65534, 65534)

    with pytest.raises(CodecTokenError, match="belongs to another user"):
        load_or_create_codec_token(path)


# --- what held: each is a guard now ----------------------------------------------------


@pytest.mark.parametrize("origin", ["null", UI + "/", UI.upper(), UI + ".evil.example"])
async def test_origins_that_only_look_like_the_ui_are_403(
    console_client: ConsoleClient, console_settings: ConsoleSettings, origin: str
) -> None:
    """`Origin: null` (sandboxed frames, file pages), a trailing slash, upper case, or the
    UI's name as a prefix: none is the UI's origin, all refused even with the token."""
    async with console_client(temporal()) as http:
        response = await post(
            http,
            "/codec/decode",
            {"payloads": [PLAIN]},
            headers(token_of(console_settings), Origin=origin),
        )
    assert 403 == response.status_code
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_only_post_decodes(
    console_client: ConsoleClient, console_settings: ConsoleSettings, method: str
) -> None:
    """Other methods get 405, never payloads."""
    async with console_client(temporal()) as http:
        response = await http.request(
            method, "/codec/decode", headers=headers(token_of(console_settings))
        )
    assert 405 == response.status_code


@pytest.mark.parametrize(
    "path", ["/codec/t/%2e%2e/decode", "/codec/t/x%2Fy/decode", "/codec/t//decode"]
)
async def test_path_token_tricks_are_not_a_token(console_client: ConsoleClient, path: str) -> None:
    """Encoded dots, an encoded slash, an empty token: never accepted as the codec token."""
    token_free = {"Content-Type": "application/json", "X-Namespace": "default"}
    async with console_client(temporal()) as http:
        response = await http.post(path, content=b'{"payloads": []}', headers=token_free)
    assert response.status_code in {401, 404}


async def test_a_second_namespace_header_does_not_unlock_another_namespace(
    console_client: ConsoleClient, console_settings: ConsoleSettings
) -> None:
    """Two X-Namespace headers, the other namespace first: refused as that namespace."""
    sent = [
        ("Content-Type", "application/json"),
        ("Authorization", f"Bearer {token_of(console_settings)}"),
        ("X-Namespace", "other"),
        ("X-Namespace", "default"),
    ]
    async with console_client(temporal()) as http:
        request = http.build_request(
            "POST", "/codec/decode", content=b'{"payloads": []}', headers=httpx.Headers(sent)
        )
        response = await http.send(request)
    assert 403 == response.status_code
