"""Histories replayed against today's ClaimReviewWorkflow code: the replay check, and
the state at a version.

A history replays when today's code issues the same commands, in the same order, as the
code that wrote it; if not, the claims it stands for cannot resume after a deploy. For
each file the answer is OK, or the error with the history event where replay broke.

Replaying a claim's history up to the workflow task that made a version rebuilds the
state as that task left it (`state_at_version`).

This is the one module of `history` that loads the workflow, and with it the agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from google.protobuf.json_format import ParseError
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent, WorkflowExecutionStartedEventAttributes
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)
from temporalio.workflow import NondeterminismError

from history.decoding import decode_history
from history.timeline import decode_payload
from history.versions import find_version, latest_state, through_task
from runtime.codec import PayloadKeyError
from runtime.settings import WORKFLOW_TYPE
from runtime.text import printable
from workflows.claim import workflow_id_for
from workflows.claim_review import ClaimReviewWorkflow
from workflows.state import ClaimState

# Replaying a prefix of a history is quick; a prefix that hangs is given up on.
PREFIX_REPLAY_TIMEOUT_SECONDS = 10.0
# Temporal ends a history at 50 MB; as JSON, with payloads in base64, that is under
# twice as much. A bigger file is not a history, and is not read into memory.
HISTORY_FILE_LIMIT_BYTES = 128 * 2**20

_EVENT_IN_MESSAGE = re.compile(r"HistoryEvent\(id: (\d+), (\w+)\)")
_SCHEDULED_ACTIVITY = re.compile(r"Activity type of scheduled event '([^']*)'")
_CORE_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


class HistoryFileError(Exception):
    """A file that is not a readable workflow history."""


@dataclass(frozen=True)
class EventRef:
    event_id: int
    event_type: str
    detail: str = ""
    # Found as the first event of the workflow task that broke, not named by the error.
    near: bool = False

    def __str__(self) -> str:
        what = f"{self.event_type} {self.detail}".strip()
        return f"{'near ' if self.near else ''}event {self.event_id} ({what})"


@dataclass(frozen=True)
class ReplayReport:
    path: Path
    events: int
    error: str | None = None
    nondeterministic: bool = False
    at: EventRef | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# A what-if's history reads like a review's (timeline, audit); only reviews are replayed
# against ClaimReviewWorkflow.
READABLE_TYPES = (WORKFLOW_TYPE, "ClaimWhatIfWorkflow")


def load_history(path: Path, *, readable: Sequence[str] = (WORKFLOW_TYPE,)) -> WorkflowHistory:
    """A history from `claims history export` or `temporal workflow show --output json`,
    as stored: encrypted payloads stay encrypted (see `load_decoded_history`)."""
    try:
        size = path.stat().st_size
        if size > HISTORY_FILE_LIMIT_BYTES:
            raise HistoryFileError(
                f"it is {size:,} bytes, more than a workflow history exported as JSON "
                f"can be ({HISTORY_FILE_LIMIT_BYTES:,} bytes)"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise HistoryFileError(f"cannot read it: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise HistoryFileError(
            f"not UTF-8 text (byte {error.start} is 0x{error.object[error.start]:02x}); "
            "export the history again as JSON"
        ) from None
    try:
        history = WorkflowHistory.from_json(path.stem, text)
    except (ValueError, ParseError, KeyError, TypeError) as error:
        raise HistoryFileError(f"not a workflow history in JSON: {error}") from None
    if not history.events:
        raise HistoryFileError("the history has no events")
    first = history.events[0]
    if not first.HasField("workflow_execution_started_event_attributes"):
        raise HistoryFileError("the history does not begin with the workflow's start")
    started = first.workflow_execution_started_event_attributes
    if started.workflow_type.name not in readable:
        raise HistoryFileError(
            f"it is a history of {printable(started.workflow_type.name[:100])}, "
            f"not of {' or '.join(readable)}"
        )
    return WorkflowHistory(recorded_workflow_id(started, path.stem), history.events)


async def load_decoded_history(
    path: Path, converter: DataConverter, *, readable: Sequence[str] = (WORKFLOW_TYPE,)
) -> WorkflowHistory:
    """The history in `path` with every payload decoded by `converter`'s codec.

    A history the test server recorded names no workflow id; it is read from the decoded
    claim, which an encrypted history only shows once decoded.
    """
    history = await decode_history(load_history(path, readable=readable), converter)
    started = history.events[0].workflow_execution_started_event_attributes
    return WorkflowHistory(recorded_workflow_id(started, path.stem), history.events)


def recorded_workflow_id(started: WorkflowExecutionStartedEventAttributes, fallback: str) -> str:
    """The workflow id the history ran under, which the review checks when replayed.

    The start event names it; where a server did not record it there (the time-skipping
    test server), a review can only have run as `claim-<claim_id>` of its input claim.
    """
    if started.workflow_id:
        return started.workflow_id
    claim = decode_payload(started.input.payloads[0]) if started.input.payloads else None
    claim_id = claim.get("claim_id") if isinstance(claim, dict) else None
    return workflow_id_for(claim_id) if isinstance(claim_id, str) and claim_id else fallback


def event_type_name(event: HistoryEvent) -> str:
    """ActivityTaskScheduled, as Temporal's UI and CLI name event types."""
    name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.title() for part in name.split("_"))


