"""The dashboard's JSON API: what each route answers, apart from HTTP and access checks.

Reads come from the status snapshot (``/api/now``) and the journal (``/api/history``,
``/api/job``, ``/api/spend``, ``/api/thumb``). Every change goes through the daemon's control
handler, the very function that serves ``floradrop pause|resume|retry`` over the control
channel, so the page can do nothing the command line cannot. Paths to open are always looked
up in the journal by job id, never taken from the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from floradrop import history
from floradrop.config import Config
from floradrop.errors import FloradropError
from floradrop.journal import Journal
from floradrop.status import Snapshot
from floradrop.ui.now import now_view
from floradrop.ui.thumbs import thumbnail

Control = Callable[[dict[str, Any]], dict[str, Any]]

# Actions the page may ask for, and the control command each becomes. ``job`` actions name a
# job id, which is looked up in the journal; ``folder`` ones may name a watched folder.
JOB_ACTIONS = frozenset({"retry", "cancel", "approve"})
GLOBAL_ACTIONS = frozenset({"pause", "resume", "acknowledge", "approve"})
# Control commands that take {"targets": [job id | folder]} (floradrop.money); approve with no
# target starts every big drop held for the go-ahead.
TARGETED = frozenset({"approve", "cancel"})


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Context:
    """What the API reads and calls; the daemon passes its own (see ``Dashboard``)."""

    config: Callable[[], Config]
    journal: Journal
    snapshot: Callable[[], Snapshot]
    control: Control
    progress: Callable[[], Mapping[int, float]] = dict
    actions: frozenset[str] = frozenset({"pause", "resume", "retry"})
    folder_actions: frozenset[str] = frozenset()  # actions that take a folder (pause, resume)
    paused_folders: Callable[[], frozenset[str]] = frozenset
    opener: Callable[[Path], None] | None = None
    thumbs_dir: Path = field(default_factory=Path)

    def folder_names(self) -> dict[str, str]:
        return {str(f.path): f.name for f in self.config().folders}


def _int(params: Mapping[str, str], name: str, default: int | None = None) -> int:
    value = params.get(name)
    if value in (None, ""):
        if default is None:
            raise ApiError(400, f"missing '{name}'")
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"'{name}' must be a whole number, not {value!r}") from None


def _date(params: Mapping[str, str], name: str) -> float | None:
    value = params.get(name, "")
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise ApiError(400, f"'{name}' must be a date like 2026-12-04, not {value!r}") from None


def now(ctx: Context) -> dict[str, Any]:
    data = now_view(ctx.snapshot(), ctx.journal, ctx.progress(), ctx.paused_folders())
    data["actions"] = sorted(ctx.actions)
    data["folder_actions"] = sorted(ctx.folder_actions)
    data["time"] = time.time()
    return data


def history_page(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    until = _date(params, "until")
    query = history.Query(
        text=params.get("q", "").strip(),
        folder=params.get("folder", ""),
        technique=params.get("technique", ""),
        state=params.get("state", ""),
        since=_date(params, "since"),
        until=None if until is None else until + 86400,  # "until" includes that day
        page=_int(params, "page", 1),
        page_size=_int(params, "size", history.PAGE_SIZE),
    )
    data = history.search(ctx.journal, query, ctx.folder_names()).to_json()
    if params.get("facets"):
        data["facets"] = history.facets(ctx.journal)
        data["folder_names"] = ctx.folder_names()
    data["actions"] = sorted(ctx.actions & JOB_ACTIONS)
    return data


def job(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    try:
        return history.job_json(ctx.journal, _int(params, "id"), ctx.folder_names())
    except KeyError:
        raise ApiError(404, "no such job") from None


def spend(ctx: Context, params: Mapping[str, str]) -> dict[str, Any]:
    period = params.get("period", "day")
    group = params.get("group", "folder")
    if period not in ("day", "week", "month"):
        raise ApiError(400, "'period' must be day, week or month")
    if group not in ("folder", "technique"):
        raise ApiError(400, "'group' must be folder or technique")
    count = {"day": 14, "week": 12, "month": 12}[period]
    data = history.spend(
        ctx.journal,
        period=cast(history.Period, period),
        group_by=cast(history.GroupBy, group),
        count=_int(params, "count", count),
    )
    config = ctx.config()
    data["budgets"] = {
        "daily": config.daemon.daily_budget_usd,
        "folders": {str(f.path): f.budget_usd for f in config.folders if f.budget_usd},
    }
    data["folder_names"] = ctx.folder_names()
    return data


def _job_paths(ctx: Context, job_id: int) -> dict[str, Any]:
    try:
        return history.job_json(ctx.journal, job_id, ctx.folder_names())
    except KeyError:
        raise ApiError(404, "no such job") from None


def thumb(ctx: Context, params: Mapping[str, str]) -> Path:
    data = _job_paths(ctx, _int(params, "job"))
    index = _int(params, "i", 0)
    outputs = data["outputs"]
    if not 0 <= index < len(outputs):
        raise ApiError(404, "no such output")
    made = thumbnail(Path(outputs[index]["path"]), ctx.thumbs_dir)
    if made is None:
        raise ApiError(404, "no thumbnail for this output")
    return made


def open_path(ctx: Context, body: Mapping[str, Any]) -> dict[str, Any]:
    """Open a job's output, its folder, its error report or the file itself, on this machine."""
    data = _job_paths(ctx, _int({k: str(v) for k, v in body.items()}, "job"))
    what = body.get("what", "output")
    path: Path | None = None
    if what in ("output", "output_folder"):
        index = int(body.get("index", 0))
        outputs = data["outputs"]
        if not 0 <= index < len(outputs):
            raise ApiError(404, "no such output")
        path = Path(outputs[index]["path"])
        if what == "output_folder":
            path = path.parent
    elif what == "report" and data.get("report_path"):
        path = Path(data["report_path"])
    elif what == "source":
        path = Path(data["now_at"])
    elif what == "folder":
        path = Path(data["now_at"]).parent
    if path is None:
        raise ApiError(400, f"nothing to open for {what!r}")
    if ctx.opener is None:
        raise ApiError(501, "opening files is not available here")
    try:
        ctx.opener(path)
    except FloradropError as exc:
        raise ApiError(409, exc.describe()) from None
    return {"ok": True, "opened": str(path)}


def action(ctx: Context, body: Mapping[str, Any]) -> dict[str, Any]:
    """One change, through the daemon's control handler."""
    name = str(body.get("action", ""))
    if name not in ctx.actions:
        raise ApiError(400, f"unknown action {name!r}")
    request: dict[str, Any] = {"command": name}
    folder = body.get("folder")
    if folder:
        if name not in ctx.folder_actions:
            raise ApiError(400, f"{name} does not take a folder")
        if str(folder) not in ctx.folder_names():
            raise ApiError(404, "no such folder")
        request["folder"] = str(folder)
    job_id = body.get("job")
    if job_id is not None:
        if name not in JOB_ACTIONS:
            raise ApiError(400, f"{name} does not take a job")
        data = _job_paths(ctx, _int({"job": str(job_id)}, "job"))
        request["job"] = data["id"]
        if name == "retry":
            request["path"] = data["now_at"]
    elif name not in GLOBAL_ACTIONS and not folder:
        raise ApiError(400, f"{name} needs a job")
    if name in TARGETED:  # approve / cancel name their jobs or folder as "targets"
        target = request.pop("job", None) or request.pop("folder", None)
        request["targets"] = [str(target)] if target is not None else []
    reply = ctx.control(request)
    if not reply.get("ok"):
        raise ApiError(409, str(reply.get("error") or f"{name} failed"))
    return reply
