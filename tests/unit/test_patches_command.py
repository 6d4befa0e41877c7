"""`claims patches`: the list of known patches agrees with the workflow code, the
verdicts follow the SDK's patch rules, and markers are read from a recorded history."""

from __future__ import annotations

import ast

import pytest
from temporalio.client import WorkflowHistory

from cli.patches_command import (
    IMPLYING_PATCH,
    KNOWN_PATCHES,
    KnownPatch,
    Verdict,
    judge,
    markers_in,
    patch_query,
)
from runtime.settings import PROJECT_ROOT

WORKFLOWS = PROJECT_ROOT / "workflows"
HISTORIES = PROJECT_ROOT / "tests" / "histories"


def patch_calls_in_code() -> dict[str, tuple[str, bool]]:
    """Every id passed to workflow.patched / deprecate_patch in workflows/: id -> (file,
    deprecated). Ids are named by module constants, resolved across the package."""
    constants: dict[str, str] = {}
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in WORKFLOWS.glob("*.py")}
    for tree in trees.values():
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                constants[node.targets[0].id] = node.value.value
    found: dict[str, tuple[str, bool]] = {}
    for path, tree in trees.items():
        for call in ast.walk(tree):
            if not (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr in {"patched", "deprecate_patch"}
                and call.args
            ):
                continue
            argument = call.args[0]
            if isinstance(argument, ast.Constant):
                patch_id = str(argument.value)
            else:
                assert isinstance(argument, ast.Name), ast.unparse(argument)
                if argument.id not in constants:
                    # ReviewBook.patched passes its parameter on; its callers name the id.
                    continue
                patch_id = constants[argument.id]
            where = str(path.relative_to(PROJECT_ROOT))
            found[patch_id] = (where, call.func.attr == "deprecate_patch")
    return found


def test_every_patch_in_the_code_is_known_and_no_other() -> None:
    """KNOWN_PATCHES names each patch id the workflow code asks, where, and whether it is
    deprecated: add a new patch there when adding it to a workflow."""
    known = {patch.patch_id: (patch.where, patch.deprecated) for patch in KNOWN_PATCHES}
    assert patch_calls_in_code() == known


@pytest.mark.parametrize(
    ("deprecated", "running", "with_marker", "live", "verdict"),
    [
        (False, 5, 5, None, Verdict.DEPRECATE),
        (False, 5, 3, None, Verdict.KEEP),
        (False, 0, 0, None, Verdict.DEPRECATE),
        (True, 5, 0, None, Verdict.REMOVE),
        (True, 5, 2, None, Verdict.KEEP_DEPRECATED),
        (True, 5, 5, 0, Verdict.REMOVE),
        (True, 5, 5, 1, Verdict.KEEP_DEPRECATED),
    ],
)
def test_verdicts_follow_the_patch_rules(
    deprecated: bool, running: int, with_marker: int, live: int | None, verdict: Verdict
) -> None:
    """A patch is deprecated once every running claim holds its marker; a deprecated one
    removed once no running claim holds a marker from before the deprecation (by the
    search attribute, which cannot tell the two apart: once none holds any)."""
    patch = KnownPatch("p", "workflows/x.py", deprecated)
    assert verdict == judge(patch, running, with_marker, live).verdict


def test_markers_are_read_from_a_recorded_history() -> None:
    """A review recorded before `one-patch-marker` holds a marker per patch it passed."""
    path = HISTORIES / "auto_approve_before_one_patch_marker_patch.json"
    history = WorkflowHistory.from_json("claim", path.read_text(encoding="utf-8"))
    markers = markers_in(list(history.events))
    assert {
        "untrusted-input": False,
        "signed-actions": False,
        "search-attribute-resting-steps": False,
        "coalesced-search-attributes": False,
    } == markers


def test_the_one_marker_stands_for_every_earlier_patch() -> None:
    """A review recorded with `one-patch-marker` holds that marker alone; it counts as
    holding every earlier patch, live, the rejection's one included (and none added after)."""
    path = HISTORIES / "auto_approve.json"
    history = WorkflowHistory.from_json("claim", path.read_text(encoding="utf-8"))
    markers = markers_in(list(history.events))
    ids = [patch.patch_id for patch in KNOWN_PATCHES]
    up_to_it = KNOWN_PATCHES[: ids.index(IMPLYING_PATCH) + 1]
    assert {patch.patch_id: False for patch in up_to_it} == markers


def test_the_implying_patch_is_the_newest_and_implies_all_before_it() -> None:
    """Patches added after `one-patch-marker` record markers of their own again."""
    ids = [patch.patch_id for patch in KNOWN_PATCHES]
    newest = ids.index(IMPLYING_PATCH)
    assert all(patch.implied for patch in KNOWN_PATCHES[:newest])
    assert not any(patch.implied for patch in KNOWN_PATCHES[newest:])


def test_the_query_counts_running_claims_of_one_patch() -> None:
    """One list query per patch: running claims of both workflow types that carry it, or
    the one marker that implies it."""
    query = patch_query("signed-actions")
    assert "ExecutionStatus = 'Running'" in query
    assert "'ClaimReviewWorkflow'" in query
    assert query.endswith(
        "(TemporalChangeVersion = 'signed-actions' OR TemporalChangeVersion = 'one-patch-marker')"
    )
    assert patch_query(IMPLYING_PATCH).endswith("TemporalChangeVersion = 'one-patch-marker'")
