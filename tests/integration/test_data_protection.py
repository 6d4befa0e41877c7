"""Personal data never rests in plain text in Temporal, and every tool of ours still reads it.

A claim with unmistakable personal data is reviewed end to end on a real dev server by a
worker process; then the raw bytes of the server's SQLite files and of an exported history
are searched for it. The `claims` commands are run as a user would, against the same ring,
a ring without the key, and a ring that was rotated while the worker ran.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory

from history.decoding import fetch_decoded_history
from runtime.client import build_client, configured_data_converter
from runtime.codec import KEY_ID_METADATA
from runtime.devserver import DevServer
from runtime.keyring import KeyRing, read_ring_file, rotate_ring_file, write_ring_file
from signals.client import act, claim_handle
from signals.messages import HumanAction
from starter import start_claim
from tests.helpers import eventually, unique_claim
from tests.integration.conftest import WorkerProcess
from tests.keys import write_test_ring
from workflows.claim import Claim, Claimant, SupportingDocument
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import Step

pytestmark = pytest.mark.integration
QUEUE = "claim-review-it"
CLAIMS = Path(sys.executable).parent / "claims"

NAME = "Zebedee Quorndon-Vantablack"
EMAIL = "zq.private-mail@example.test"
DESCRIPTION = "Slipped on the marmalade at the Vantablack family picnic in Quorndon"
URIS = ["s3://claims-docs/zq-7Hk2/kitchen-photo.jpg", "s3://claims-docs/zq-7Hk2/estimate.pdf"]
PERSONAL = [NAME, EMAIL, DESCRIPTION, *URIS]


def personal_claim() -> Claim:
    """CLM-1002 (waits for a manager) with personal data nothing else in the server holds."""
    claim = unique_claim("CLM-1002")
    return claim.model_copy(
        update={
            "claimant": Claimant(id=claim.claimant.id, name=NAME, email=EMAIL),
            "description": DESCRIPTION,
            "documents": [
                SupportingDocument(doc_id=f"D-{i}", kind=doc.kind, uri=uri)
                for i, (doc, uri) in enumerate(zip(claim.documents, URIS, strict=True), 1)
            ],
        }
    )


def found_in(data: bytes) -> list[str]:
    """Which personal values appear in raw bytes, as text or JSON-escaped."""
    return [value for value in PERSONAL if value.encode() in data]


async def claims_command(*args: str, keys: Path, server: DevServer) -> tuple[int, str]:
    """Run `claims ...` as a user would, against this server and key ring."""
    env = os.environ | {
        "TEMPORAL_ADDRESS": server.address,
        "TEMPORAL_NAMESPACE": "default",
        "CLAIMS_KEYS_FILE": str(keys),
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        str(CLAIMS), *args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def reviewed(client: Client, claim: Claim) -> None:
    """Start the claim, wait for the manager, approve it as maria, wait until it is paid."""
    await start_claim(client, claim, QUEUE)
    handle = claim_handle(client, claim.claim_id)
    await eventually(
        lambda: handle.query(ClaimReviewWorkflow.state),
        lambda s: s.current_step is Step.AWAITING_MANAGER_APPROVAL,
    )
    await act(client, claim.claim_id, HumanAction.APPROVE, {"approver": "maria"})
    await handle.result()


async def test_a_reviewed_claim_leaves_no_personal_data_in_the_database_or_an_export(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """Name, email, description and document URIs: absent from every byte of the server's
    SQLite files and of `claims history export` (every run: the assessment is in the run
    before the decision); `show`, `timeline` and `--decrypt` read them."""
    client = await dev_server.start()
    worker_process()
    claim = personal_claim()
    await reviewed(client, claim)
    keys = Path(os.environ["CLAIMS_KEYS_FILE"])

    exported, assessment = tmp_path / "export.json", tmp_path / "export_run_1.json"
    code, said = await claims_command(
        "history",
        "export",
        claim.claim_id,
        str(exported),
        "--every-run",
        keys=keys,
        server=dev_server,
    )
    assert (0, 2) == (code, said.count("(encrypted) to")), said
    decrypted = tmp_path / "decrypted.json"
    code, warned = await claims_command(
        "history",
        "export",
        claim.claim_id,
        str(decrypted),
        "--decrypt",
        keys=keys,
        server=dev_server,
    )
    # An earlier run's file in the way: nothing is written, and the message names it.
    (tmp_path / "again_run_1.json").write_text("mine")
    refused_code, refused = await claims_command(
        "history",
        "export",
        claim.claim_id,
        str(tmp_path / "again.json"),
        "--every-run",
        keys=keys,
        server=dev_server,
    )
    show_code, shown = await claims_command("show", claim.claim_id, keys=keys, server=dev_server)
    timeline_code, timeline = await claims_command(
        "timeline", "--file", str(exported), keys=keys, server=dev_server
    )
    decoded = await fetch_decoded_history(client, claim.workflow_id)
    dev_server.stop()  # the server's last writes reach its files

    database_files = sorted(dev_server.db_file.parent.glob(f"{dev_server.db_file.name}*"))
    assert database_files
    for path in database_files:
        assert [] == found_in(path.read_bytes()), path.name
    assert [] == found_in(exported.read_bytes())
    assert [] == found_in(assessment.read_bytes())
    # The first run is the one that assessed the claim: its tools ran there.
    assert any(
        e.HasField("activity_task_scheduled_event_attributes")
        for e in WorkflowHistory.from_json("x", assessment.read_text()).events
    )
    assert 0 == code
    assert "personal data in plain text" in warned
    # Without --every-run, the latest run alone, and a word on the one before it.
    assert "add --every-run to write the earlier runs too" in " ".join(warned.split())
    assert not (tmp_path / "decrypted_run_1.json").exists()
    assert refused_code != 0
    assert "again_run_1.json already exists" in refused
    assert ("mine", False) == (
        (tmp_path / "again_run_1.json").read_text(),
        (tmp_path / "again.json").exists(),
    )
    # Plain payloads, in the same history JSON Temporal writes (data in base64), so the
    # decrypted file replays and reads like any other export.
    plain = WorkflowHistory.from_json("x", decrypted.read_text()).events[0]
    started = plain.workflow_execution_started_event_attributes.input.payloads[0]
    assert b"json/plain" == started.metadata["encoding"]
    assert NAME in started.data.decode()
    assert (0, NAME) == (show_code, NAME if NAME in shown else shown)
    assert (0, True) == (timeline_code, "approved" in timeline.lower())
    first = decoded.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert NAME in first.data.decode()


async def test_a_ring_without_the_key_is_refused_naming_the_key(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """`claims show` and `timeline` with another ring: a message naming the key id, no garbage."""
    client = await dev_server.start()
    worker_process()
    claim = personal_claim()
    await start_claim(client, claim, QUEUE)
    history = await claim_handle(client, claim.claim_id).fetch_history()
    key_id = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    key_id_text = key_id.metadata[KEY_ID_METADATA].decode()
    stranger = tmp_path / "other-ring.json"
    write_ring_file(stranger, KeyRing.fresh())

    show_code, shown = await claims_command(
        "show", claim.claim_id, keys=stranger, server=dev_server
    )
    timeline_code, timeline = await claims_command(
        "timeline", claim.claim_id, keys=stranger, server=dev_server
    )

    for code, output in ((show_code, shown), (timeline_code, timeline)):
        assert 1 == code, output
        assert key_id_text in output
        assert "Traceback" not in output
        assert [] == found_in(output.encode())


async def test_rotation_reaches_a_running_worker_and_keeps_old_claims_readable(
    dev_server: DevServer, worker_process: WorkerProcess, tmp_path: Path
) -> None:
    """A claim encrypted before `claims keys rotate` and one after: the running worker reviews
    both without a restart, and both read back with the rotated ring."""
    ring = write_test_ring(tmp_path / "claims-keys.json")
    await dev_server.start()
    worker_process(CLAIMS_KEYS_FILE=str(ring))
    client = await build_client(
        target=dev_server.address,
        namespace="default",
        data_converter=configured_data_converter({"CLAIMS_KEYS_FILE": str(ring)}),
    )
    before = personal_claim()
    await reviewed(client, before)
    code, rotated = await claims_command("keys", "rotate", keys=ring, server=dev_server)
    assert 0 == code, rotated
    new_key = read_ring_file(ring).current_id
    after = personal_claim()
    # A fresh client reads the rotated ring; the worker learns the new key when it meets it.
    fresh = await build_client(
        target=dev_server.address,
        namespace="default",
        data_converter=configured_data_converter({"CLAIMS_KEYS_FILE": str(ring)}),
    )
    await reviewed(fresh, after)

    key_ids = {}
    for claim in (before, after):
        raw = await claim_handle(fresh, claim.claim_id).fetch_history()
        started = raw.events[0].workflow_execution_started_event_attributes
        key_ids[claim.claim_id] = started.input.payloads[0].metadata[KEY_ID_METADATA].decode()
        code, shown = await claims_command("show", claim.claim_id, keys=ring, server=dev_server)
        assert (0, True) == (code, NAME in shown), shown
    assert new_key == key_ids[after.claim_id]
    assert new_key != key_ids[before.claim_id]
    rotate_ring_file(ring)  # once more: both claims still read
    for claim in (before, after):
        code, shown = await claims_command("show", claim.claim_id, keys=ring, server=dev_server)
        assert 0 == code, shown
