"""Structured logs: Temporal's context flattened, secrets and documents never printed."""

from __future__ import annotations

import json
import logging

import pytest
from structlog.testing import capture_logs

from console.codec_server import log as codec_log
from runtime.logs import configure_logging, get_logger

KEY = "sk-test-SECRET-7c1e9a4b2d8f6e30"
ENV_SECRET = "configured-but-shapeless-42"


def test_workflow_context_and_redaction_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    """A workflow log line carries workflow_id, run_id, claim_id, step and version; no secrets."""
    configure_logging("json", "INFO")
    logging.getLogger("temporalio.workflow").info(
        "claim moved to routing",
        extra={
            "temporal_workflow": {"workflow_id": "claim-CLM-1", "run_id": "r-1", "attempt": 1},
            "step": "routing",
            "version": 5,
            "api_key": "sk-secret",
            "description": "the whole claim text",
        },
    )

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])

    assert ("claim-CLM-1", "r-1", "CLM-1", "routing", 5) == (
        line["workflow_id"],
        line["run_id"],
        line["claim_id"],
        line["step"],
        line["version"],
    )
    assert ("[redacted]", "[redacted]") == (line["api_key"], line["description"])


def fail_with_secrets() -> None:
    raise RuntimeError(f"provider said Authorization: Bearer {KEY} for {ENV_SECRET}")


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_the_sdks_failure_log_prints_the_traceback_without_secrets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The SDK logs a failed activity with its traceback: in both formats the exception
    text is redacted, both the key's shape and the environment's configured value.
    """
    monkeypatch.setenv("CLAIMS_TEST_TOKEN", ENV_SECRET)
    configure_logging(fmt, "INFO")
    try:
        fail_with_secrets()
    except RuntimeError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )

    err = capsys.readouterr().err

    assert "in fail_with_secrets" in err
    assert "RuntimeError: provider said Authorization: Bearer [redacted] for [redacted]" in err
    assert [] == [s for s in (KEY, ENV_SECRET) if s in err]


def test_every_value_of_a_structlog_event_is_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Message, nested fields and objects (rendered by their repr) lose their secrets;
    numbers and flags stay as they are.
    """
    configure_logging("json", "INFO")
    get_logger("claims.test").warning(
        f"call failed with api_key={KEY}",
        headers={"Authorization": f"Bearer {KEY}", "accept": ["json", f"token={KEY}"]},
        error=ValueError(f"password={KEY}"),
        attempt=2,
        final=False,
    )

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])

    assert (
        "call failed with api_key=[redacted]",
        {"Authorization": "Bearer [redacted]", "accept": ["json", "token=[redacted]"]},
        "ValueError('password=[redacted]')",
        2,
        False,
    ) == (line["event"], line["headers"], line["error"], line["attempt"], line["final"])


def test_stdlib_messages_are_redacted_after_formatting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """%-style arguments are merged into the message before it is redacted."""
    configure_logging("json", "INFO")
    logging.getLogger("httpx").info("HTTP Request: %s %s", "POST", f"https://u:{KEY}@h/v1")

    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])

    assert "HTTP Request: POST https://u:[redacted]@h/v1" == line["event"]


def test_a_module_logger_used_before_logging_is_configured_again_is_still_captured() -> None:
    """A module's logger first used under one configuration (a command run in-process)
    reaches `capture_logs` in a later test: the suite binds no logger for good."""
    configure_logging("json", "INFO")
    codec_log.warning("first use")
    configure_logging("json", "INFO")

    with capture_logs() as captured:
        codec_log.warning("codec request refused", reason="origin")

    assert [("codec request refused", "origin")] == [(e["event"], e["reason"]) for e in captured]