def _ref(event: HistoryEvent) -> EventRef:
    detail = ""
    if event.HasField("activity_task_scheduled_event_attributes"):
        detail = event.activity_task_scheduled_event_attributes.activity_type.name
    elif event.HasField("timer_started_event_attributes"):
        detail = f"timer {event.timer_started_event_attributes.timer_id}"
    elif event.HasField("workflow_execution_signaled_event_attributes"):
        detail = event.workflow_execution_signaled_event_attributes.signal_name
    return EventRef(event.event_id, event_type_name(event), detail)


def failure_message(error: BaseException) -> str:
    """The message inside the SDK core's `Failure { message: "..." }`, or the error itself."""
    text = str(error)
    found = _CORE_MESSAGE.search(text)
    if found is None:
        return " ".join(text.split())
    return re.sub(r"\\(.)", r"\1", found.group(1))


def _named_events(message: str, events: Sequence[HistoryEvent]) -> list[HistoryEvent]:
    """The events an error message names: by id, or the scheduled activity's type."""
    by_id = _EVENT_IN_MESSAGE.search(message)
    if by_id is not None:
        wanted = int(by_id.group(1))
        return [e for e in events if e.event_id == wanted]
    scheduled = _SCHEDULED_ACTIVITY.search(message)
    if scheduled is not None:
        return [
            e
            for e in events
            if e.HasField("activity_task_scheduled_event_attributes")
            and e.activity_task_scheduled_event_attributes.activity_type.name == scheduled.group(1)
        ]
    return []


async def _failing_task(replayer: Replayer, history: WorkflowHistory) -> tuple[int, int] | None:
    """Where in `history.events` (start, end) the workflow task that broke replay lies.

    A history cut right after a workflow task started is what a worker sees for a
    running claim, so it replays; the first such cut that fails contains the break, in
    the commands of the task before it. Bisection keeps this to a few quick replays.
    """
    events = history.events
    started = "workflow_task_started_event_attributes"
    cuts = [i + 1 for i, e in enumerate(events) if _which(e) == started]
    low, high = 0, len(cuts)  # cuts[:low] replay, cuts[high:] fail
    while low < high:
        middle = (low + high) // 2
        prefix = WorkflowHistory(history.workflow_id, events[: cuts[middle]])
        try:
            result = await asyncio.wait_for(
                replayer.replay_workflow(prefix, raise_on_replay_failure=False),
                PREFIX_REPLAY_TIMEOUT_SECONDS,
            )
        except TimeoutError:
            return None
        if result.replay_failure is None:
            low = middle + 1
        else:
            high = middle
    start = cuts[low - 1] if low > 0 else 0
    end = cuts[low] if low < len(cuts) else len(events)
    return start, end


def _which(event: HistoryEvent) -> str:
    return event.WhichOneof("attributes") or ""


