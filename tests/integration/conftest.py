"""A real Temporal dev server per test, on free ports, with its data in a temp dir."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runtime.devserver import DevServer
from runtime.settings import PROJECT_ROOT
from workflows.search_attributes import CLI_TYPES


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    """A headless dev server persisting to tmp_path; always stopped, even on failure (killed:
    its data goes with the test, so it needs no graceful shutdown)."""
    server = DevServer.headless(tmp_path / "temporal.db", CLI_TYPES)
    try:
        yield server
    finally:
        server.kill()


WorkerProcess = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def worker_process(dev_server: DevServer, tmp_path: Path) -> Iterator[WorkerProcess]:
    """Start `python worker.py` processes against the dev server; all are killed at the end."""
    started: list[subprocess.Popen[bytes]] = []
    env = os.environ | {
        "TEMPORAL_ADDRESS": dev_server.address,
        "TEMPORAL_NAMESPACE": "default",
        "CLAIMS_DATA_DIR": str(tmp_path),
        "CLAIMS_TASK_QUEUE": "claim-review-it",
        "CLAIMS_LOG_FORMAT": "json",
    }

    def start(**extra_env: str) -> subprocess.Popen[bytes]:
        with (tmp_path / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "worker.py")],
                env=env | extra_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
            )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.wait()
