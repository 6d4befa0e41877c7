"""`claims eval`: rerun decided claims under candidate settings and compare with what happened.

The command builds the request, starts the evaluation workflow (or attaches to the one
already running under `--id`), shows its progress, then prints the report, writes the
HTML page and applies the `--fail-if` gates. Everything is checked before anything
starts: a wrong path, setting, model, prompt version or gate is refused with the fix.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
import time
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from cli.base import command, console, err_console, said
from runtime.client import build_client
from runtime.errors import UserFacingError
from runtime.settings import Settings
from runtime.text import printable

if TYPE_CHECKING:
    from temporalio.client import WorkflowHandle

    from workflows.claim_eval import ClaimEvalWorkflow
    from workflows.evaluation import Candidate, EvalCounts, EvalRequest, EvalResult, EvalSource

# Without a terminal (CI, a log), progress is printed this often at most.
LOG_PROGRESS_SECONDS = 10.0
# Exit status when a --fail-if gate fails (1 is any other error).
GATE_FAILED_EXIT = 3
MAX_CANDIDATES_FILE_BYTES = 64 * 1024


class EvalOptionsError(UserFacingError):
    """An option of `claims eval` that cannot be used as given."""


def new_eval_id() -> str:
    """An id for an evaluation started without --id: its start time, and a random part so
    that two started in the same second (two CI jobs) are two evaluations."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _source(
    dataset: Path | None, histories: Path | None, query: str | None, limit: int | None
) -> EvalSource:
    from workflows.evaluation import EvalSource, EvalSourceKind

    options = {"--dataset": dataset, "--histories": histories, "--query": query}
    given = [name for name, value in options.items() if value is not None]
    if len(given) != 1:
        raise EvalOptionsError(
            "say where the decided claims come from, once: --dataset DIR (e.g. examples/eval), "
            "--histories DIR (files of `claims history export`) or --query "
            "\"ExecutionStatus='Completed'\"" + (f"; got {' and '.join(given)}" if given else "")
        )
    bounded = {"limit": limit} if limit is not None else {}
    if query is not None:
        if not query.strip() or not query.isprintable() or len(query) > 2000:
            raise EvalOptionsError(
                "--query must be a printable list query of at most 2,000 characters, such as "
                "\"ExecutionStatus='Completed' AND CloseTime > '2026-11-01T00:00:00Z'\""
            )
        return EvalSource(kind=EvalSourceKind.QUERY, query=query, **bounded)
    path = dataset if dataset is not None else histories
    assert path is not None
    if not path.exists():
        option = "--dataset" if dataset is not None else "--histories"
        raise EvalOptionsError(f"{option} {printable(str(path))} does not exist")
    kind = EvalSourceKind.DATASET if dataset is not None else EvalSourceKind.HISTORIES
    # The worker reads the path: absolute, so it does not depend on the worker's cwd.
    return EvalSource(kind=kind, path=str(path.resolve()), **bounded)


def _check_llm(spec: str, where: str) -> None:
    """The model spec's form (`offline`, `openai:NAME`); the worker's keys are its own."""
    from activities.llm import LlmConfigError, LlmSettings

    settings = LlmSettings.from_env()
    # Only the form is checked here: the API key is the worker's, not this shell's.
    settings = dataclasses.replace(settings, base_url=settings.base_url or "http://worker")
    try:
        settings.for_model(spec)
    except LlmConfigError as error:
        raise EvalOptionsError(f"{where}: {error}") from None


def _check_prompt(version: str, where: str) -> None:
    from activities.prompts import UnknownPromptVersionError, agent_system_prompt

    try:
        agent_system_prompt(version)
    except UnknownPromptVersionError as error:
        raise EvalOptionsError(f"{where}: {error}") from None


def _candidate(name: str, fields: dict[str, Any], settings: Settings, where: str) -> Candidate:
    from activities.review_policy import load_review_policy_file
    from history.fork import check_overrides
    from workflows.evaluation import Candidate

    try:
        candidate = Candidate.model_validate({"name": name, **fields})
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'candidate'}: {e['msg']}"
            for e in invalid.errors(include_url=False)
        )
        raise EvalOptionsError(f"{where}: {printable(problems)}") from None
    if candidate.llm is not None:
        _check_llm(candidate.llm, where)
    if candidate.prompt_version is not None:
        _check_prompt(candidate.prompt_version, where)
    try:
        check_overrides(
            load_review_policy_file(settings.approvers_file), candidate.policy_overrides
        )
    except UserFacingError as error:
        raise EvalOptionsError(f"{where}: {error}") from None
    return candidate


