"""One way to reach Temporal, for the worker, the starter, the CLI and the tests."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.envconfig import ClientConfig

from runtime.errors import UserFacingError

DEFAULT_ADDRESS = "localhost:7233"


class TemporalUnreachableError(UserFacingError):
    """No Temporal server answered at the configured address."""


async def build_client(target: str | None = None, namespace: str | None = None) -> Client:
    """Connect using Temporal's env config (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key)."""
    config = ClientConfig.load_client_connect_config()
    if target is not None:
        config["target_host"] = target
    if namespace is not None:
        config["namespace"] = namespace
    config.setdefault("target_host", DEFAULT_ADDRESS)
    try:
        return await Client.connect(**config, data_converter=pydantic_data_converter)
    except RuntimeError as error:
        address = config["target_host"]
        raise TemporalUnreachableError(
            f"cannot reach Temporal at {address} ({error}); start it with `make run`, "
            "or point TEMPORAL_ADDRESS at a running server"
        ) from error
