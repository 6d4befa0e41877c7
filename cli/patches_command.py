"""`claims patches`: which `workflow.patched` branches running claims still need.

A claim waits for weeks, and every worker that picks it up replays its history with the
code it runs. A change that would alter what a running claim replays goes behind
`workflow.patched(ID)`: claims that passed that point before the change take the old
branch on replay, new ones the new branch, and the SDK records a marker and adds ID to
the claim's `TemporalChangeVersion` search attribute. Once no running claim needs the old
branch, `workflow.deprecate_patch(ID)` replaces the `if`; once no running claim holds a
marker from before the deprecation, the call goes too (docs/deploying.md).

A review that began after `one-patch-marker` records that one marker only: it stands for
every patch before it (each of which the review then takes without asking), so a claim
holding it counts as holding each of them.

This command says, for every patch the code knows (KNOWN_PATCHES, the one list of them),
how many running claims carry its marker and what may be done with it. It counts with one
list query per patch over the search attribute; `--histories` reads every running
claim's history instead, which also tells a deprecated marker from a live one.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from cli.base import command, console
from runtime.settings import WORKFLOW_TYPE

if TYPE_CHECKING:
    from temporalio.client import Client

# Both run the review's code, so both replay its patches (what-if runs: `claims fork`).
WORKFLOW_TYPES = (WORKFLOW_TYPE, "ClaimWhatIfWorkflow")
RUNNING_CLAIMS = "WorkflowType IN ({}) AND ExecutionStatus = 'Running'".format(
    ", ".join(f"'{name}'" for name in WORKFLOW_TYPES)
)
CHANGE_VERSION = "TemporalChangeVersion"
PATCH_MARKER = "core_patch"
PATCH_DETAILS = "patch-data"


@dataclass(frozen=True)
class KnownPatch:
    """A patch id in the workflow code; `deprecated` once its call is `deprecate_patch`."""

    patch_id: str
    where: str
    deprecated: bool = False
    # A claim holding IMPLYING_PATCH's marker takes this patch's new branch without one.
    implied: bool = False


# Every `workflow.patched` / `workflow.deprecate_patch` id in workflows/, oldest first.
# tests/unit/test_patches_command.py reads the workflow code and fails when this list
# and the code disagree, so a new patch cannot be forgotten here.
KNOWN_PATCHES = (
    KnownPatch("rejected-before-notice", "workflows/claim_review.py", implied=True),
    KnownPatch("untrusted-input", "workflows/claim_review.py", implied=True),
    KnownPatch("signed-actions", "workflows/desk.py", implied=True),
    KnownPatch("search-attribute-resting-steps", "workflows/review_book.py", implied=True),
    KnownPatch("coalesced-search-attributes", "workflows/claim_review.py", implied=True),
    KnownPatch("one-patch-marker", "workflows/claim_review.py"),
    # Recorded only by a review whose payout a gateway refused, and only then.
    KnownPatch("payment-refused-to-person", "workflows/claim_review.py"),
    # Recorded by the run that reached the approval gate, which then continues as new: a
    # claim waiting in its next run holds no marker, so it is counted as one that may
    # still take the old branch (the safe side) until it reaches the gate again.
    KnownPatch("rest-at-approval-gate", "workflows/desk.py"),
)
# The one marker a new review records for every patch marked `implied` above.
IMPLYING_PATCH = "one-patch-marker"


class Verdict(StrEnum):
    KEEP = "keep"  # some running claim may take the old branch on replay
    DEPRECATE = "deprecate"  # every running claim holds the marker: deprecate_patch is safe
    KEEP_DEPRECATED = "keep-deprecated"  # some running claim holds a marker from before
    REMOVE = "remove"  # no running claim holds a live marker: the call can go


@dataclass(frozen=True)
class PatchUse:
    """How the running claims stand with one patch."""

    patch_id: str
    where: str
    deprecated: bool
    running: int
    # Running claims whose history holds the patch's marker (any, by the search attribute).
    with_marker: int
    # Of those, markers recorded before the deprecation (None: not known, search attribute).
    live_markers: int | None
    verdict: Verdict

    @property
    def without_marker(self) -> int:
        return self.running - self.with_marker


def judge(patch: KnownPatch, running: int, with_marker: int, live_markers: int | None) -> PatchUse:
    """What may be done with `patch`, from the counts over the running claims.

    An active patch may be deprecated when every running claim holds its marker: a claim
    without it either started before the patch (and replays the old branch) or has not
    reached it yet; the two cannot be told apart here, so both keep the old branch. A
    deprecated patch may be removed when no running claim holds a marker recorded before
    the deprecation; by the search attribute alone that is when none holds any.
    """
    if not patch.deprecated:
        verdict = Verdict.DEPRECATE if with_marker == running else Verdict.KEEP
    else:
        live = with_marker if live_markers is None else live_markers
        verdict = Verdict.REMOVE if live == 0 else Verdict.KEEP_DEPRECATED
    return PatchUse(
        patch.patch_id, patch.where, patch.deprecated, running, with_marker, live_markers, verdict
    )


def patch_query(patch: KnownPatch | str) -> str:
    """Running claims that carry the patch's marker, or the one that implies it.

    The ids are ours: no quote can be in one.
    """
    if isinstance(patch, str):
        patch = next((p for p in KNOWN_PATCHES if p.patch_id == patch), KnownPatch(patch, ""))
    held = f"{CHANGE_VERSION} = '{patch.patch_id}'"
    if patch.implied:
        held = f"({held} OR {CHANGE_VERSION} = '{IMPLYING_PATCH}')"
    return f"{RUNNING_CLAIMS} AND {held}"


async def uses_by_search_attribute(client: Client) -> list[PatchUse]:
    """One count of the running claims, then one per known patch."""
    running = (await client.count_workflows(RUNNING_CLAIMS)).count
    uses = []
    for patch in KNOWN_PATCHES:
        with_marker = (await client.count_workflows(patch_query(patch))).count
        uses.append(judge(patch, running, with_marker, None))
    return uses


def markers_in(history_events: list[object]) -> dict[str, bool]:
    """The patch markers of one run's history: patch id -> recorded as deprecated."""
    from temporalio.api.history.v1 import HistoryEvent

    found: dict[str, bool] = {}
    for event in history_events:
        if not isinstance(event, HistoryEvent) or not event.HasField(
            "marker_recorded_event_attributes"
        ):
            continue
        marker = event.marker_recorded_event_attributes
        if marker.marker_name != PATCH_MARKER or PATCH_DETAILS not in marker.details:
            continue
        for payload in marker.details[PATCH_DETAILS].payloads:
            data = json.loads(payload.data)
            found[str(data["id"])] = bool(data.get("deprecated", False))
    if IMPLYING_PATCH in found:
        # The one marker stands for each implied patch, live as the review took its branch.
        for patch in KNOWN_PATCHES:
            if patch.implied:
                found.setdefault(patch.patch_id, False)
    return found


