"""What happened: every job from the journal, searched and paged, and what it cost.

Read by the dashboard (``floradrop.ui``) and ``floradrop history``. Everything here comes from
the journal (never from logs) through :meth:`Journal.select`; the indexes that keep the first
page fast over hundreds of thousands of jobs are the journal's schema version 2.
"""

from __future__ import annotations

import calendar
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from floradrop.journal import Job, Journal

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500

# Columns a history row shows (not the run's inputs or asset ids).
_COLUMNS = (
    "id, folder, rel_path, source_path, filed_path, technique, state, run_cost, cost, run_id, "
    "outputs, error_code, error_message, error_hint, report_path, note, created_at, "
    "submitted_at, completed_at, finished_at, attempt"
)

Period = Literal["day", "week", "month"]
GroupBy = Literal["folder", "technique"]


@dataclass(frozen=True)
class Query:
    """A history search. Empty fields match everything."""

    text: str = ""  # part of the file's name or path (case-insensitive)
    folder: str = ""  # the watched folder (its path)
    technique: str = ""
    state: str = ""
    since: float | None = None  # epoch seconds: created at or after
    until: float | None = None  # epoch seconds: created before
    path: str = ""  # exactly this file: where it was dropped, where it is, or where it was filed
    page: int = 1
    page_size: int = PAGE_SIZE


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "total": self.total,
            "page": self.page,
            "page_size": self.page_size,
            "pages": max(1, -(-self.total // self.page_size)),
        }


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(query: Query) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if query.text:
        clauses.append("rel_path LIKE ? ESCAPE '\\'")
        args.append(f"%{_escape_like(query.text)}%")
    if query.folder:
        clauses.append("folder = ?")
        args.append(query.folder)
    if query.technique:
        clauses.append("technique = ?")
        args.append(query.technique)
    if query.state:
        clauses.append("state = ?")
        args.append(query.state)
    if query.since is not None:
        clauses.append("created_at >= ?")
        args.append(query.since)
    if query.until is not None:
        clauses.append("created_at < ?")
        args.append(query.until)
    if query.path:
        clauses.append("(source_path = ? OR filed_path = ? OR folder || '/' || rel_path = ?)")
        args.extend([query.path] * 3)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def row_json(row: sqlite3.Row | dict[str, Any], folder_names: dict[str, str]) -> dict[str, Any]:
    """One job as the dashboard and ``history --json`` show it."""
    import json

    data = dict(row)
    outputs = data["outputs"]
    if isinstance(outputs, str):
        outputs = json.loads(outputs)
    data["outputs"] = [
        {
            "index": i,
            "name": Path(o["path"]).name,
            "path": o["path"],
            "type": o.get("type"),
            "exists": Path(o["path"]).exists(),
        }
        for i, o in enumerate(outputs)
        if o.get("path")
    ]
    data["name"] = Path(data["rel_path"]).name
    data["folder_name"] = folder_names.get(data["folder"], Path(data["folder"]).name)
    data["now_at"] = data.get("filed_path") or data["source_path"]
    return data


def search(journal: Journal, query: Query, folder_names: dict[str, str] | None = None) -> Page:
    """One page of jobs matching ``query``, newest first."""
    names = folder_names or {}
    size = max(1, min(query.page_size, MAX_PAGE_SIZE))
    page = max(1, query.page)
    where, args = _where(query)
    # Newest first is the id order: a date range is checked row by row in that order
    # ("+created_at" keeps SQLite from sorting the whole range it would find by the index).
    page_where = where.replace("created_at", "+created_at")
    rows = journal.select(
        f"SELECT {_COLUMNS} FROM jobs{page_where} ORDER BY id DESC LIMIT ? OFFSET ?",
        [*args, size, (page - 1) * size],
    )
    total = int(journal.select(f"SELECT COUNT(*) FROM jobs{where}", args)[0][0])
    return Page([row_json(r, names) for r in rows], total, page, size)


def facets(journal: Journal) -> dict[str, list[str]]:
    """The folders, techniques and states the journal holds (the search form's choices)."""
    return {
        "folder": [r[0] for r in journal.select("SELECT DISTINCT folder FROM jobs ORDER BY 1")],
        "technique": [
            r[0] for r in journal.select("SELECT DISTINCT technique FROM jobs ORDER BY 1")
        ],
        "state": [r[0] for r in journal.select("SELECT DISTINCT state FROM jobs ORDER BY 1")],
    }


def job_json(journal: Journal, job_id: int, folder_names: dict[str, str]) -> dict[str, Any]:
    """One job in full, with its error report's text (for failures)."""
    rows = journal.select(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id])
    if not rows:
        raise KeyError(job_id)
    data = row_json(rows[0], folder_names)
    report = data.get("report_path")
    data["report"] = None
    if report:
        try:
            data["report"] = Path(report).read_text("utf-8", errors="replace")[:20000]
        except OSError:
            data["report"] = None
    return data


def job(journal: Journal, job_id: int) -> Job:
    return journal.get(job_id)


# -- spend ------------------------------------------------------------------------------------


def _period_key(day: str, period: Period) -> str:
    if period == "day":
        return day
    if period == "month":
        return day[:7]
    d = date.fromisoformat(day)
    monday = d - timedelta(days=d.weekday())
    return monday.isoformat()


def _periods(period: Period, count: int, today: date) -> list[str]:
    keys: list[str] = []
    if period == "day":
        keys = [(today - timedelta(days=i)).isoformat() for i in range(count)]
    elif period == "week":
        monday = today - timedelta(days=today.weekday())
        keys = [(monday - timedelta(weeks=i)).isoformat() for i in range(count)]
    else:
        year, month = today.year, today.month
        for _ in range(count):
            keys.append(f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return list(reversed(keys))


def budget_scale(period: Period, key: str) -> int:
    """How many days' budget a period holds (a daily budget drawn on a week or a month)."""
    if period == "day":
        return 1
    if period == "week":
        return 7
    year, month = int(key[:4]), int(key[5:7])
    return calendar.monthrange(year, month)[1]


def spend(
    journal: Journal,
    *,
    period: Period = "day",
    group_by: GroupBy = "folder",
    count: int = 14,
    today: date | None = None,
) -> dict[str, Any]:
    """Charged cost per period (the last ``count`` days, weeks or months) and per group."""
    today = today or datetime.now().date()
    keys = _periods(period, count, today)
    first_day = keys[0] if period != "month" else keys[0] + "-01"
    rows = journal.select(
        f"SELECT day, {group_by}, SUM(cost) FROM jobs "
        f"WHERE day >= ? AND cost IS NOT NULL GROUP BY day, {group_by}",
        [first_day],
    )
    series: dict[str, dict[str, float]] = {}
    for day, group, total in rows:
        key = _period_key(day, period)
        per = series.setdefault(group, {})
        per[key] = per.get(key, 0.0) + float(total or 0)
    return {
        "period": period,
        "group_by": group_by,
        "periods": keys,
        "days": [budget_scale(period, k) for k in keys],
        "series": {
            group: [round(values.get(k, 0.0), 6) for k in keys]
            for group, values in sorted(series.items())
        },
    }
