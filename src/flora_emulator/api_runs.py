"""Technique runs: create (nested and top-level), poll (nested and generic), list.

A run is created ``pending`` and its technique's work is queued on the worker pool; what a
poll shows is computed from the clock by :mod:`flora_emulator.lifecycle`.

Input rules (documented choice): inputs that do not match the technique's schema (unknown
id, wrong type, missing required input, empty value, a media value that is not a URL) are a
``400 input_validation_error`` naming the field. A well-formed URL the emulator cannot
resolve (an unknown or unfinished asset) is accepted, and the run then fails with
``error_code: input_unreachable``, as FLORA reports an input it could not fetch. A URL on
another host is fetched when the run starts working (:mod:`flora_emulator.fetching`:
https only, no private, loopback or metadata targets, redirects checked); one that cannot be
fetched fails the run with ``input_unreachable`` (and is not charged).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from flora_emulator import fetching, params
from flora_emulator.catalog import TEXT, TRANSIENT_FAILURE, TechniqueDef, find
from flora_emulator.context import Context
from flora_emulator.lifecycle import run_view
from flora_emulator.media import Located, media_url, resolve
from flora_emulator.recording import RunRecord
from flora_emulator.state import Run, new_id
from flora_emulator.techniques import Job, MediaInput, Produced, TechniqueError, perform
from flora_emulator.validation import (
    check_inputs_against,
    check_technique_run_body,
    check_top_level_run_body,
)
from flora_emulator.wire import ApiError, Request, Response, not_found, validation_error

_MEDIA_FAMILY = {"imageUrl": "image/", "videoUrl": "video/"}


def create_nested(ctx: Context, req: Request) -> Response:
    """``POST /techniques/{slugOrId}/runs`` (inputs as an array; body ``idempotency_key``)."""
    slug_or_id = params.path_param(req, "techniqueId")
    technique = find(slug_or_id)
    if technique is None:
        raise not_found("Technique")
    body = req.json()
    problems = check_technique_run_body(body)
    if problems:
        raise validation_error(problems)
    items = [(f"inputs.{n}", i["id"], i["type"], i["value"]) for n, i in enumerate(body["inputs"])]
    problems = check_inputs_against(technique, items, missing_field="inputs")
    if problems:
        raise validation_error(problems)
    keys = params.idempotency_keys(req, body.get("idempotency_key"))
    inputs = [{"id": i["id"], "type": i["type"], "value": i["value"]} for i in body["inputs"]]
    route = "POST /techniques/{techniqueId}/runs"
    run = _start(ctx, technique, inputs, keys, route=route, poll_slug=slug_or_id)
    created = {
        "run_id": run.run_id,
        "status": "pending",
        "progress": 0,
        "created_at": round(run.created_at * 1000),
        "poll_url": _poll_url(ctx, run),
    }
    return Response.json(201, created)


def create_top_level(ctx: Context, req: Request) -> Response:
    """``POST /runs/technique`` (``technique_id`` + ``workspace_id`` + inputs map)."""
    body = req.json()
    problems = check_top_level_run_body(body)
    if problems:
        raise validation_error(problems)
    params.workspace(ctx, body["workspace_id"], required=True)
    technique = find(body["technique_id"])
    if technique is None:
        raise not_found("Technique")
    inputs_map: dict[str, str] = body["inputs"]
    items = [(f"inputs.{k}", k, None, v) for k, v in inputs_map.items()]
    problems = check_inputs_against(technique, items)
    if problems:
        raise validation_error(problems)
    inputs = []
    for input_id, value in inputs_map.items():
        spec = technique.input(input_id)
        assert spec is not None
        inputs.append({"id": input_id, "type": spec.type, "value": value})
    keys = params.idempotency_keys(req)
    run = _start(ctx, technique, inputs, keys, route="POST /runs/technique")
    created = {
        "run_id": run.run_id,
        "type": "technique",
        "model": None,
        "technique": {"technique_id": technique.technique_id, "name": technique.name},
        "action": None,
        "estimated_seconds": max(technique.estimated_seconds, round(run.run_seconds)),
        "charged_cost": technique.run_cost,  # a quote, as on FLORA
        "poll_url": _poll_url(ctx, run),
        "project_id": run.project_id,
    }
    return Response.json(201, created)


def get_run(ctx: Context, req: Request) -> Response:
    """``GET /runs/{runId}``."""
    run = _lookup(ctx, params.path_param(req, "runId"))
    return Response.json(200, _view(ctx, run))


def get_nested_run(ctx: Context, req: Request) -> Response:
    """``GET /techniques/{slugOrId}/runs/{runId}``: 404 unless the run is that technique's."""
    technique = find(params.path_param(req, "techniqueId"))
    run_id = params.path_param(req, "runId")
    if technique is None:
        raise not_found("Technique")
    run = _lookup(ctx, run_id)
    if run.technique_id != technique.technique_id:
        raise not_found("Run")
    return Response.json(200, _view(ctx, run))


