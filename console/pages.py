"""The signed-in pages: inbox, claim page with its action forms, and the version endpoint."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import APIRouter
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.requests import Request
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from console import views
from console.actions import (
    FIELDS,
    LABELS,
    MOVED_ON,
    FormError,
    build_payload,
    edit_preview,
    send_action,
)
from console.app import Console, console_of
from console.csrf import checked_form
from console.dashboard import CHART_DAYS, dashboard
from console.settings import AuthMode
from history.runs import fetch_latest_runs
from history.timeline import TimelineRow, runs_timeline_rows
from signals.client import QUERY_TIMEOUT, ActionRefused, claim_handle, query_state
from signals.messages import HumanAction
from workflows.authority import Approver
from workflows.state import ClaimState

router = APIRouter()
# The latest events shown on a claim page; `claims timeline` shows them all.
TIMELINE_ROWS = 40
CLAIM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def who(request: Request) -> tuple[Console, Approver | None]:
    console = console_of(request)
    return console, console.person(request)


def _unknown(console: Console, request: Request) -> Response:
    if console.settings.auth is AuthMode.HEADER:
        return console.render(request, "no_person.html", status_code=403, person=None)
    return RedirectResponse("/signin", status_code=303)


def _valid_claim_id(claim_id: str) -> bool:
    """The claim id pattern of the claim model; anything else is never sent to Temporal."""
    return CLAIM_ID.fullmatch(claim_id) is not None


@router.get("/me.json")
async def me(request: Request) -> Response:
    """Who the console takes the caller for: a page's script and a proxy check read it."""
    _console, person = who(request)
    if person is None:
        return JSONResponse({"error": "not signed in"}, status_code=401)
    return JSONResponse({"name": person.name, "role": str(person.role)})


@router.get("/inbox")
async def inbox_page(request: Request) -> Response:
    console, person = who(request)
    if person is None:
        return _unknown(console, request)
    now = console.now()
    rows = await views.inbox(console.client, console.policy, person, now)
    queues = views.queues_for(console.policy, person)
    return console.render(request, "inbox.html", rows=rows, queues=queues, now=now)


@router.get("/dashboard")
async def dashboard_page(request: Request) -> Response:
    console, person = who(request)
    if person is None:
        return _unknown(console, request)
    board = await dashboard(console.client, console.now())
    return console.render(request, "dashboard.html", board=board, days=CHART_DAYS)


async def _state(console: Console, claim_id: str) -> ClaimState | str:
    """The claim's state, or why it cannot be shown."""
    try:
        return await query_state(claim_handle(console.client, claim_id), QUERY_TIMEOUT)
    except RPCError as error:
        if error.status is RPCStatusCode.NOT_FOUND:
            return f"There is no claim {claim_id}."
        return "No worker answered in time; the claim is safe, try again in a moment."
    except WorkflowQueryFailedError:
        return "The claim could not answer; try again in a moment."


def _claim_page(
    console: Console,
    request: Request,
    person: Approver,
    state: ClaimState,
    *,
    notice: str = "",
    error: str = "",
    moved_on: bool = False,
    status_code: int = 200,
    typed: Mapping[str, str] | None = None,
    typed_action: HumanAction | None = None,
    preview: list[tuple[str, str, str]] | None = None,
    timeline: list[TimelineRow] | None = None,
) -> Response:
    """The claim page; `typed` refills the form the person sent, so nothing typed is lost."""
    return console.render(
        request,
        "claim.html",
        status_code=status_code,
        state=state,
        claim=state.context.claim,
        actions=views.allowed_actions(state, console.policy, person),
        fields=FIELDS,
        labels=LABELS,
        notice=notice,
        error=error,
        moved_on=moved_on,
        now=console.now(),
        typed=typed or {},
        typed_action=str(typed_action or ""),
        preview=preview,
        done=_done_notice(request),
        evidence_rows=views.evidence_rows(state.context.evidence),
        timeline=timeline or [],
    )