async def uses_by_history(client: Client) -> list[PatchUse]:
    """Read the current run of every running claim for its patch markers."""
    with_marker: Counter[str] = Counter()
    live: Counter[str] = Counter()
    running = 0
    async for execution in client.list_workflows(RUNNING_CLAIMS):
        running += 1
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        for patch_id, deprecated in markers_in(list(history.events)).items():
            with_marker[patch_id] += 1
            live[patch_id] += 0 if deprecated else 1
    return [
        judge(patch, running, with_marker[patch.patch_id], live[patch.patch_id])
        for patch in KNOWN_PATCHES
    ]


ADVICE = {
    Verdict.KEEP: "keep: {without} running claim(s) lack its marker and may replay the old branch",
    Verdict.DEPRECATE: "no running claim needs the old branch: safe to deprecate",
    Verdict.KEEP_DEPRECATED: "keep the deprecate_patch call: {live} running claim(s) hold "
    "a marker from before it",
    Verdict.REMOVE: "no running claim holds a marker from before the deprecation: "
    "safe to remove the call",
}


def describe(use: PatchUse) -> str:
    live = use.with_marker if use.live_markers is None else use.live_markers
    return ADVICE[use.verdict].format(without=use.without_marker, live=live)


def print_uses(uses: list[PatchUse], source: str) -> None:
    running = uses[0].running if uses else 0
    console.print(f"{running} running claim(s); patch markers read from {source}.", highlight=False)
    for use in uses:
        state = "deprecated" if use.deprecated else "patched"
        console.print(
            f"\n{use.patch_id} ({state}, {use.where})\n"
            f"  {use.with_marker} of {use.running} running claim(s) carry its marker\n"
            f"  {describe(use)}",
            highlight=False,
            soft_wrap=True,
        )


async def patches(
    histories: Annotated[
        bool,
        typer.Option(
            "--histories",
            metavar="",
            help="read every running claim's history (slow with many claims; tells "
            "deprecated markers apart)",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", metavar="", help="one JSON document, for scripts")
    ] = False,
) -> None:
    """List the workflow patches running claims still use, and which can be retired.

    For each workflow.patched id: how many running claims carry its marker, and
    whether deprecate_patch, or removing the call, is safe yet.

    Example: claims patches

    Example: claims patches --histories --json
    """
    from runtime.client import build_client

    client = await build_client()
    if histories:
        uses, source = await uses_by_history(client), "their histories"
    else:
        uses, source = await uses_by_search_attribute(client), CHANGE_VERSION
    if as_json:
        document = [asdict(use) | {"advice": describe(use)} for use in uses]
        print(json.dumps({"source": source, "patches": document}, indent=2))
        return
    print_uses(uses, source)


def register_patches_command(app: typer.Typer) -> None:
    """Add `patches` to the `claims` app."""
    app.command("patches")(command(patches))
