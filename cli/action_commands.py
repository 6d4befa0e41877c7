"""People's actions from the terminal: approve, reject, edit, request-info, submit-document,
and the operators' pause, resume, cancel, reassign and interrupt.

Each goes as an update (the claim answers accepted or refused, with its reason) or, with
`--signal`, as a signal that is durable even while no worker runs; `--key` signs it.
An accepted action is followed until the claim rests, so the answer says where the claim
went; an action on a finished claim says how it finished, not that the id is wrong.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from cli.base import command, console, said
from runtime.client import build_client
from runtime.errors import UserFacingError
from signals.client import (
    ActionRefused,
    Settled,
    act,
    claim_handle,
    closed_claim_answer,
    query_state,
    settle,
    signal_and_watch,
)
from signals.messages import HumanAction
from workflows.claim import money
from workflows.state import AuditOutcome, ClaimState, PendingActionType, Step

app = typer.Typer()


def where_it_rests(state: ClaimState) -> str:
    """The step a resting claim is at, with what it waits for: "completed, paid 1,250.00 USD"."""
    step = state.current_step
    if step is Step.COMPLETED and state.outcome is not None:
        return f"completed, paid {money(state.outcome.payout_amount)} {state.outcome.currency}"
    if step.is_final:
        return str(step)
    holds = (w.type is PendingActionType.OPERATOR_PAUSE for w in state.pending_actions)
    if state.paused and any(holds):
        return f"paused at {step}"
    wait = next((w for w in state.pending_actions if w.type.needs_a_person), None)
    if wait is not None and wait.assignee:
        return f"{step}, waiting for {said(wait.assignee)}"
    wait = wait or next(iter(state.pending_actions), None)
    return f"{step}, waiting: {wait.type}" if wait is not None else str(step)


def where_it_went(settled: Settled, claim_id: str) -> str:
    """Where the claim is after the action: at rest, or still moving and how to follow it."""
    follow = f"follow it with `claims show {said(claim_id)}`"
    if settled.state is None:
        return f"its new step is not known yet; {follow}"
    if settled.resting:
        return f"now {where_it_rests(settled.state)}"
    return f"still {settled.state.current_step} after {settled.followed:g}s; {follow}"


def _accepted(
    action: HumanAction, claim_id: str, version: int, detail: str, settled: Settled
) -> None:
    console.print(
        f"[green]{action} accepted[/] (claim {said(claim_id)}, version {version})"
        + (f": {said(detail)}" if detail else "")
        + f"; {where_it_went(settled, claim_id)}",
        highlight=False,
    )


async def _signed(
    client: Client, action: HumanAction, claim_id: str, payload: dict[str, Any], key: Path
) -> dict[str, Any]:
    """The payload signed with `key` for the claim's current version and a fresh nonce."""
    from cli.keys import signed_payload

    state = await query_state(claim_handle(client, claim_id))
    return signed_payload(
        payload, claim_id=claim_id, action=action, key_file=key, version=state.version
    )


async def _act(
    action: HumanAction,
    claim_id: str,
    payload: dict[str, Any],
    as_signal: bool,
    key: Path | None = None,
) -> None:
    """Send one action, signed when a key is given; print what the claim answered."""
    client = await build_client()
    payload = {k: v for k, v in payload.items() if v is not None}
    try:
        await _send(client, action, claim_id, payload, as_signal, key)
    except RPCError as error:
        # Temporal answers "not found" for a claim that has finished as for one that never
        # existed: the claim's own record tells them apart.
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        answer = await closed_claim_answer(client, claim_id)
        if answer is None:
            raise
        raise UserFacingError(answer) from None