async def locate_break(
    replayer: Replayer, history: WorkflowHistory, message: str
) -> EventRef | None:
    """The history event where replay broke: named by the message, or found by search."""
    named = _named_events(message, history.events)
    if len(named) == 1:
        return _ref(named[0])
    span = await _failing_task(replayer, history)
    if span is None:
        return None
    batch = [
        e for e in history.events[span[0] : span[1]] if not _which(e).startswith("workflow_task_")
    ]
    ids = {e.event_id for e in batch}
    within = [e for e in named if e.event_id in ids]
    if within:
        return _ref(within[0])
    return replace(_ref(batch[0]), near=True) if batch else None


@contextlib.contextmanager
def _quiet_sdk_logs() -> Iterator[None]:
    """The report says what failed; the SDK's own warnings and tracebacks would repeat it."""
    logger = logging.getLogger("temporalio")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def quiet_runtime() -> Runtime:
    """A runtime whose core logs only errors: a failed replay is reported once, by us."""
    return Runtime(
        telemetry=TelemetryConfig(
            logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
        )
    )


async def replay_files(
    paths: Sequence[Path], converter: DataConverter, runtime: Runtime | None = None
) -> list[ReplayReport]:
    """Replay each file against ClaimReviewWorkflow; one report per file, in order.

    `converter` decodes what the files hold (encrypted or, for old histories, plain).
    """
    replayer = Replayer(
        workflows=[ClaimReviewWorkflow],
        data_converter=converter,
        runtime=runtime or quiet_runtime(),
    )
    reports: list[ReplayReport] = []
    with _quiet_sdk_logs():
        for path in paths:
            reports.append(await _replay_one(replayer, path, converter))
    return reports


async def _replay_one(replayer: Replayer, path: Path, converter: DataConverter) -> ReplayReport:
    try:
        history = await load_decoded_history(path, converter)
    except HistoryFileError as error:
        return ReplayReport(path, 0, error=str(error))
    except PayloadKeyError as error:
        return ReplayReport(path, 0, error=str(error))
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    failure = result.replay_failure
    if failure is None:
        return ReplayReport(path, len(history.events))
    message = failure_message(failure)
    return ReplayReport(
        path,
        len(history.events),
        error=message,
        nondeterministic=isinstance(failure, NondeterminismError),
        at=await locate_break(replayer, history, message),
    )


def describe(report: ReplayReport) -> str:
    """One line per file: OK, or what broke and where."""
    if report.ok:
        return f"OK    {report.path} ({report.events} events)"
    if report.events == 0:
        return f"FAIL  {report.path}: {report.error}"
    what = "not deterministic" if report.nondeterministic else "workflow code failed on replay"
    where = f" {'' if report.at.near else 'at '}{report.at}" if report.at else ""
    return f"FAIL  {report.path}: {what}{where}: {report.error}"


def history_paths(files: Sequence[Path], directory: Path | None) -> list[Path]:
    """The named files, then the directory's *.json files in name order."""
    paths = list(files)
    if directory is not None:
        paths.extend(sorted(directory.glob("*.json")))
    return paths


# -- the state at a version ------------------------------------------------------------


class _CaptureInstance(Interceptor):
    """Keeps a reference to the replayed workflow object, to read its state afterwards."""

    def __init__(self) -> None:
        self.instances: list[Any] = []

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        instances = self.instances

        class Capture(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                instances.append(workflow.instance())
                return await super().execute_workflow(input)

        return Capture


async def state_at_version(client: Client, claim_id: str, version: int) -> ClaimState:
    """The state as the workflow task that reached `version` left it, rebuilt by replay.

    Versions recorded in the same workflow task (routing and the wait it opens, say) come
    back together: the replay stops at task boundaries. The replay runs over the history
    of the run that made the version, whichever run of the claim that is.
    """
    current, latest = await latest_state(client, claim_id)
    found = await find_version(client, current, version, latest)
    events = through_task(list(found.history.events), found.point)
    capture = _CaptureInstance()
    replayer = Replayer(
        workflows=[ClaimReviewWorkflow],
        data_converter=client.data_converter,
        interceptors=[capture],
    )
    await replayer.replay_workflow(WorkflowHistory(found.history.workflow_id, events))
    [instance] = capture.instances
    past: ClaimState = instance.state()
    return ClaimState.model_validate(past.model_dump())
