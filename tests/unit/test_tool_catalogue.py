"""The tool catalogue is the one declaration of each tool: the rest is read from it."""

from __future__ import annotations

import ast
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool
from temporalio.activity import _Definition

from activities.evidence_tools import EvidenceTools, as_langchain_tools, tool_activities
from activities.offline_model import OfflineModelError, evidence_calls
from activities.prompts import prompt_claim, safe_json
from activities.records import SystemOfRecord
from evaluation.loading import EvalCaseLoader
from runtime.settings import EXAMPLES_DIR, PROJECT_ROOT
from tests.helpers import sample_claim, settings_in
from tests.histories import CORPUS
from worker import build_activities
from workflows.claim import Claim
from workflows.evidence import AGENT_TURN, Evidence
from workflows.tools import TOOLS, ToolArgs, ToolSpec, validate_tool_call

HISTORIES = PROJECT_ROOT / "tests" / "histories"
# The worker's activities that are not tools: the review's own steps and the model turn.
NOT_TOOLS = {
    "load_review_policy",
    "register_reviewed_claim",
    AGENT_TURN,
    "issue_payout",
    "send_notice",
    # The nightly sweep's comparison of payouts with the payment gateway.
    "reconcile_payouts",
}


def as_the_model_reads_it(claim: Claim) -> dict[str, Any]:
    """The claim as the fenced JSON in the prompt gives it to the model."""
    parsed: dict[str, Any] = json.loads(safe_json(prompt_claim(claim)))
    return parsed


def definition(fn: Callable[..., Any]) -> _Definition:
    """The activity's name and types as the Temporal SDK reads them when it registers it."""
    return _Definition.must_from_callable(fn)


@pytest.fixture
def tools(tmp_path: Path) -> EvidenceTools:
    return EvidenceTools(
        SystemOfRecord.open(tmp_path / "records.db", EXAMPLES_DIR / "records.json")
    )


def test_the_worker_registers_the_catalogue_and_nothing_else_besides_its_own_steps(
    tmp_path: Path,
) -> None:
    """Each tool's activity is registered under the catalogue's name; no other tool is."""
    registered = [definition(fn).name or "" for fn in build_activities(settings_in(tmp_path))]

    assert sorted({spec.activity for spec in TOOLS.values()} | NOT_TOOLS) == sorted(registered)


def test_every_activity_a_recorded_history_scheduled_is_still_registered(
    tmp_path: Path,
) -> None:
    """Activity names are in recorded histories: renaming one strands every running claim
    (or evaluation: its case loader joins the worker in `create_worker`, with the client)."""
    scheduled = {
        event["activityTaskScheduledEventAttributes"]["activityType"]["name"]
        for path in sorted(CORPUS.glob("*.json"))
        for event in json.loads(path.read_text())["events"]
        if "activityTaskScheduledEventAttributes" in event
    }
    registered = {definition(fn).name for fn in build_activities(settings_in(tmp_path))}
    registered.add(definition(EvalCaseLoader.load_eval_cases).name)

    assert scheduled
    assert set() == scheduled - registered


@pytest.mark.parametrize("spec", TOOLS.values(), ids=list(TOOLS))
def test_each_tool_activity_takes_and_returns_what_the_catalogue_says(
    tools: EvidenceTools, spec: ToolSpec
) -> None:
    """The workflow sends `input_type` to the activity named `activity` and reads `result`."""
    defn = definition(tool_activities(tools)[spec.name])

    assert (spec.activity, [spec.input_type], spec.result) == (
        defn.name,
        defn.arg_types,
        defn.ret_type,
    )


@pytest.mark.parametrize("spec", TOOLS.values(), ids=list(TOOLS))
def test_each_tool_fills_an_evidence_field_of_its_result_type(spec: ToolSpec) -> None:
    """The field the workflow files a result under exists and holds that result."""
    field = Evidence.model_fields.get(spec.evidence_field)

    assert field is not None, f"Evidence has no field {spec.evidence_field}"
    assert spec.result | None == field.annotation


def test_no_two_tools_fill_the_same_evidence() -> None:
    """One field per tool: a second tool could overwrite the first one's finding."""
    fields = [spec.evidence_field for spec in TOOLS.values()]

    assert sorted(set(fields)) == sorted(fields)


def test_a_tools_input_extends_what_the_model_may_say() -> None:
    """The activity's input carries the model's arguments, so the model's call fits it."""
    for spec in TOOLS.values():
        assert issubclass(spec.input_type, spec.args)
        assert issubclass(spec.args, ToolArgs)


def test_the_model_is_offered_the_catalogue_in_its_order(tools: EvidenceTools) -> None:
    """Names, descriptions and schemas the model sees are the catalogue's."""
    offered = as_langchain_tools(tools)

    assert [(s.name, s.description, s.args) for s in TOOLS.values()] == [
        (t.name, t.description, t.args_schema) for t in offered
    ]


def test_unchecked_evidence_is_named_by_tool_in_catalogue_order() -> None:
    """Each empty field is reported under its tool's name; a filled one is not."""
    nothing = Evidence()
    only_policy = Evidence.model_validate({"policy": {"policy_number": "POL-1", "found": False}})

    assert list(TOOLS) == nothing.unchecked
    assert [n for n in TOOLS if n != "lookup_policy"] == only_policy.unchecked


@pytest.mark.parametrize("sample", ["CLM-1001", "CLM-1002", "CLM-1003", "CLM-1004"])
def test_the_offline_model_asks_every_tool_what_its_schema_asks(
    tools: EvidenceTools, sample: str
) -> None:
    """Its first turn reads each offered schema; every call passes the workflow's check."""
    claim = sample_claim(sample)
    offered = [convert_to_openai_tool(t) for t in as_langchain_tools(tools)]

    calls = evidence_calls(as_the_model_reads_it(claim), offered)

    assert list(TOOLS) == [c["name"] for c in calls]
    refused = {
        c["name"]: checked
        for c in calls
        if isinstance(checked := validate_tool_call(claim, c["name"], c["args"]), str)
    }
    assert {} == refused


def test_the_offline_model_refuses_a_tool_argument_it_cannot_fill() -> None:
    """A new tool with an argument the reference model does not know fails loudly."""
    tool = {
        "type": "function",
        "function": {
            "name": "ask_the_moon",
            "parameters": {"properties": {"phase": {"type": "string"}}},
        },
    }

    with pytest.raises(OfflineModelError, match="cannot fill phase for the tool ask_the_moon"):
        evidence_calls(as_the_model_reads_it(sample_claim()), [tool])


def test_workflow_code_imports_no_activity_module() -> None:
    """The workflow calls tools and the model by activity name, so it loads none of their I/O."""
    imports = {
        f"{path.name}: {name}"
        for path in (PROJECT_ROOT / "workflows").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        for name in (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        if name == "activities" or name.startswith("activities.")
    }

    assert set() == imports