async def _send(
    client: Client,
    action: HumanAction,
    claim_id: str,
    payload: dict[str, Any],
    as_signal: bool,
    key: Path | None,
) -> None:
    if key is not None:
        payload = await _signed(client, action, claim_id, payload, key)
    if not as_signal:
        accepted = await act(client, claim_id, action, payload)
        settled = await settle(claim_handle(client, claim_id))
        _accepted(action, claim_id, accepted.version, accepted.detail, settled)
        return
    receipt = await signal_and_watch(client, claim_id, action, payload)
    if receipt.entry is None:
        console.print(
            f"{action} signal sent to {said(receipt.workflow_id)}; no worker has processed it "
            f"yet. Check with `claims show {said(claim_id)}`.",
            highlight=False,
        )
    elif receipt.entry.outcome is AuditOutcome.REFUSED:
        raise ActionRefused(f"{action} refused: {receipt.entry.detail}")
    else:
        settled = await settle(claim_handle(client, claim_id))
        _accepted(action, claim_id, receipt.entry.version, receipt.entry.detail, settled)


ClaimArg = Annotated[str, typer.Argument(help="claim id, such as CLM-1002")]
AsOption = Annotated[
    str, typer.Option("--as", metavar="NAME", help="your name in the approver directory")
]
CommentOption = Annotated[str, typer.Option(metavar="TEXT", help="reason, kept in the audit log")]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(
        metavar="VERSION",
        help="refuse if the claim is no longer at this version (see `claims show`)",
    ),
]
SignalFlag = Annotated[
    bool, typer.Option("--signal", help="send as a signal: durable even with no worker running")
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
        metavar="FILE",
        help="sign the action with your key (`claims keys new NAME`), for the claim's version",
    ),
]


