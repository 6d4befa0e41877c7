"""The contract's signal and update names: each a thin door to the review desk.

Every action is a signal (for the `temporal` CLI and the web UI) and an update of the
same name (for clients that need an answer), declared here one by one so that the names
the Temporal UI and CLI show stay plain to read; each only hands its arguments to the
desk. Unknown signals are recorded as refused, unknown updates refused to the caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from signals.messages import ROLLED_BACK, ActionAccepted, HumanAction
    from workflows.desk import ReviewDesk
    from workflows.review_book import ReviewBook
    from workflows.review_input import claimed_actor, printable_name
    from workflows.state import AuditOutcome

KNOWN_ACTIONS = ", ".join(HumanAction)


class ActionSignals:
    """Each action as a signal: durable without a worker; refusals go to the audit log."""

    _desk: ReviewDesk
    _book: ReviewBook

    @workflow.signal
    def approve(self, *args: Any) -> None:
        """Approve the proposed actions: `{"approver": ..., "comment": ...}`."""
        self._desk.signal(HumanAction.APPROVE, args)

    @workflow.signal
    def reject(self, *args: Any) -> None:
        """Reject the claim: `{"approver": ..., "comment": ...}`."""
        self._desk.signal(HumanAction.REJECT, args)

    @workflow.signal
    def edit(self, *args: Any) -> None:
        """Change the proposed payout or message: `{"approver", "payout_amount", ...}`."""
        self._desk.signal(HumanAction.EDIT, args)

    @workflow.signal
    def request_info(self, *args: Any) -> None:
        """Ask for more: `{"requested_by", "what", "from_whom"}`."""
        self._desk.signal(HumanAction.REQUEST_INFO, args)

    @workflow.signal
    def submit_document(self, *args: Any) -> None:
        """A document arrives: `{"submitted_by", "document": {doc_id, kind, uri}}`."""
        self._desk.signal(HumanAction.SUBMIT_DOCUMENT, args)

    @workflow.signal
    def pause(self, *args: Any) -> None:
        """Hold the agent after the step in flight: `{"operator", "reason"}`."""
        self._desk.signal(HumanAction.PAUSE, args)

    @workflow.signal
    def resume(self, *args: Any) -> None:
        """Let a paused agent go on: `{"operator"}`."""
        self._desk.signal(HumanAction.RESUME, args)

    @workflow.signal
    def cancel(self, *args: Any) -> None:
        """End the review without executing anything: `{"operator", "reason"}`."""
        self._desk.signal(HumanAction.CANCEL, args)

    @workflow.signal
    def reassign(self, *args: Any) -> None:
        """Hand the claim to a person: `{"operator", "assignee"}`."""
        self._desk.signal(HumanAction.REASSIGN, args)

    @workflow.signal
    def interrupt(self, *args: Any) -> None:
        """New information; the assessment restarts: `{"operator", "information", "priority"}`."""
        self._desk.signal(HumanAction.INTERRUPT, args)

    @workflow.signal(name=ROLLED_BACK)
    def rolled_back(self, *args: Any) -> None:
        """`claims rollback` reset the claim: `{"operator", "reason", "to_version"}`, audited."""
        self._desk.rolled_back(args)

    @workflow.signal(dynamic=True)
    def unknown_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """A signal no handler knows (`aprove`) is recorded as refused, never silently lost."""
        payload: Any = None
        with contextlib.suppress(Exception):
            payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        self._book.audit(
            claimed_actor(payload),
            printable_name(name),
            AuditOutcome.REFUSED,
            f"unknown signal {printable_name(name)!r}; the actions are: {KNOWN_ACTIONS}",
        )


class ActionUpdates:
    """Each action as an update: the validator refuses before history, the handler answers."""

    _desk: ReviewDesk

    @workflow.update(name="approve")
    def approve_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.APPROVE, args)

    @approve_update.validator
    def _validate_approve(self, *args: Any) -> None:
        self._desk.validate(HumanAction.APPROVE, args)

    @workflow.update(name="reject")
    def reject_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.REJECT, args)

    @reject_update.validator
    def _validate_reject(self, *args: Any) -> None:
        self._desk.validate(HumanAction.REJECT, args)

    @workflow.update(name="edit")
    def edit_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.EDIT, args)

    @edit_update.validator
    def _validate_edit(self, *args: Any) -> None:
        self._desk.validate(HumanAction.EDIT, args)

    @workflow.update(name="request_info")
    def request_info_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.REQUEST_INFO, args)

    @request_info_update.validator
    def _validate_request_info(self, *args: Any) -> None:
        self._desk.validate(HumanAction.REQUEST_INFO, args)

    @workflow.update(name="submit_document")
    def submit_document_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.SUBMIT_DOCUMENT, args)

    @submit_document_update.validator
    def _validate_submit_document(self, *args: Any) -> None:
        self._desk.validate(HumanAction.SUBMIT_DOCUMENT, args)

    @workflow.update(name="pause")
    def pause_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.PAUSE, args)

    @pause_update.validator
    def _validate_pause(self, *args: Any) -> None:
        self._desk.validate(HumanAction.PAUSE, args)

    @workflow.update(name="resume")
    def resume_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.RESUME, args)

    @resume_update.validator
    def _validate_resume(self, *args: Any) -> None:
        self._desk.validate(HumanAction.RESUME, args)

    @workflow.update(name="cancel")
    def cancel_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.CANCEL, args)

    @cancel_update.validator
    def _validate_cancel(self, *args: Any) -> None:
        self._desk.validate(HumanAction.CANCEL, args)

    @workflow.update(name="reassign")
    def reassign_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.REASSIGN, args)

    @reassign_update.validator
    def _validate_reassign(self, *args: Any) -> None:
        self._desk.validate(HumanAction.REASSIGN, args)

    @workflow.update(name="interrupt")
    def interrupt_update(self, *args: Any) -> ActionAccepted:
        return self._desk.update(HumanAction.INTERRUPT, args)

    @interrupt_update.validator
    def _validate_interrupt(self, *args: Any) -> None:
        self._desk.validate(HumanAction.INTERRUPT, args)

    @workflow.update(dynamic=True)
    def unknown_update(self, name: str, args: Sequence[RawValue]) -> None:
        """Never runs: the validator refuses every unknown update, naming the known ones."""
        raise _unknown_update(name)

    @unknown_update.validator
    def _validate_unknown_update(self, name: str, args: Sequence[RawValue]) -> None:
        raise _unknown_update(name)


class HumanActionHandlers(ActionSignals, ActionUpdates):
    """The handlers of `ClaimReviewWorkflow`, which provides the desk and the book."""


def _unknown_update(name: str) -> ApplicationError:
    return ApplicationError(
        f"unknown update {printable_name(name)!r}; the actions are: {KNOWN_ACTIONS}",
        type="ActionRefused",
        non_retryable=True,
    )
