"""Secrets out of every error and log line: credentials are replaced by `[redacted]`.

Model providers and proxies sometimes quote the request back in an error body, headers
included, and that text would otherwise travel into activity failures, history, the
state's routing reasons, `claims show` and the worker log. `redact` recognises secrets by
their shape (authorization headers, `api_key=...` style pairs in text, JSON and query
strings, well-known key formats, passwords in URLs) and removes the literal values it is
given. It imports only `re`, so workflow code may use it: it is pure and deterministic.

`environment_secrets` reads the credentials configured in the environment
(OPENAI_API_KEY, TEMPORAL_API_KEY and any `*_API_KEY`, `*_TOKEN`, `*_SECRET`,
`*_PASSWORD`); `redact_secrets` removes both. They read the environment, so they are
for activities, the worker and the CLI, never for workflow code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

MARKER = "[redacted]"
# Shorter values would also match ordinary words and numbers in unrelated text.
MIN_SECRET_LENGTH = 8
SECRET_NAME_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")
SECRET_NAMES = frozenset({"OPENAI_API_KEY", "TEMPORAL_API_KEY"})

_AUTH_SCHEMES = r"bearer|basic|token|digest|negotiate|ntlm|apikey|api-key|bot|aws4-hmac-sha256"
# A value already replaced stays as it is, so redacting twice changes nothing more. A
# quoted value runs to its closing quote; an unquoted one to the next delimiter.
_DONE = re.escape(MARKER)
_QUOTED = rf"(?:{_DONE}|[^\"'\r\n]*[^\"'\\\r\n])"
_UNQUOTED = rf"(?:{_DONE}|[^\s\"'\\,;&<>()\[\]{{}}]+)"
_VALUE = rf"""(?P<quote>\\?["'])?
    (?P<scheme>(?:{_AUTH_SCHEMES})\s+(?=\S))?
    (?(quote){_QUOTED}|{_UNQUOTED})"""

# `Authorization: Bearer x`, `"authorization": "Basic x"`, `{'Proxy-Authorization': 'x'}`;
# the scheme stays readable, the credential goes.
_AUTHORIZATION = re.compile(
    rf"""(?P<key>(?<![\w-])(?:proxy-)?authorization\\?["']?\s*[:=]\s*){_VALUE}""",
    re.IGNORECASE | re.VERBOSE,
)
# `api_key=x`, `"access_token": "x"`, `?apikey=x&`, `X-Api-Key: x`, `db_password='x'`. The
# name must be followed by `:` or `=`, so prose that merely mentions a token keeps its
# words; `token` must end the name, so `token_usage` and `max_tokens` are not secrets.
_NAMED = re.compile(
    rf"""(?P<key>(?<![\w-])[\w-]*?
            (?:api[-_]?key|token|secret|password|passwd|passphrase|private[-_]?key)
            (?![\w-])\\?["']?\s*[:=]\s*){_VALUE}""",
    re.IGNORECASE | re.VERBOSE,
)
# A bearer credential quoted without its header name; tokens have digits or punctuation,
# which keeps "bearer of the receipt" in a claim readable.
_BEARER = re.compile(
    rf"(?P<key>(?<![\w-])bearer\s+)(?!{_DONE})(?=[^\s]*[\d_.=/+-])[^\s\"'\\,;&<>()\[\]{{}}]{{8,}}",
    re.IGNORECASE,
)
# Keys recognisable on their own: OpenAI (sk-, sk-proj-), GitHub, Slack, AWS access key
# ids, and JSON web tokens (Temporal Cloud API keys are JWTs).
_KNOWN_FORMATS = re.compile(
    r"""(?<![\w-])(?:
        sk-[A-Za-z0-9_-]{16,}
        |gh[pousr]_[A-Za-z0-9]{20,}
        |github_pat_[A-Za-z0-9_]{20,}
        |xox[abposr]-[A-Za-z0-9-]{10,}
        |AKIA[0-9A-Z]{16}
        |eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*
    )(?![\w-])""",
    re.VERBOSE,
)
# `https://user:password@host`: the user stays, the password goes.
_URL_PASSWORD = re.compile(r"(?P<key>://[^/\s:@]+:)[^/\s@]+(?=@)")


def _keep_key(match: re.Match[str]) -> str:
    """The name, opening quote and scheme as they were; the value replaced."""
    groups = match.groupdict()
    return f"{groups['key']}{groups['quote'] or ''}{groups.get('scheme') or ''}{MARKER}"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without credentials: each literal in `secrets` (of 8 characters or more) and
    everything shaped like one is replaced by `[redacted]`.

    Deterministic and without I/O, so safe in workflow code; applying it twice changes
    nothing more.
    """
    for secret in sorted(
        {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True
    ):
        text = text.replace(secret, MARKER)
    text = _AUTHORIZATION.sub(_keep_key, text)
    text = _NAMED.sub(_keep_key, text)
    text = _BEARER.sub(lambda m: f"{m['key']}{MARKER}", text)
    text = _KNOWN_FORMATS.sub(MARKER, text)
    return _URL_PASSWORD.sub(lambda m: f"{m['key']}{MARKER}", text)


def environment_secrets(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The credentials configured in `env` (the process environment by default)."""
    if env is None:
        # Imported here, not at module scope: workflow code imports this module.
        import os

        env = os.environ
    return tuple(
        value
        for name, value in env.items()
        if len(value) >= MIN_SECRET_LENGTH
        and (name.upper() in SECRET_NAMES or name.upper().endswith(SECRET_NAME_SUFFIXES))
    )


def redact_secrets(text: str, env: Mapping[str, str] | None = None) -> str:
    """`redact` with the environment's credentials: for activities, the worker and the CLI."""
    return redact(text, environment_secrets(env))
