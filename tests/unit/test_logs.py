"""Structured logs: Temporal's context flattened, secrets and documents never printed."""

from __future__ import annotations

import json
import logging

import pytest

from runtime.logs import configure_logging


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