@app.command()
@command
async def approve(
    claim_id: ClaimArg,
    approver: AsOption,
    comment: CommentOption = "",
    expected_version: ExpectedVersion = None,
    confirm_zero_payout: Annotated[
        bool,
        typer.Option(
            "--confirm-zero-payout",
            help="approve a payout of 0.00: close the claim without paying anything",
        ),
    ] = False,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Approve a claim's proposed payout and message.

    Example: claims approve CLM-1002 --as maria --comment "receipts match"
    """
    payload = {
        "approver": approver,
        "comment": comment,
        "expected_version": expected_version,
        "confirm_zero_payout": confirm_zero_payout,
    }
    await _act(HumanAction.APPROVE, claim_id, payload, as_signal, key)


@app.command()
@command
async def reject(
    claim_id: ClaimArg,
    approver: AsOption,
    comment: CommentOption = "",
    expected_version: ExpectedVersion = None,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Reject a claim.

    Example: claims reject CLM-1004 --as maria --comment "not covered"
    """
    payload = {"approver": approver, "comment": comment, "expected_version": expected_version}
    await _act(HumanAction.REJECT, claim_id, payload, as_signal, key)


@app.command()
@command
async def edit(
    claim_id: ClaimArg,
    approver: AsOption,
    amount: Annotated[Decimal | None, typer.Option(help="new payout amount")] = None,
    message: Annotated[str | None, typer.Option(help="new message to the claimant")] = None,
    comment: CommentOption = "",
    expected_version: ExpectedVersion = None,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Edit the proposed payout or customer message before it executes.

    Example: claims edit CLM-1002 --as maria --amount 1000.00
    """
    payload = {
        "approver": approver,
        # A JSON number: the claim refuses amounts sent as text.
        "payout_amount": float(amount) if amount is not None else None,
        "customer_message": message,
        "comment": comment,
        "expected_version": expected_version,
    }
    await _act(HumanAction.EDIT, claim_id, payload, as_signal, key)


@app.command("request-info")
@command
async def request_info(
    claim_id: ClaimArg,
    requested_by: AsOption,
    what: Annotated[str, typer.Option(help="what is missing")],
    from_whom: Annotated[str, typer.Option("--from", help="who should send it")] = "claimant",
    expected_version: ExpectedVersion = None,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Ask for more information; the claim waits for documents, then is reassessed.

    Example: claims request-info CLM-1002 --as maria --what "the repair invoice"
    """
    payload = {
        "requested_by": requested_by,
        "what": what,
        "from_whom": from_whom,
        "expected_version": expected_version,
    }
    await _act(HumanAction.REQUEST_INFO, claim_id, payload, as_signal, key)


@app.command("submit-document")
@command
async def submit_document(
    claim_id: ClaimArg,
    doc_id: Annotated[str, typer.Option(help="document id")],
    kind: Annotated[str, typer.Option(help="document kind, such as invoice")],
    uri: Annotated[str, typer.Option(help="where the document is stored")],
    submitted_by: Annotated[str, typer.Option("--as", help="who sends it")] = "claimant",
    note: Annotated[str, typer.Option(help="a note with the document")] = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Add a document to a claim, asked for or not.

    \b
    Example:
      claims submit-document CLM-1002 --doc-id D-3 --kind invoice --uri s3://d3
    """
    payload = {
        "submitted_by": submitted_by,
        "document": {"doc_id": doc_id, "kind": kind, "uri": uri},
        "note": note,
    }
    await _act(HumanAction.SUBMIT_DOCUMENT, claim_id, payload, as_signal, key)


ReasonOption = Annotated[str, typer.Option(help="why, kept in the audit log")]


async def _operate(
    action: HumanAction,
    claim_id: str,
    operator: str,
    reason: str,
    as_signal: bool,
    key: Path | None,
) -> None:
    await _act(action, claim_id, {"operator": operator, "reason": reason}, as_signal, key)


@app.command()
@command
async def pause(
    claim_id: ClaimArg,
    operator: AsOption,
    reason: ReasonOption = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Hold the agent once the step in flight is done; nothing executes until resumed.

    Example: claims pause CLM-1002 --as lee --reason "fraud check"
    """
    await _operate(HumanAction.PAUSE, claim_id, operator, reason, as_signal, key)


@app.command()
@command
async def resume(
    claim_id: ClaimArg,
    operator: AsOption,
    reason: ReasonOption = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Let a paused claim go on.

    Example: claims resume CLM-1002 --as lee
    """
    await _operate(HumanAction.RESUME, claim_id, operator, reason, as_signal, key)


@app.command()
@command
async def cancel(
    claim_id: ClaimArg,
    operator: AsOption,
    reason: Annotated[str, typer.Option(help="why, kept in the audit log")],
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """End the review; nothing pending is executed.

    Example: claims cancel CLM-1002 --as lee --reason "filed twice"
    """
    await _operate(HumanAction.CANCEL, claim_id, operator, reason, as_signal, key)


@app.command()
@command
async def reassign(
    claim_id: ClaimArg,
    operator: AsOption,
    to: Annotated[str, typer.Option("--to", help="the new assignee, from the directory")],
    reason: ReasonOption = "",
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Hand a claim to a named person.

    Example: claims reassign CLM-1002 --as lee --to sam
    """
    payload = {"operator": operator, "assignee": to, "reason": reason}
    await _act(HumanAction.REASSIGN, claim_id, payload, as_signal, key)


@app.command()
@command
async def interrupt(
    claim_id: ClaimArg,
    operator: AsOption,
    info: Annotated[str, typer.Option(help="the new information")],
    priority: Annotated[
        int, typer.Option(help="0-100; above the current wait's priority, it pre-empts it")
    ] = 50,
    as_signal: SignalFlag = False,
    key: KeyOption = None,
) -> None:
    """Give the agent new information; the assessment restarts with it.

    Example: claims interrupt CLM-1002 --as lee --info "police report filed"
    """
    payload = {"operator": operator, "information": info, "priority": priority}
    await _act(HumanAction.INTERRUPT, claim_id, payload, as_signal, key)


def register_action_commands(main: typer.Typer) -> None:
    """Add the action commands to the `claims` app, in the order `--help` lists them."""
    main.registered_commands.extend(app.registered_commands)
