"""Histories as people read them: every payload decrypted, every failure's message restored.

The Temporal server keeps each payload as the codec left it (encrypted) and each failure's
message and stack trace in an encoded attribute. The SDK's own payload visitor covers
what a worker sees, not history events, so this walks any history message: every
`Payload` it holds, outside search attributes (which Temporal indexes, and the codec
never touches), goes through the converter's codec in one batch; then each failure with
an encoded attribute gets its message and stack trace back.

Histories recorded before encryption pass through unchanged: the codec returns what it
did not encrypt as it is.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, SearchAttributes
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter

ENCODED_FAILURE_MESSAGE = "Encoded failure"


def _children(message: Message) -> Iterator[Message]:
    for field, value in message.ListFields():
        kind = field.message_type
        if field.type != FieldDescriptor.TYPE_MESSAGE or kind is None:
            continue
        if kind.GetOptions().map_entry:
            value_field = kind.fields_by_name["value"]
            if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                yield from value.values()
        elif field.is_repeated:
            yield from value
        else:
            yield value


def _walk(message: Message, payloads: list[Payload], failures: list[Failure]) -> None:
    for child in _children(message):
        if isinstance(child, Payload):
            payloads.append(child)
        elif isinstance(child, SearchAttributes):
            continue
        else:
            if isinstance(child, Failure):
                failures.append(child)
            _walk(child, payloads, failures)


async def decode_message(message: Message, converter: DataConverter) -> None:
    """Decode, in place, every payload and encoded failure inside `message`."""
    payloads: list[Payload] = []
    failures: list[Failure] = []
    if isinstance(message, Failure):
        failures.append(message)
    _walk(message, payloads, failures)
    codec = converter.payload_codec
    if codec is not None and payloads:
        for original, decoded in zip(payloads, await codec.decode(payloads), strict=True):
            if decoded is not original:
                original.CopyFrom(decoded)
    for failure in failures:
        _restore_common_attributes(failure, converter)


def _restore_common_attributes(failure: Failure, converter: DataConverter) -> None:
    """Put an encoded failure's message and stack trace back where people look for them."""
    if not failure.HasField("encoded_attributes"):
        return
    try:
        attributes = converter.payload_converter.from_payload(failure.encoded_attributes)
    except Exception:  # a foreign encoding stays encoded; reading a history never raises
        return
    if not isinstance(attributes, dict):
        return
    message, stack = attributes.get("message"), attributes.get("stack_trace")
    if isinstance(message, str):
        failure.message = message
    if isinstance(stack, str):
        failure.stack_trace = stack
    failure.ClearField("encoded_attributes")


async def decode_history(history: WorkflowHistory, converter: DataConverter) -> WorkflowHistory:
    """A copy of `history` with every payload decoded; the original is left as it was."""
    copy = History()
    copy.events.extend(history.events)
    await decode_message(copy, converter)
    return WorkflowHistory(history.workflow_id, list(copy.events))


async def fetch_decoded_history(
    client: Client, workflow_id: str, run_id: str | None = None
) -> WorkflowHistory:
    """A run's history from the server (the latest run when `run_id` is None), decoded."""
    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    return await decode_history(await handle.fetch_history(), client.data_converter)
