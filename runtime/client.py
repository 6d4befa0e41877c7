"""One way to reach Temporal, for the worker, the starter, the CLI and the tests.

A command line names its server once (`claims --address ... --namespace ...`): that
choice is held here for the process, so every command that connects uses it without
passing it along, and says where it connected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from runtime.codec import encrypted_data_converter
from runtime.errors import UserFacingError
from runtime.keyring import StaticKeyRing, load_key_provider, read_ring_file
from runtime.settings import Settings

DEFAULT_ADDRESS = "localhost:7233"
DEFAULT_NAMESPACE = "default"


class TemporalUnreachableError(UserFacingError):
    """No Temporal server answered at the configured address."""


@dataclass(frozen=True)
class ConnectionChoice:
    """Where a client connects when its caller names no server, and who hears of it.

    `target`/`namespace` None fall back to Temporal's env config (TEMPORAL_ADDRESS,
    TEMPORAL_NAMESPACE, profiles); `on_connect` is told the address and namespace of
    every client built without an explicit target.
    """

    target: str | None = None
    namespace: str | None = None
    on_connect: Callable[[str, str], None] | None = None


_choice = ConnectionChoice()


def choose_connection(choice: ConnectionChoice) -> None:
    """Make `choice` the default of every later `build_client` in this process."""
    global _choice  # one choice per process, made by its command line
    _choice = choice


def chosen_connection() -> ConnectionChoice:
    """The choice `build_client` applies to callers that name no server."""
    return _choice


def connection_target(target: str | None = None, namespace: str | None = None) -> tuple[str, str]:
    """The address and namespace a client built with these arguments would use."""
    config = _connect_config(target, namespace)
    return config["target_host"], config.get("namespace") or DEFAULT_NAMESPACE


def _connect_config(target: str | None, namespace: str | None) -> dict[str, Any]:
    config: dict[str, Any] = dict(ClientConfig.load_client_connect_config())
    target = target if target is not None else _choice.target
    namespace = namespace if namespace is not None else _choice.namespace
    if target is not None:
        config["target_host"] = target
    if namespace is not None:
        config["namespace"] = namespace
    config.setdefault("target_host", DEFAULT_ADDRESS)
    return config


def configured_data_converter(env: Mapping[str, str] | None = None) -> DataConverter:
    """The encrypting converter over the configured key ring (CLAIMS_KEYS_FILE or a KMS hook)."""
    env = os.environ if env is None else env
    settings = Settings.from_env(env)
    return encrypted_data_converter(load_key_provider(settings.keys_file, env))


def ring_file_converter(path: Path) -> DataConverter:
    """A converter over the ring in `path`, named by a person to read histories it encrypted."""
    ring = read_ring_file(path, private=False)
    return encrypted_data_converter(StaticKeyRing(ring, f"the key ring {path}"))


async def build_client(
    target: str | None = None,
    namespace: str | None = None,
    runtime: Runtime | None = None,
    data_converter: DataConverter | None = None,
) -> Client:
    """Connect using Temporal's env config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key).

    A target or namespace given here wins over the process's `ConnectionChoice`, which
    wins over the env config. Payloads are encrypted with the configured key ring unless
    a converter is given (tests pass one over their own keys).
    """
    if data_converter is None:
        data_converter = configured_data_converter()
    named_by_caller = target is not None
    config = _connect_config(target, namespace)
    address = config["target_host"]
    try:
        client = await Client.connect(**config, data_converter=data_converter, runtime=runtime)
    except RuntimeError as error:
        # The transport's own words stay on the chained cause, for a traceback; a person
        # at a prompt gets the address and the fix.
        raise TemporalUnreachableError(
            f"cannot reach Temporal at {address}: nothing answered. Start it with "
            "`make run`, or point --address / TEMPORAL_ADDRESS at your server."
        ) from error
    if not named_by_caller and _choice.on_connect is not None:
        _choice.on_connect(address, client.namespace)
    return client


_INDEXED_TYPES = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
}


async def ensure_search_attributes(client: Client, attributes: Mapping[str, str]) -> list[str]:
    """Register `attributes` (name -> type, as the Temporal CLI spells types) where
    missing; returns the names it added.

    The embedded dev server registers them at start; this is for any other server
    (the test server, a self-hosted cluster) where the operator API is allowed. One
    request per attribute, because not every server can list what it has.
    """
    added: list[str] = []
    for name, kind in attributes.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=client.namespace, search_attributes={name: _INDEXED_TYPES[kind]}
                )
            )
        except RPCError as error:
            if error.status is not RPCStatusCode.ALREADY_EXISTS:
                raise
        else:
            added.append(name)
    return added
