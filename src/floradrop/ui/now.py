"""The "Now" page's data: per folder, the files in flight and why each one waits.

Built from the same status snapshot the tray and ``floradrop status`` read, plus the
unfinished jobs from the journal (with the live progress of running ones). Progress, elapsed
time and an estimate of the time left come from the run's progress; "12 of 50" counts the
folder's current batch: every job dropped since the folder was last idle.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floradrop.jobs import ACTIVE_STATES, TERMINAL_STATES, JobState
from floradrop.journal import Journal
from floradrop.money import ASKED, CANCELLABLE
from floradrop.status import Snapshot

MAX_JOBS_PER_FOLDER = 200
_UNFINISHED = [s.value for s in JobState if not s.terminal]
_KNOWN = {s.value for s in JobState}
_CANCELLABLE = {s.value for s in CANCELLABLE}


def _eta(progress: float, elapsed: float) -> float | None:
    if progress <= 0 or progress >= 100 or elapsed <= 0:
        return None
    return elapsed * (100.0 - progress) / progress


def _why(state: str, note: str | None, paused: bool, folder_paused: bool) -> str | None:
    """Why a job is not moving, in words (None: it is moving or simply queued)."""
    if state == JobState.HELD.value:
        return note or "waiting for budget"
    if state == JobState.WAITING.value and (paused or folder_paused):
        return "paused"
    if state not in _KNOWN:  # a state added later (e.g. a guard that asks first): its note
        return note or state.replace("_", " ")
    return None


def now_view(
    snapshot: Snapshot,
    journal: Journal,
    progress: Mapping[int, float],
    paused_folders: frozenset[str] = frozenset(),
    now: float | None = None,
) -> dict[str, Any]:
    """The snapshot as JSON, each folder with its unfinished jobs and its batch."""
    now = time.time() if now is None else now
    data = snapshot.to_json()
    marks = ", ".join("?" for _ in _UNFINISHED)
    terminal = [s.value for s in TERMINAL_STATES]
    tmarks = ", ".join("?" for _ in terminal)
    for folder in data["folders"]:
        path = folder["path"]
        folder["paused"] = folder.get("paused") or path in paused_folders
        rows = journal.select(
            "SELECT id, rel_path, state, progress, note, technique, run_cost, created_at, "
            "submitted_at, source_path, approval FROM jobs WHERE folder = ? AND "
            f"state IN ({marks}) ORDER BY id + 0 LIMIT ?",  # + 0: found by (folder, state)
            [path, *_UNFINISHED, MAX_JOBS_PER_FOLDER],
        )
        jobs = []
        for row in rows:
            state = row["state"]
            started = row["submitted_at"] or row["created_at"]
            elapsed = max(0.0, now - started)
            pct = float(progress.get(row["id"], row["progress"]) or 0.0)
            jobs.append(
                {
                    "id": row["id"],
                    "name": Path(row["rel_path"]).name,
                    "state": state,
                    "active": state in {s.value for s in ACTIVE_STATES},
                    "progress": round(pct, 1),
                    "elapsed": round(elapsed, 1),
                    "eta": _eta(pct, now - row["submitted_at"]) if row["submitted_at"] else None,
                    "why": _why(state, row["note"], snapshot.paused, folder["paused"]),
                    # the big-drop guard asks before these start (floradrop.money)
                    "asked": row["approval"] == ASKED,
                    "cancellable": state in _CANCELLABLE,
                    "note": row["note"],
                    "technique": row["technique"],
                    "cost": row["run_cost"],
                    "path": row["source_path"],
                }
            )
        folder["jobs"] = jobs
        folder["batch"] = {"done": 0, "total": 0}
        if jobs:
            oldest = journal.select(
                f"SELECT MIN(created_at) FROM jobs WHERE folder = ? AND state IN ({marks})",
                [path, *_UNFINISHED],
            )[0][0]
            if oldest is not None:
                # The batch began when the folder was last idle: after the last job that
                # finished before the oldest unfinished one was dropped.
                idle = journal.select(
                    "SELECT MAX(finished_at) FROM jobs WHERE folder = ? AND finished_at <= ?",
                    [path, oldest],
                )[0][0]
                row = journal.select(
                    "SELECT COUNT(*), "
                    f"SUM(CASE WHEN state IN ({tmarks}) THEN 1 ELSE 0 END) "
                    "FROM jobs WHERE folder = ? AND created_at > ?",
                    [*terminal, path, idle if idle is not None else 0.0],
                )[0]
                folder["batch"] = {"done": int(row[1] or 0), "total": int(row[0] or 0)}
    return data