def list_technique_runs(ctx: Context, req: Request) -> Response:
    """``GET /technique-runs``: newest first, filtered, keyset-paginated."""
    params.workspace(ctx, req.arg("workspace_id"))
    params.project(ctx, req.arg("project_id"))
    status = req.arg("status")
    if status is not None and status not in ("pending", "running", "completed", "failed"):
        expected = "'pending' | 'running' | 'completed' | 'failed'"
        message = f"Invalid enum value. Expected {expected}, received '{status}'"
        raise validation_error([("status", message)])
    wanted = req.arg("technique_id")
    technique_id = None
    if wanted is not None:
        technique = find(wanted)
        technique_id = technique.technique_id if technique else wanted
    with ctx.state.lock:
        runs = list(ctx.state.runs.values())
    candidates = []
    for run in runs:
        if technique_id is not None and run.technique_id != technique_id:
            continue
        item = _view(ctx, run)
        if status is not None and item["status"] != status:
            continue
        item |= {
            "technique_run_id": run.run_id,
            "project_id": run.project_id,
            "workspace_id": run.workspace_id,
            "technique": {"technique_id": run.technique_id, "name": run.technique_name},
        }
        candidates.append((run.seq, item))
    chunk, next_cursor = params.paged_newest_first(req, candidates)
    return Response.json(200, {"technique_runs": chunk, "meta": {"next_cursor": next_cursor}})


# -- internals -----------------------------------------------------------------------------


def _lookup(ctx: Context, run_id: str) -> Run:
    with ctx.state.lock:
        run = ctx.state.runs.get(run_id)
    if run is None:
        raise not_found("Run")
    return run


def _poll_url(ctx: Context, run: Run) -> str:
    return f"{ctx.base_url}/techniques/{run.poll_slug}/runs/{run.run_id}"


def _view(ctx: Context, run: Run) -> dict[str, Any]:
    with ctx.state.lock:
        view = run_view(run, ctx.now())
    return view | {"poll_url": _poll_url(ctx, run)}


def _start(
    ctx: Context,
    technique: TechniqueDef,
    inputs: list[dict[str, str]],
    keys: list[str],
    *,
    route: str,
    poll_slug: str | None = None,
) -> Run:
    now = ctx.now()
    scope = ("technique-run", route, technique.technique_id)
    if keys and ctx.state.is_duplicate(scope, keys, now):
        ctx.stats.count_duplicate()
        raise params.duplicate()
    media: dict[str, MediaInput] = {}
    texts: dict[str, str] = {}
    foreign: list[dict[str, str]] = []  # fetched when the work starts
    failure: tuple[str, str] | None = None
    for item in inputs:
        if item["type"] == TEXT:
            texts[item["id"]] = item["value"]
            continue
        if not ctx.is_own_host(urlsplit(item["value"]).netloc):
            foreign.append(item)
            continue
        found = resolve(ctx, item["value"])
        if isinstance(found, str):
            failure = failure or (
                "input_unreachable",
                f"Input {item['id']} could not be fetched from {item['value']}: {found}.",
            )
            continue
        failure = failure or _wrong_family(item, found)
        media[item["id"]] = MediaInput(found.path, found.content_type)
    if failure is None and ctx.decide("fail", ctx.fail_rate):
        failure = TRANSIENT_FAILURE
    _charge(ctx, technique, refund=failure is not None)
    run = Run(
        run_id=new_id("run"),
        slug=technique.slug,
        technique_id=technique.technique_id,
        technique_name=technique.name,
        workspace_id=ctx.workspace_id,
        project_id=ctx.project_id,
        inputs=inputs,
        created_at=now,
        run_seconds=max(0.0, float(ctx.run_seconds)),
        run_cost=technique.run_cost,
        poll_slug=poll_slug or technique.technique_id,
        seq=ctx.state.next_seq(),
        idempotency_key=keys[-1] if keys else None,
    )
    if failure is not None:
        run.failure = failure
        run.work_started_at = run.work_finished_at = now
    with ctx.state.lock:
        ctx.state.runs[run.run_id] = run
        ctx.state.burn(scope, keys, now)
        ctx.state.run_records.append(
            RunRecord(
                run_id=run.run_id,
                technique=technique.slug,
                technique_id=technique.technique_id,
                inputs={i["id"]: i["value"] for i in inputs},
                idempotency_key=run.idempotency_key,
                created_at=now,
                route=route,
            )
        )
    ctx.stats.count_run(technique.slug)
    if failure is None:
        job = Job(technique.slug, media, texts, ctx.media_dir / run.run_id, ctx.seed, now)
        ctx.submit(lambda: _work(ctx, run, job, foreign))
    return run


