"""People's text reaches a terminal as printable, literal text: no escape, no bidi, no markup."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli.main import app
from cli.render import ClaimRow, claims_table, print_error, render_state
from runtime.text import json_printable, printable
from tests.helpers import sample_claim
from workflows.claim import SupportingDocument
from workflows.routing import RoutingDecision
from workflows.state import (
    AuditOutcome,
    ClaimOutcome,
    ClaimState,
    DecisionKind,
    DecisionRecord,
    InformationRequest,
    OutcomeStatus,
    PendingAction,
    PendingActionType,
    ProposalEdit,
    ProposedActions,
)

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TITLE_AND_RED = "\x1b]0;pwned\x07\x1b[31m"
MARKUP = "[bold]x[/bold]"
HOSTILE = f"{TITLE_AND_RED}{MARKUP}\u202egnp.exe\x9b2J\x7f"
SGR = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Daniel Okafor", "Daniel Okafor"),
        ("Zoë Ωmega 日本", "Zoë Ωmega 日本"),
        (TITLE_AND_RED, "\\x1b]0;pwned\\x07\\x1b[31m"),
        ("a\x00b\x7fc", "a\\x00b\\x7fc"),
        ("\x9b31m", "\\x9b31m"),
        ("pay \u202e001", "pay \\u202e001"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("zero\u200bwidth\ufeff", "zero\\u200bwidth\\ufeff"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("lone \ud800", "lone \\ud800"),
        ("one\ntwo\tthree\r", "one\\ntwo\\tthree\\r"),
        (MARKUP, MARKUP),
    ],
)
def test_printable_shows_every_control_as_its_escape(text: str, shown: str) -> None:
    """Control, bidi, invisible and unpaired characters show as escapes; other text is unchanged."""
    assert shown == printable(text)


def test_multiline_keeps_newlines_and_nothing_else() -> None:
    """Multiline text keeps its newlines; every other control, carriage return too, is escaped."""
    assert "one\ntwo\\x1b[2J\\r" == printable("one\ntwo\x1b[2J\r", multiline=True)


def test_json_printable_means_the_same_document() -> None:
    """Escaped characters decode to the originals: `--json` output stays exact and safe."""
    document = json.dumps({"name": HOSTILE, "emoji": "🙂", "n": 1}, indent=2, ensure_ascii=False)

    safe = json_printable(document)

    assert json.loads(document) == json.loads(safe)
    assert [] == [c for c in safe if c not in "\n" and not c.isprintable()]
    assert "🙂" in safe


def hostile_state() -> ClaimState:
    """A claim whose every person-typed field holds escapes, bidi and rich markup.

    Built without validation on purpose: states recorded before names were checked
    still exist, and `claims show` must print them safely too.
    """
    claim = sample_claim()
    claim = claim.model_copy(
        update={
            "claim_id": f"CLM-{HOSTILE}",
            "claimant": claim.claimant.model_copy(update={"name": HOSTILE, "id": HOSTILE}),
        }
    )
    state = ClaimState.begin(claim, workflow_id=f"claim-{HOSTILE}", at=T0, history_length=3)
    context = state.context
    context.supporting_docs = [
        SupportingDocument.model_construct(doc_id=HOSTILE, kind=HOSTILE, uri="s3://x")
    ]
    context.notes.append(HOSTILE)
    context.information_requests.append(
        InformationRequest(at=T0, requested_by=HOSTILE, what=HOSTILE, from_whom=HOSTILE)
    )
    context.routing = RoutingDecision(
        auto_approve=False, proposed_payout=Decimal(1), reasons=[HOSTILE]
    )
    context.proposal = ProposedActions(
        payout_amount=Decimal(1),
        currency="USD",
        payee_id=HOSTILE,
        customer_message=HOSTILE,
        approvals=[HOSTILE],
        edits=[
            ProposalEdit(
                at=T0,
                version=2,
                actor=HOSTILE,
                changes={"msg": (HOSTILE, HOSTILE)},
                comment=HOSTILE,
            )
        ],
    )
    context.previous_decisions.append(
        DecisionRecord.model_construct(
            at=T0, actor=HOSTILE, decision=DecisionKind.APPROVE, comment=HOSTILE
        )
    )
    state.pending_actions.append(
        PendingAction(
            type=PendingActionType.WAIT_FOR_APPROVAL,
            timeout=T0 + timedelta(hours=72),
            created_at=T0,
            trigger=HOSTILE,
            assignee=HOSTILE,
            assignee_roles=[HOSTILE],
            on_timeout=HOSTILE,
        )
    )
    state.assignee = HOSTILE
    state.audit(at=T0, actor=HOSTILE, action=HOSTILE, outcome=AuditOutcome.REFUSED, detail=HOSTILE)
    state.outcome = ClaimOutcome(
        claim_id=HOSTILE,
        status=OutcomeStatus.REJECTED,
        decided_by=HOSTILE,
        payout_amount=Decimal(0),
        currency="USD",
        decided_at=T0,
        reason=HOSTILE,
    )
    return state


def rendered(renderable: object, *, terminal: bool) -> str:
    out = StringIO()
    console = Console(
        file=out,
        force_terminal=terminal,
        width=2000,
        color_system="truecolor" if terminal else None,
    )
    console.print(renderable)
    return out.getvalue()


def assert_safe(output: str, hostile_fields: int) -> None:
    """No byte of the input steers the terminal; the markup and the escapes are visible."""
    bare = SGR.sub("", output)
    assert [] == [c for c in bare if not c.isprintable() and c != "\n"]
    assert output.count(MARKUP) >= hostile_fields
    assert output.count("\\x1b]0;pwned\\x07\\x1b[31m") >= hostile_fields
    assert "\\u202e" in output


@pytest.mark.parametrize("terminal", [False, True], ids=["plain", "terminal"])
def test_claims_show_prints_hostile_text_literally(terminal: bool) -> None:
    """Claimant name, approvals, comments, notes, audit: shown, never obeyed."""
    output = rendered(render_state(hostile_state()), terminal=terminal)

    assert_safe(output, hostile_fields=10)
    if not terminal:
        assert "\x1b" not in output


def test_status_tables_print_hostile_text_literally() -> None:
    """Rows come from workflow ids and search attributes anyone can set."""
    row = ClaimRow(
        claim_id=HOSTILE,
        step=HOSTILE,
        amount=Decimal(1),
        currency="USD",
        waiting_on=HOSTILE,
        deadline=None,
        status="Running",
    )

    output = rendered(claims_table([row], title=f"Waiting for {HOSTILE}"), terminal=True)

    assert_safe(output, hostile_fields=4)


def test_errors_that_quote_input_print_it_literally() -> None:
    """An error quoting input shows its escapes and markup literally and keeps its own newlines."""
    out = StringIO()

    print_error(Console(file=out, force_terminal=True), f"refused:\n  {HOSTILE}")

    assert_safe(out.getvalue(), hostile_fields=1)
    assert "refused:\n" in SGR.sub("", out.getvalue())


def test_claims_start_refusal_quotes_input_printably(tmp_path: Path) -> None:
    """An invalid claim whose field names hold escapes is reported with them shown."""
    path = tmp_path / "claim.json"
    path.write_text(json.dumps({HOSTILE: 1}))

    result = CliRunner().invoke(
        app, ["start", str(path)], env={"TEMPORAL_ADDRESS": "127.0.0.1:1", "COLUMNS": "2000"}
    )

    assert 1 == result.exit_code
    assert "\x1b" not in result.output
    assert MARKUP in result.output
