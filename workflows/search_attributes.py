"""Search attributes: where every claim is, answerable by one list query."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

from workflows.state import Step

CLAIM_STEP = SearchAttributeKey.for_keyword("ClaimStep")
CLAIM_AMOUNT = SearchAttributeKey.for_float("ClaimAmount")
AWAITING_HUMAN = SearchAttributeKey.for_bool("AwaitingHuman")
ASSIGNEE = SearchAttributeKey.for_keyword("Assignee")
CLAIM_DEADLINE = SearchAttributeKey.for_datetime("ClaimDeadline")

# ClaimStep shows these as `assessing`: the agent loop passes through them in seconds.
AGENT_LOOP_STEPS = frozenset({Step.ASSESSING, Step.GATHERING_EVIDENCE, Step.ROUTING})


# As `temporal server start-dev --search-attribute` and
# `temporal operator search-attribute create` spell the types.
CLI_TYPES = {
    CLAIM_STEP.name: "Keyword",
    CLAIM_AMOUNT.name: "Double",
    AWAITING_HUMAN.name: "Bool",
    ASSIGNEE.name: "Keyword",
    CLAIM_DEADLINE.name: "Datetime",
}
