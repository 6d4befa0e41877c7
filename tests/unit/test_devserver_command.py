"""The dev server's command line: the settings it must start with, spelled as the CLI reads them."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from runtime.devserver import DevServer
from workflows.search_attributes import CLI_TYPES


def dynamic_config(command: list[str]) -> list[str]:
    return [value for flag, value in pairwise(command) if flag == "--dynamic-config-value"]


def test_eager_activities_and_the_payload_limits_are_set_as_json(tmp_path: Path) -> None:
    """`true`, not Python's `True`: the CLI parses each value as JSON. Eager activities are
    set even though this server has them on by default, so a server that did not would
    still match the compose file's."""
    command = DevServer.headless(tmp_path / "t.db", CLI_TYPES).command()

    assert [
        "limit.blobSize.error=524288",
        "limit.blobSize.warn=262144",
        "system.enableActivityEagerExecution=true",
    ] == dynamic_config(command)
