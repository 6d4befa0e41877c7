"""Redaction: credentials out of any text, by shape and by value; everything else as it was."""

from __future__ import annotations

import json

import pytest

from runtime.redact import MARKER, environment_secrets, redact, redact_secrets

KEY = "sk-test-SECRET-7c1e9a4b2d8f6e30"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Authorization: Bearer {KEY}", "Authorization: Bearer [redacted]"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "authorization: Basic [redacted]"),
        ("Proxy-Authorization: Digest 5ccc069c403ebaf9", "Proxy-Authorization: Digest [redacted]"),
        ("Authorization: opaque-credential-value", "Authorization: [redacted]"),
        ("AUTHORIZATION=Bearer abc.def.ghi rest", "AUTHORIZATION=Bearer [redacted] rest"),
        (
            "request refused\r\nAuthorization: Bearer abc123\r\nHost: api",
            "request refused\r\nAuthorization: Bearer [redacted]\r\nHost: api",
        ),
        (
            f"{{'authorization': 'Bearer {KEY}', 'accept': 'application/json'}}",
            "{'authorization': 'Bearer [redacted]', 'accept': 'application/json'}",
        ),
        (
            '{"Authorization": "Bearer two words", "model": "m"}',
            '{"Authorization": "Bearer [redacted]", "model": "m"}',
        ),
        ("Invalid token: Bearer abcdef123456", "Invalid token: Bearer [redacted]"),
        (
            "quoted without its header: Bearer abc.def-123",
            "quoted without its header: Bearer [redacted]",
        ),
    ],
    ids=[
        "bearer",
        "basic",
        "proxy-digest",
        "no-scheme",
        "equals-sign",
        "raw-http",
        "python-repr",
        "json",
        "bearer-after-token",
        "bare-bearer",
    ],
)
def test_authorization_values_are_replaced_and_the_scheme_kept(text: str, expected: str) -> None:
    """Whatever the header's spelling or quoting, the credential goes; the scheme stays."""
    assert expected == redact(text)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"api_key": "abc12345"}, {"api_key": MARKER}),
        (
            {"error": {"access_token": "t0k3n-value", "code": 401}},
            {"error": {"access_token": MARKER, "code": 401}},
        ),
        (
            {"client_secret": "s3cr3t", "password": "hunter2", "x-api-key": "zz"},
            {"client_secret": MARKER, "password": MARKER, "x-api-key": MARKER},
        ),
        ({"message": "bad key", "apiKey": "q w e"}, {"message": "bad key", "apiKey": MARKER}),
        (
            {"max_tokens": 100, "token_usage": {"total_tokens": 5}},
            {"max_tokens": 100, "token_usage": {"total_tokens": 5}},
        ),
    ],
    ids=[
        "api_key",
        "nested-access-token",
        "several",
        "camel-case-with-spaces",
        "token-counts-kept",
    ],
)
def test_json_bodies_keep_their_shape_and_lose_their_secrets(
    body: dict[str, object], expected: dict[str, object]
) -> None:
    """Redacted JSON is still JSON: only the secret values change."""
    assert expected == json.loads(redact(json.dumps(body)))


def test_json_escaped_inside_a_string_is_redacted_too() -> None:
    """A JSON body quoted inside another JSON string keeps its escapes."""
    inner = json.dumps({"api_key": "abc12345", "note": "ok"})
    outer = json.dumps({"message": inner})

    assert {"message": json.dumps({"api_key": MARKER, "note": "ok"})} == json.loads(redact(outer))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /v1/models?api_key=abc123&limit=5", "GET /v1/models?api_key=[redacted]&limit=5"),
        ("https://h/cb?code=1&access_token=xyz987", "https://h/cb?code=1&access_token=[redacted]"),
        ("POST /token?apikey=abc;next", "POST /token?apikey=[redacted];next"),
        ("https://bob:hunter22@proxy.local/v1", "https://bob:[redacted]@proxy.local/v1"),
    ],
    ids=["api_key", "access_token", "apikey", "password-in-url"],
)
def test_query_strings_and_urls(text: str, expected: str) -> None:
    """Query parameters and URL passwords go; the rest of the URL stays for debugging."""
    assert expected == redact(text)


