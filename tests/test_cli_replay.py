"""`claims replay`: the corpus replays; a history the code no longer produces is named."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import base, history_commands
from cli.main import app
from history import replay
from tests.keys import encrypted_test_converter

HISTORIES = Path(__file__).parent / "histories"


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """A runner whose consoles do not wrap, so each file's line stays one line."""
    # The private field, not the `width` property: restoring the property afterwards
    # would pin the console to the width it had then, for every later test.
    for console in (history_commands.console, base.console, base.err_console):
        monkeypatch.setattr(console, "_width", 400)
    return CliRunner()


def corrupted_copy(tmp_path: Path) -> tuple[Path, int]:
    """manual_approve's first run with its first model turn renamed: the code never
    schedules that."""
    history = json.loads((HISTORIES / "manual_approve_run_1.json").read_text())
    for event in history["events"]:
        scheduled = event.get("activityTaskScheduledEventAttributes")
        if scheduled and scheduled["activityType"]["name"] == "agent_turn":
            scheduled["activityType"]["name"] = "agent_turn_v0"
            event_id = int(event["eventId"])
            break
    path = tmp_path / "renamed_tool.json"
    path.write_text(json.dumps(history))
    return path, event_id


def test_a_folder_of_histories_replays(runner: CliRunner, tmp_path: Path) -> None:
    """`claims replay --dir DIR`: one OK line per file, exit code 0. (Every recording of
    the corpus is replayed by tests/histories/test_replay.py; here, the command's side.)"""
    for name in ("auto_approve.json", "reject.json", "continued_as_new.json"):
        shutil.copy(HISTORIES / name, tmp_path / name)
    files = sorted(tmp_path.glob("*.json"))

    result = runner.invoke(app, ["replay", "--dir", str(tmp_path)])

    assert 0 == result.exit_code, result.output
    assert [f"OK    {f}" for f in files] == [
        line.split(" (")[0] for line in result.output.splitlines() if line.startswith("OK")
    ]
    assert f"all {len(files)} histories replay" in result.output


def test_a_history_the_code_no_longer_produces_fails_with_its_event(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The broken file's line names the event and the error; the good one is OK; exit 1."""
    broken, event_id = corrupted_copy(tmp_path)
    good = HISTORIES / "reject.json"

    result = runner.invoke(app, ["replay", str(broken), str(good)])
    lines = result.output.splitlines()

    assert 1 == result.exit_code, result.output
    assert (
        f"FAIL  {broken}: not deterministic at event {event_id} "
        "(ActivityTaskScheduled agent_turn_v0): [TMPRL1100] Nondeterminism error: "
        "Activity type of scheduled event 'agent_turn_v0' does not match activity type "
        "of activity command 'agent_turn'"
    ) == lines[0]
    assert lines[1].startswith(f"OK    {good} (")
    assert lines[2].startswith("error: 1 of 2 histories do not replay")


def test_files_that_are_not_histories_fail_without_a_traceback(
    runner: CliRunner, tmp_path: Path
) -> None:
    """A missing file and a JSON file that is no history each get a line; exit 1."""
    missing = tmp_path / "missing.json"
    not_history = tmp_path / "claim.json"
    not_history.write_text(json.dumps({"claim_id": "CLM-1"}))

    result = runner.invoke(app, ["replay", str(missing), str(not_history)])
    lines = result.output.splitlines()

    assert 1 == result.exit_code, result.output
    assert f"FAIL  {missing}: cannot read it: No such file or directory" == lines[0]
    assert lines[1].startswith(f"FAIL  {not_history}: ")
    assert lines[2].startswith("error: 2 of 2 files are not readable ClaimReviewWorkflow histories")


def test_nothing_to_replay_says_how_to_name_histories(runner: CliRunner) -> None:
    """No files and no folder: a usage error that shows the convenience form."""
    result = runner.invoke(app, ["replay"])

    assert 1 == result.exit_code
    assert (
        "error: no histories to replay; name JSON files or a folder, such as "
        "`claims replay --dir tests/histories`"
    ) == result.output.strip()


def test_a_file_that_is_not_utf8_or_too_big_fails_without_a_traceback(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Latin-1 file names the byte; an oversized file is refused before it is read."""
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"events": [{"note": "r\u00e9sum\u00e9"}]}'.encode("latin-1"))
    big = tmp_path / "big.json"
    big.write_text(" " * 41)
    monkeypatch.setattr(replay, "HISTORY_FILE_LIMIT_BYTES", 40)

    result = runner.invoke(app, ["replay", str(latin), str(big)])
    lines = result.output.splitlines()

    assert 1 == result.exit_code, result.output
    assert (
        f"FAIL  {latin}: not UTF-8 text (byte 23 is 0xe9); export the history again as JSON"
    ) == lines[0]
    assert (
        f"FAIL  {big}: it is 41 bytes, more than a workflow history exported as JSON can be "
        "(40 bytes)"
    ) == lines[1]


def test_a_history_replays_under_the_workflow_id_it_ran_under_not_its_file_name(
    runner: CliRunner, tmp_path: Path
) -> None:
    """The review checks its workflow id: a renamed export, or one from a server that did
    not record the id in the start event, still replays as claim-<claim_id>."""
    history = json.loads((HISTORIES / "manual_approve.json").read_text())
    renamed = tmp_path / "exported-by-hand.json"
    renamed.write_text(json.dumps(history))
    del history["events"][0]["workflowExecutionStartedEventAttributes"]["workflowId"]
    without_id = tmp_path / "no-id.json"
    without_id.write_text(json.dumps(history))

    result = runner.invoke(app, ["replay", str(renamed), str(without_id)])

    assert 0 == result.exit_code, result.output
    converter = encrypted_test_converter()
    assert ["claim-REPLAY-APPROVE"] * 2 == [
        asyncio.run(replay.load_decoded_history(path, converter)).workflow_id
        for path in (renamed, without_id)
    ]
