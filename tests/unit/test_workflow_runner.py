"""The worker's sandbox answers serialization-context questions directly only where no
codec or storage would read the answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from runtime.workflow_runner import (
    WorkflowContextSandboxedRunner,
    reads_context,
    sandboxed_runner,
)
from tests.keys import encrypted_test_converter
from worker import DETERMINISTIC_PACKAGES


class PerActivityCodec(PayloadCodec, WithSerializationContext):
    """A codec that would encrypt each activity's payloads under a key of its own."""

    def __init__(self, context: SerializationContext | None = None) -> None:
        self.context = context

    def with_context(self, context: SerializationContext) -> PerActivityCodec:
        return PerActivityCodec(context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_the_claim_codec_ignores_context_so_the_worker_answers_directly() -> None:
    """EncryptionCodec encrypts every payload alike: the worker skips the sandbox's answer."""
    converter = encrypted_test_converter()

    runner = sandboxed_runner(converter, DETERMINISTIC_PACKAGES)

    assert not reads_context(converter)
    assert isinstance(runner, WorkflowContextSandboxedRunner)
    assert set(DETERMINISTIC_PACKAGES) <= runner.restrictions.passthrough_modules


def test_a_codec_that_reads_context_keeps_the_sdk_sandbox_as_it_is() -> None:
    """A codec keyed per activity needs each command's own context: the SDK's runner."""
    converter = dataclasses.replace(DataConverter.default, payload_codec=PerActivityCodec())

    runner = sandboxed_runner(converter, DETERMINISTIC_PACKAGES)

    assert reads_context(converter)
    assert type(runner) is SandboxedWorkflowRunner
    assert set(DETERMINISTIC_PACKAGES) <= runner.restrictions.passthrough_modules


def test_external_storage_keeps_the_sdk_sandbox_as_it_is() -> None:
    """External storage files payloads under their command's target: the SDK's runner."""
    converter = encrypted_test_converter()
    object.__setattr__(converter, "external_storage", object())

    assert reads_context(converter)
    assert type(sandboxed_runner(converter, ())) is SandboxedWorkflowRunner