@pytest.mark.parametrize(
    "key",
    [
        KEY,
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz012345",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "xoxb-1234567890-abcdefghij",
        "AKIAIOSFODNN7EXAMPLE",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZW1wb3JhbCJ9.c2lnbmF0dXJl",
    ],
    ids=["openai", "openai-project", "github", "slack", "aws", "jwt"],
)
def test_keys_recognisable_by_their_format_go_wherever_they_appear(key: str) -> None:
    """A well-known key format is a secret even in free text."""
    assert f"the provider said: {MARKER} is not valid." == redact(
        f"the provider said: {key} is not valid."
    )


def test_configured_secrets_are_found_by_name_and_removed_by_value() -> None:
    """Credentials in the environment (known names and *_API_KEY, *_TOKEN, *_SECRET,
    *_PASSWORD) of 8 characters or more are removed wherever their value appears.
    """
    env = {
        "OPENAI_API_KEY": "plain-local-key-1",
        "TEMPORAL_API_KEY": "temporal-cloud-2",
        "CLAIMS_CONSOLE_TOKEN": "console-tok-3",
        "LEDGER_DB_PASSWORD": "ledger-pw-4",
        "WEBHOOK_SECRET": "hook-secret-5",
        "short_token": "abc",
        "PATH": "/usr/bin:/bin",
        "CLAIMS_LLM": "openai:gpt-4o-mini",
    }
    text = "keys plain-local-key-1, temporal-cloud-2, console-tok-3, ledger-pw-4, hook-secret-5; abc /usr/bin"

    assert {
        "plain-local-key-1",
        "temporal-cloud-2",
        "console-tok-3",
        "ledger-pw-4",
        "hook-secret-5",
    } == set(environment_secrets(env))
    assert (
        "keys [redacted], [redacted], [redacted], [redacted], [redacted]; abc /usr/bin"
        == redact_secrets(text, env)
    )


def test_literal_secrets_are_matched_as_text_longest_first() -> None:
    """Regex metacharacters in a secret are literal; a secret that contains another goes
    whole; values shorter than 8 characters are ignored (they would match ordinary words).
    """
    secrets = ["a.b*c+d?e", "prefix-12", "prefix-12-and-more", "short"]

    assert "[redacted] axbbcd [redacted] [redacted] short" == redact(
        "a.b*c+d?e axbbcd prefix-12-and-more prefix-12 short", secrets
    )


@pytest.mark.parametrize(
    "text",
    [
        "My hotel key card token was lost, and the front desk reset my password.",
        "Secret Santa gift: a token of appreciation for the team.",
        "Authorization pending: the manager is travelling.",
        "The bearer of this receipt paid 420.00 USD.",
        "token_usage: 812 input tokens, max_tokens 100, total_tokens=908",
        "model turn 2: submit_assessment approve 420.00 (confidence 0.92)",
        "Überweisung für Flug FRA→JFK, Beleg 🧾 #1001",
        "",
        "sk-short and desk-lamp-in-the-office",
        "control\x00chars\x1b[31m stay as they are",
    ],
)
def test_ordinary_text_is_unchanged(text: str) -> None:
    """Claims and messages that mention tokens or passwords without a value keep every word."""
    assert text == redact(text)


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Bearer {KEY}",
        "Authorization: Bearer",
        '{"authorization": "Basic x", "api_key": "abc"}',
        "password=[redacted]&token='[redacted]'",
        f"{KEY} https://u:p@h api_key=v",
    ],
)
def test_redacting_twice_changes_nothing_more(text: str) -> None:
    """Errors pass several redacting layers (activity, interceptor, log): they must agree."""
    once = redact(text)

    assert once == redact(once)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 1_000_000,
        '"token": "' + "x\\y" * 300_000,
        "authorization=" + '"' + "\\" * 1_000_000,
        "api_key=" * 125_000,
        "Bearer " * 150_000,
        "-" * 1_000_000,
    ],
    ids=[
        "one-word",
        "unterminated-quoted-value",
        "backslashes",
        "repeated-names",
        "repeated-bearer",
        "dashes",
    ],
)
def test_megabyte_inputs_are_redacted_in_one_pass(text: str) -> None:
    """Attacker-sized text is handled without catastrophic backtracking (the suite's
    timeout would catch it) and without losing its length beyond the secrets removed.
    """
    redacted = redact(text)

    assert redacted == redact(redacted)
    assert len(redacted) <= len(text) + len(MARKER)
