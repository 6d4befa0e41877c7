"""The worker's workflow sandbox, without a per-payload cost the claim's codec never uses.

Before it decodes a workflow task and after it encodes the answer, the SDK asks the
workflow which serialization context applies to each payload sequence: an activity's, a
child workflow's, or the workflow's own. It asks about five times a payload (decoding,
external storage, encoding), and with the sandbox every question runs code inside it,
with the sandbox's import hooks applied. On a recorded manual approval that is nearly half
of a replay's CPU (35.7 ms with the questions, 19.5 ms without), and a worker replays a
claim whenever it takes one it has not cached, as with most approvals among ten thousand
waiting claims.

The answer matters only to a codec or an external storage that reads the context. The
claim's `EncryptionCodec` does not: a payload is encrypted the same way whatever it
belongs to. So for a converter whose codec and storage ignore the context, this runner
answers with the workflow's own context directly, and everything else (the workflow's
code, its restrictions, its activations) runs in the SDK's sandbox unchanged. For any
other converter it is the SDK's sandbox as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from temporalio.bridge.proto.workflow_activation import WorkflowActivation
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.converter import (
    DataConverter,
    SerializationContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions
from temporalio.workflow import Info


def reads_context(data_converter: DataConverter) -> bool:
    """Whether the converter's codec or external storage would encode differently per
    command (the payload converter runs inside the workflow, where it gets its own)."""
    return (
        isinstance(data_converter.payload_codec, WithSerializationContext)
        or data_converter.external_storage is not None
    )


class _WorkflowContextInstance(WorkflowInstance):
    """A sandboxed workflow that names its own context for every payload."""

    def __init__(self, sandboxed: WorkflowInstance, details: WorkflowInstanceDetails) -> None:
        self._sandboxed = sandboxed
        info = details.info
        self._context = WorkflowSerializationContext(
            namespace=info.namespace, workflow_id=info.workflow_id
        )
        self._store_context = StorageDriverStoreContext(
            target=StorageDriverWorkflowInfo(
                id=info.workflow_id,
                run_id=info.run_id,
                type=info.workflow_type,
                namespace=info.namespace,
            )
        )

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        return self._sandboxed.activate(act)

    def get_serialization_context(self, command_info: object) -> SerializationContext | None:
        return self._context

    def get_external_store_context(self, command_info: object) -> StorageDriverStoreContext:
        return self._store_context

    def get_info(self) -> Info:
        return self._sandboxed.get_info()

    def get_thread_id(self) -> int | None:
        # The deadlock detector reads the stuck thread's frames through this.
        return self._sandboxed.get_thread_id()


@dataclass(frozen=True)
class WorkflowContextSandboxedRunner(SandboxedWorkflowRunner):
    """The SDK's sandbox; only the serialization-context questions are answered outside."""

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        return _WorkflowContextInstance(super().create_instance(det), det)


def sandboxed_runner(
    data_converter: DataConverter, passthrough_modules: Sequence[str]
) -> SandboxedWorkflowRunner:
    """The worker's runner: the sandbox with these modules imported once for every
    workflow, answering context questions directly when the converter ignores them."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*passthrough_modules)
    if reads_context(data_converter):
        return SandboxedWorkflowRunner(restrictions=restrictions)
    return WorkflowContextSandboxedRunner(restrictions=restrictions)