def _candidates_file(path: Path, settings: Settings) -> list[Candidate]:
    """`[[candidate]]` tables: name, and any of llm, prompt, and a `set` table."""
    try:
        if path.stat().st_size > MAX_CANDIDATES_FILE_BYTES:
            raise EvalOptionsError(f"--candidates {printable(str(path))} is over 64 KiB")
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise EvalOptionsError(f"--candidates {printable(str(path))}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise EvalOptionsError(
            f"--candidates {printable(str(path))} is not valid TOML: {error}"
        ) from None
    tables = document.get("candidate")
    if not isinstance(tables, list) or not tables:
        raise EvalOptionsError(
            f"--candidates {printable(str(path))} has no [[candidate]] tables; write e.g.\n"
            '[[candidate]]\nname = "mini"\nllm = "openai:gpt-4o-mini"\n'
            "[candidate.set]\nauto_approval_limit = 5000"
        )
    candidates = []
    for index, table in enumerate(tables, start=1):
        where = f"--candidates {printable(str(path))}, candidate {index}"
        if not isinstance(table, dict):
            raise EvalOptionsError(f"{where}: is not a table")
        unknown = set(table) - {"name", "llm", "prompt", "set"}
        if unknown:
            raise EvalOptionsError(
                f"{where}: unknown keys {', '.join(sorted(map(printable, unknown)))}; "
                "use name, llm, prompt and a [candidate.set] table"
            )
        overrides = table.get("set", {})
        if not isinstance(overrides, dict):
            raise EvalOptionsError(f"{where}: set must be a table of review policy settings")
        fields = {
            "llm": table.get("llm"),
            "prompt_version": table.get("prompt"),
            "policy_overrides": overrides,
        }
        candidates.append(_candidate(str(table.get("name", "")), fields, settings, where))
    return candidates


def build_request(
    *,
    settings: Settings,
    eval_id: str,
    source: EvalSource,
    llm: str | None,
    prompt: str | None,
    overrides: list[str],
    candidates_file: Path | None,
    with_current: bool,
    recorded_evidence: bool,
    concurrency: int,
) -> EvalRequest:
    """The evaluation as asked for, every part checked, or a refusal naming the option."""
    from history.fork import parse_overrides
    from workflows.evaluation import EvalRequest

    candidates: list[Candidate] = []
    if with_current:
        candidates.append(_candidate("current", {}, settings, "--with-current"))
    if candidates_file is not None:
        candidates.extend(_candidates_file(candidates_file, settings))
    if llm is not None or prompt is not None or overrides:
        try:
            policy = parse_overrides(overrides)
        except UserFacingError as error:
            raise EvalOptionsError(str(error)) from None
        fields = {"llm": llm, "prompt_version": prompt, "policy_overrides": policy}
        candidates.append(_candidate("candidate", fields, settings, "--llm/--prompt/--set"))
    if not candidates:
        candidates.append(_candidate("current", {}, settings, "the current settings"))
    try:
        return EvalRequest(
            eval_id=eval_id,
            source=source,
            candidates=candidates,
            concurrency=concurrency,
            recorded_evidence=recorded_evidence,
        )
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in invalid.errors(include_url=False)
        )
        raise EvalOptionsError(
            f"the evaluation cannot run as asked: {printable(problems)}"
        ) from None


def _progress_line(counts: EvalCounts) -> str:
    total = counts.cases * counts.candidates
    of = f"{total:,}" if counts.source_done else f"{total:,} so far"
    line = f"{counts.answered:,} of {of} reruns done, {counts.running} running"
    if counts.errors:
        line += f", {counts.errors} failed"
    return line


async def _watch(handle: WorkflowHandle[ClaimEvalWorkflow, EvalResult]) -> EvalResult:
    """Wait for the result: a live line on a terminal, a line every few seconds in a log."""
    from evaluation.runner import wait_for_result

    if err_console.is_terminal:
        with err_console.status("starting the evaluation") as status:
            return await wait_for_result(
                handle, lambda counts: status.update(said(_progress_line(counts)))
            )
    last = 0.0

    def log(counts: EvalCounts) -> None:
        nonlocal last
        if time.monotonic() - last >= LOG_PROGRESS_SECONDS:
            last = time.monotonic()
            err_console.print(f"[dim]{said(_progress_line(counts))}[/]", highlight=False)

    return await wait_for_result(handle, log)