def _charge(ctx: Context, technique: TechniqueDef, *, refund: bool) -> None:
    """Pay for a run from the workspace balance, or refuse it with 402 like FLORA."""
    with ctx.state.lock:
        balance = ctx.balance_usd
        if balance is None:
            return
        if balance + 1e-9 < technique.run_cost:
            raise ApiError(
                402,
                "insufficient_credits",
                f"Insufficient credits: this run costs ${technique.run_cost:.2f} and the "
                f"workspace balance is ${balance:.2f}. Add credits in the FLORA app.",
            )
        if not refund:
            ctx.balance_usd = balance - technique.run_cost


def _wrong_family(item: dict[str, str], found: Located) -> tuple[str, str] | None:
    family = _MEDIA_FAMILY.get(item["type"])
    if family is None or found.content_type.startswith(family):
        return None
    kind = "an image" if family == "image/" else "a video"
    return (
        "GENERATION_INPUT_VALIDATION",
        f"Input {item['id']} must be {kind}, but {item['value']} is {found.content_type}.",
    )


def _fetch_inputs(
    ctx: Context, job: Job, foreign: list[dict[str, str]]
) -> tuple[Job, tuple[str, str] | None]:
    """The job with the inputs on other hosts fetched, or the run's failure."""
    media = dict(job.media)
    for item in foreign:
        try:
            got = fetching.fetch(
                item["value"],
                job.out_dir / "inputs",
                limit=fetching.RUN_INPUT_LIMIT,
                allow_loopback=ctx.allow_private_fetch,
            )
        except fetching.FetchRefused as exc:
            where = _without_query(item["value"])
            return job, (
                "input_unreachable",
                f"Input {item['id']} could not be fetched from {where}: {exc}.",
            )
        wrong = _wrong_family(item, Located(got.path, got.content_type))
        if wrong is not None:
            return job, wrong
        media[item["id"]] = MediaInput(got.path, got.content_type)
    return replace(job, media=media), None


def _without_query(url: str) -> str:
    """A URL for an error message: a presigned query string is not repeated back."""
    return urlsplit(url)._replace(query="", fragment="").geturl()


def _work(ctx: Context, run: Run, job: Job, foreign: list[dict[str, str]] | None = None) -> None:
    with ctx.state.lock:
        run.work_started_at = ctx.now()
    outputs: list[dict[str, str]] | None = None
    failure: tuple[str, str] | None = None
    try:
        job, failure = _fetch_inputs(ctx, job, foreign or [])
        if failure is None:
            outputs = [_output(ctx, run, p) for p in perform(job)]
    except TechniqueError as exc:
        failure = (exc.code, exc.message)
    except Exception:
        ctx.report_crash(f"technique {run.slug} crashed inside the emulator")
        failure = ("SERVER_ERROR", "The run failed because of an internal error. Try again.")
    with ctx.state.lock:
        run.outputs = outputs
        run.failure = failure
        run.work_finished_at = ctx.now()
        if failure is not None and ctx.balance_usd is not None:
            ctx.balance_usd += run.run_cost  # failed runs are not charged


def _output(ctx: Context, run: Run, produced: Produced) -> dict[str, str]:
    if produced.text is not None:
        url = produced.text  # a text output carries the text itself, as FLORA does
    else:
        assert produced.file_name is not None
        url = media_url(ctx, run.run_id, produced.file_name)
    return {"output_id": produced.output_id, "type": produced.type, "url": url}
