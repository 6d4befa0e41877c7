"""People's actions from the terminal: approve, reject, edit, request-info, submit-document,
and the operators' pause, resume, cancel, reassign and interrupt.

Each goes as an update (the claim answers accepted or refused, with its reason) or, with
`--signal`, as a signal that is durable even while no worker runs; `--key` signs it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from temporalio.client import Client

from cli.base import command, console, said
from runtime.client import build_client
from signals.client import ActionRefused, act, claim_handle, query_state, signal_and_watch
from signals.messages import HumanAction
from workflows.state import AuditOutcome

app = typer.Typer()


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
    if key is not None:
        payload = await _signed(client, action, claim_id, payload, key)
    if not as_signal:
        accepted = await act(client, claim_id, action, payload)
        console.print(
            f"[green]{action} accepted[/] (claim {said(claim_id)}, version {accepted.version}, "
            f"now {accepted.current_step})"
            + (f": {said(accepted.detail)}" if accepted.detail else ""),
            highlight=False,
        )
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
        step = receipt.state.current_step if receipt.state else "?"
        console.print(
            f"[green]{action} accepted[/] (claim {said(claim_id)}, "
            f"version {receipt.entry.version}, now {step})",
            highlight=False,
        )


ClaimArg = Annotated[str, typer.Argument(help="claim id, such as CLM-1002")]
AsOption = Annotated[str, typer.Option("--as", help="your name in the approver directory")]
CommentOption = Annotated[str, typer.Option(help="reason, kept in the audit log")]
ExpectedVersion = Annotated[
    int | None,
    typer.Option(help="refuse if the claim is no longer at this version (see `claims show`)"),
]
SignalFlag = Annotated[
    bool, typer.Option("--signal", help="send as a signal: durable even with no worker running")
]
KeyOption = Annotated[
    Path | None,
    typer.Option(
        "--key",
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
    """Approve a claim's proposed payout and message."""
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
    """Reject a claim."""
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
    """Edit the proposed payout or customer message before it executes."""
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
    """Ask for more information; the claim waits for documents, then is reassessed."""
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
    """Add a document to a claim, asked for or not."""
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
    """Hold the agent once the step in flight is done; nothing executes until resumed."""
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
    """Let a paused claim go on."""
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
    """End the review; nothing pending is executed."""
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
    """Hand a claim to a named person."""
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
    """Give the agent new information; the assessment restarts with it."""
    payload = {"operator": operator, "information": info, "priority": priority}
    await _act(HumanAction.INTERRUPT, claim_id, payload, as_signal, key)


def register_action_commands(main: typer.Typer) -> None:
    """Add the action commands to the `claims` app, in the order `--help` lists them."""
    main.registered_commands.extend(app.registered_commands)