async def eval_command(
    dataset: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="a dataset folder (cases.jsonl) or .jsonl file"),
    ] = None,
    histories: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="a folder of files from `claims history export`"),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option(metavar="QUERY", help="a list query over finished reviews"),
    ] = None,
    llm: Annotated[
        str | None, typer.Option(metavar="MODEL", help="candidate model, like CLAIMS_LLM")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(metavar="VERSION", help="candidate prompt version")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", metavar="KEY=VALUE", help="candidate review policy change (repeatable)"
        ),
    ] = None,
    candidates: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE", help="several candidates: candidate tables in TOML (see README)"
        ),
    ] = None,
    with_current: Annotated[
        bool,
        typer.Option("--with-current", help="also rerun under the current settings, side by side"),
    ] = False,
    recorded_evidence: Annotated[
        bool,
        typer.Option(
            "--recorded-evidence", help="answer tools from the original review, not today's records"
        ),
    ] = False,
    limit: Annotated[
        int | None,
        typer.Option(metavar="N", help="evaluate the first N cases only", min=1, max=1000),
    ] = None,
    concurrency: Annotated[
        int, typer.Option(metavar="N", help="reruns at once (1 to 50)", min=1, max=50)
    ] = 8,
    eval_id: Annotated[
        str | None,
        typer.Option("--id", metavar="ID", help="the evaluation's id; an existing one is reopened"),
    ] = None,
    json_: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    html: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="where to write the HTML report"),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing HTML report")] = False,
    pricing: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="model prices per million tokens (TOML or JSON)"),
    ] = None,
    fail_if: Annotated[
        list[str] | None,
        typer.Option(
            "--fail-if",
            metavar="METRIC>N",
            help="exit 3 if a candidate meets this, e.g. dangerous>0 (repeatable)",
        ),
    ] = None,
    detach: Annotated[
        bool, typer.Option("--detach", help="start it and return; reopen later with --id")
    ] = False,
) -> None:
    """Rerun decided claims under candidate settings, as dry runs, and compare.

    Example: claims eval --dataset examples/eval --set auto_approval_limit=5000
    """
    from evaluation.gates import failed_gates, parse_gates
    from evaluation.pricing import load_pricing
    from evaluation.report_html import write_html_report
    from evaluation.report_text import report_json, report_renderables
    from evaluation.runner import start_evaluation
    from evaluation.scoring import score
    from workflows.evaluation import EVAL_ID_PATTERN, eval_workflow_id

    settings = Settings.from_env()
    gates = parse_gates(fail_if or [])
    prices = load_pricing(pricing)
    eval_id = eval_id or new_eval_id()
    if not re.fullmatch(EVAL_ID_PATTERN, eval_id):
        raise EvalOptionsError(
            f"--id {printable(eval_id)!r}: use letters, digits, '.', '_' and '-' (at most 64), "
            "starting with a letter or digit"
        )
    html_file = html or settings.data_dir / "evals" / f"{eval_id}.html"
    if html_file.exists() and not force and not detach:
        raise EvalOptionsError(
            f"{printable(str(html_file))} exists; name another file with --html, or add --force"
        )
    request = build_request(
        settings=settings,
        eval_id=eval_id,
        source=_source(dataset, histories, query, limit),
        llm=llm,
        prompt=prompt,
        overrides=set_ or [],
        candidates_file=candidates,
        with_current=with_current,
        recorded_evidence=recorded_evidence,
        concurrency=concurrency,
    )
    client = await build_client()
    started = await start_evaluation(client, request, settings.task_queue)
    workflow_id = eval_workflow_id(eval_id)
    verb = "started" if started.started else "reopened (it was started before; its settings count)"
    err_console.print(f"Evaluation {said(workflow_id)} {verb}", highlight=False)
    if detach:
        console.print(
            f"{said(workflow_id)} runs in Temporal; see it with "
            f"`claims eval --id {said(eval_id)}` (the same options)",
            highlight=False,
        )
        return
    try:
        result = await _watch(started.handle)
    except KeyboardInterrupt:
        err_console.print(
            f"Stopped watching; {said(workflow_id)} goes on. Reopen it with --id {said(eval_id)}",
            highlight=False,
        )
        raise typer.Exit(130) from None
    report = score(result, prices)
    if json_:
        typer.echo(report_json(report))
    else:
        for part in report_renderables(report):
            console.print(part)
    if html is None:
        html_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = write_html_report(html_file, report, force=True)
    err_console.print(f"HTML report: {said(written)}", highlight=False)
    failures = failed_gates(report, gates)
    for failure in failures:
        err_console.print(f"[red]gate failed:[/] {said(failure)}", highlight=False)
    if failures:
        raise typer.Exit(GATE_FAILED_EXIT)


def register_eval_command(app: typer.Typer) -> None:
    """Add `claims eval` to the `claims` app."""
    app.command("eval")(command(eval_command))
