"""docker-compose.temporal.yml and the Dockerfile, checked without Docker.

There is no Docker engine here, so `docker compose config` cannot run: the file is
validated against the Compose Specification's JSON schema instead (vendored beside this
test as compose-spec.json, from github.com/compose-spec/compose-spec, schema/, commit
170098ba, Apache-2.0), and then against what a cluster that runs for months needs: every
image pinned to a version, a health check and a restart policy on every service, two
workers, start-up ordered by health, the key ring and data on volumes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runtime.devserver import DYNAMIC_CONFIG
from runtime.settings import PROJECT_ROOT
from workflows.search_attributes import CLI_TYPES

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.temporal.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
SCHEMA = Path(__file__).with_name("compose-spec.json")

# A tag that names a release: at least major.minor, never `latest`; or a digest.
PINNED_TAG = re.compile(r"^\d+\.\d+[\w.+-]*$")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
LONG_RUNNING_RESTARTS = {"always", "unless-stopped"}
ONE_SHOT_RESTART = re.compile(r"^on-failure(:\d+)?$")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def unpinned(image: str) -> str | None:
    """Why `image` is not pinned to one release, or None when it is."""
    if DIGEST.search(image):
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return f"{image} has no tag (that means latest)"
    if not PINNED_TAG.match(tag):
        return f"{image} is tagged {tag!r}, not a release such as 1.2 or 1.2.3"
    return None


def mount_target(volume: str) -> str:
    """Where `source:target[:mode]` mounts (a source may hold `${VAR:-default}`)."""
    if volume.endswith((":ro", ":rw")):
        volume = volume[:-3]
    return volume.rpartition(":")[2]


def one_shot(name: str) -> bool:
    """Whether some service waits for `name` to complete: a job, not a server."""
    return any(
        isinstance(depends, dict)
        and depends.get(name, {}).get("condition") == "service_completed_successfully"
        for depends in (service.get("depends_on") for service in services().values())
    )


def test_the_file_is_valid_compose() -> None:
    """The file validates against the Compose Specification's own JSON schema."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    # The schema names draft 07 in a spelling jsonschema does not look up; say it here.
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(compose())


def test_it_brings_up_the_whole_product() -> None:
    """PostgreSQL, the schema job, Temporal, its setup, the web UI, workers and console."""
    assert {
        "postgresql",
        "temporal-schema",
        "temporal",
        "temporal-setup",
        "temporal-ui",
        "worker",
        "console",
    } == set(services())


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("postgres:16.9", None),
        ("temporalio/ui:2.49.1", None),
        ("python:3.11.13-slim-bookworm", None),
        ("postgres@sha256:" + "a" * 64, None),
        ("postgres", "postgres has no tag (that means latest)"),
        ("temporalio/ui:latest", "temporalio/ui:latest is tagged 'latest', not a release"),
        ("postgres:16", "postgres:16 is tagged '16', not a release"),
        ("localhost:5000/claims", "localhost:5000/claims has no tag (that means latest)"),
    ],
)
def test_the_pin_check_knows_a_release_from_a_moving_tag(image: str, why: str | None) -> None:
    """A version or a digest is pinned; no tag, `latest` or a bare major is not."""
    reason = unpinned(image)
    assert (reason is None) == (why is None)
    if why is not None:
        assert reason is not None
        assert reason.startswith(why)


def test_every_image_is_pinned() -> None:
    """Every service's image, and the Dockerfile's base, names one release."""
    images = [service["image"] for service in services().values()]
    bases = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert bases, "the Dockerfile has no FROM line"
    assert [] == [reason for image in images + bases if (reason := unpinned(image))]


def test_every_service_has_a_health_check_and_a_restart_policy() -> None:
    """Servers restart unless stopped and say when they are healthy; one-shot jobs (which
    others wait to complete) retry a few times and declare their health check disabled."""
    for name, service in services().items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        restart = service.get("restart", "")
        if one_shot(name):
            assert check == {"disable": True}, name
            assert ONE_SHOT_RESTART.match(restart), f"{name}: restart {restart!r}"
        else:
            assert check.get("test"), f"{name} has a healthcheck without a test"
            assert restart in LONG_RUNNING_RESTARTS, f"{name}: restart {restart!r}"


def test_start_up_waits_on_health_not_on_start() -> None:
    """Every dependency names its condition: a service starts once what it needs is
    healthy (or, for a job, completed), not merely started."""
    for name, service in services().items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name} lists depends_on without conditions"
        for other, how in depends.items():
            assert other in services(), f"{name} depends on unknown {other}"
            expected = "service_completed_successfully" if one_shot(other) else "service_healthy"
            assert expected == how.get("condition"), f"{name} -> {other}"


def test_two_workers_and_a_console_from_this_repository() -> None:
    """Two worker replicas and the console run `claims` from the image built here."""
    worker, console = services()["worker"], services()["console"]
    assert 2 == worker["deploy"]["replicas"]
    assert ["claims", "worker"] == worker["command"]
    assert ["claims", "console"] == console["command"]
    for service in (worker, console):
        assert "." == service["build"]["context"]
        assert "container_name" not in service  # replicas cannot share one name
    assert "0.0.0.0" == console["environment"]["CLAIMS_CONSOLE_BIND"]


def test_keys_and_data_are_mounted_not_baked_in() -> None:
    """The key ring is read from a mounted directory, the data directory is a volume,
    and the image's build context leaves out the local key ring and databases."""
    for name in ("worker", "console"):
        service = services()[name]
        targets = {mount_target(volume) for volume in service["volumes"]}
        keys_file = Path(service["environment"]["CLAIMS_KEYS_FILE"])
        assert str(keys_file.parent) in targets, name
        assert "/data" in targets, name
    assert "claims-data" in compose()["volumes"]
    ignored = DOCKERIGNORE.read_text(encoding="utf-8").split()
    assert {".temporal", ".venv", ".git"} <= set(ignored)


def test_the_web_ui_decodes_through_the_console() -> None:
    """The UI asks the console's codec server, with the browser's console session."""
    ui = services()["temporal-ui"]["environment"]
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    assert "true" == ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"]
    # The console lets the UI's origin (published on 8233) ask it.
    assert "8233" in services()["console"]["environment"]["CLAIMS_CODEC_ORIGINS"]


def test_the_setup_job_registers_every_search_attribute_the_workflow_sets() -> None:
    """The list in the setup job is the workflow's own: a new attribute must be added here."""
    script = services()["temporal-setup"]["command"][0]
    pairs = re.search(r"for attr in ([^;]+);", script)
    assert pairs is not None
    registered = dict(pair.split("=") for pair in pairs.group(1).split())
    assert CLI_TYPES == registered


def test_the_server_runs_with_the_dev_servers_dynamic_config() -> None:
    """The cluster refuses the payloads the dev server refuses and dispatches activities
    the same way: the file the server reads holds every setting of `DYNAMIC_CONFIG`."""
    server = services()["temporal"]
    [mounted] = server["configs"]
    assert mounted["target"] == server["environment"]["DYNAMIC_CONFIG_FILE_PATH"]
    settings = yaml.safe_load(compose()["configs"][mounted["source"]]["content"])

    # As JSON, so `value: 1` does not pass for `true` (the server would read no bool there).
    expected = {key: [{"value": value}] for key, value in DYNAMIC_CONFIG.items()}
    assert json.dumps(expected, sort_keys=True) == json.dumps(settings, sort_keys=True)
