"""Stopping the embedded dev server: gracefully for the product, at once for a test's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.devserver import DevServer
from workflows.search_attributes import CLI_TYPES

pytestmark = pytest.mark.integration


async def test_kill_ends_the_server_and_a_second_stop_or_kill_does_nothing(
    tmp_path: Path,
) -> None:
    """kill() leaves no process; stop() and kill() after it are no-ops, never errors."""
    server = DevServer.headless(tmp_path / "temporal.db", CLI_TYPES)
    await server.start()
    pid = server.pid

    server.kill()
    server.kill()
    server.stop()

    assert pid is not None
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