@router.get("/claims/{claim_id}")
async def claim_page(request: Request, claim_id: str) -> Response:
    console, person = who(request)
    if person is None:
        return _unknown(console, request)
    if not _valid_claim_id(claim_id):
        return console.render(request, "missing.html", 404, message="That is not a claim id.")
    state = await _state(console, claim_id)
    if isinstance(state, str):
        return console.render(request, "missing.html", 404, message=state)
    runs = await fetch_latest_runs(console.client, state.workflow_id)
    rows = runs_timeline_rows([run.events for run in runs], state.audit_log)[-TIMELINE_ROWS:]
    return _claim_page(console, request, person, state, timeline=rows)


@router.get("/claims/{claim_id}/version.json")
async def claim_version(request: Request, claim_id: str) -> Response:
    console, person = who(request)
    if person is None or not _valid_claim_id(claim_id):
        return JSONResponse({"error": "not signed in or no such claim"}, status_code=404)
    state = await _state(console, claim_id)
    if isinstance(state, str):
        return JSONResponse({"error": state}, status_code=404)
    return JSONResponse({"version": state.version, "step": str(state.current_step)})


@router.post("/claims/{claim_id}/act")
async def claim_act(request: Request, claim_id: str) -> Response:
    console, person = who(request)
    form = await checked_form(request)
    if person is None:
        return _unknown(console, request)
    if not _valid_claim_id(claim_id):
        return console.render(request, "missing.html", 404, message="That is not a claim id.")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    try:
        action = HumanAction(fields.get("action", ""))
        expected = int(fields.get("expected_version", ""))
    except ValueError:
        return console.render(request, "missing.html", 400, message="That form is not one of ours.")
    state = await _state(console, claim_id)
    if isinstance(state, str):
        return console.render(request, "missing.html", 404, message=state)
    if state.version != expected:
        return _moved_on(console, request, person, state, expected)
    if action not in views.allowed_actions(state, console.policy, person):
        return _claim_page(
            console,
            request,
            person,
            state,
            status_code=403,
            error=f"You may not {action.replace('_', ' ')} this claim now.",
        )
    if fields.get("intent") == "preview" and action is not HumanAction.EDIT:
        # Only an edit has a preview; a "preview" of anything else must not act.
        return _claim_page(
            console,
            request,
            person,
            state,
            status_code=400,
            error=f"Only an edit can be previewed; nothing was done to {action.replace('_', ' ')}.",
        )
    try:
        if action is HumanAction.EDIT and fields.get("intent") == "preview":
            changes = edit_preview(state, build_payload(action, person, fields, expected))
            return _claim_page(
                console, request, person, state, preview=changes, typed=fields, typed_action=action
            )
        accepted = await send_action(
            console.client,
            claim_id,
            action,
            person,
            fields,
            expected,
            signing_key=console.signing_key,
            now=console.now(),
        )
    except FormError as error:
        return _claim_page(
            console,
            request,
            person,
            state,
            error=str(error),
            status_code=400,
            typed=fields,
            typed_action=action,
        )
    except ActionRefused as refused:
        fresh = await _state(console, claim_id)
        current = fresh if not isinstance(fresh, str) else state
        if MOVED_ON in str(refused):
            return _moved_on(console, request, person, current, expected)
        return _claim_page(
            console,
            request,
            person,
            current,
            error=str(refused),
            status_code=409,
            typed=fields,
            typed_action=action,
        )
    return RedirectResponse(
        f"/claims/{claim_id}?done={accepted.action}&version={accepted.version}", status_code=303
    )


def _moved_on(
    console: Console, request: Request, person: Approver, state: ClaimState, expected: int
) -> Response:
    return _claim_page(
        console,
        request,
        person,
        state,
        moved_on=True,
        status_code=409,
        error=(
            f"The claim has moved on since you looked (version {expected}, now "
            f"{state.version}). Nothing was done; here it is as it stands now."
        ),
    )


def _done_notice(request: Request) -> str:
    """What the person just did, from the redirect after it; only an action and a number."""
    done, version = request.query_params.get("done", ""), request.query_params.get("version", "")
    if done not in {str(a) for a in HumanAction} or not version.isdigit() or len(version) > 9:
        return ""
    return f"Done: {done.replace('_', ' ')} (the claim is now at version {version})."
