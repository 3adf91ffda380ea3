"""The status snapshot: the one object the tray, ``floradrop status`` and notifications read.

The engine builds a :class:`Snapshot` from the journal and its live state; readers never derive
status from log lines. A snapshot is plain data: it is frozen, compares by value, and turns into
JSON with :meth:`Snapshot.to_json` (the shape of ``floradrop status --json``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floradrop.guard import Question
from floradrop.jobs import ACTIVE_STATES, TERMINAL_STATES, JobState

# (re-exported for code written before floradrop.jobs: import them from there)
__all__ = ["ACTIVE_STATES", "TERMINAL_STATES", "JobState"]


class TrayState(enum.StrEnum):
    """What the icon shows at a glance."""

    IDLE = "idle"
    WORKING = "working"
    PAUSED = "paused"
    ATTENTION = "attention"


class AttentionKind(enum.StrEnum):
    FAILED_JOB = "failed_job"
    BUDGET = "budget"
    AUTH = "auth"
    CREDITS = "credits"
    OFFLINE = "offline"
    CONFIG = "config"
    DISK = "disk"  # outputs cannot be written (disk full, permissions)
    CONFIRM = "confirm"  # a big drop waits for the user's go-ahead (floradrop approve)


@dataclass(frozen=True)
class Attention:
    """Something a person should know about, and what to do about it."""

    kind: AttentionKind
    message: str
    hint: str = ""


@dataclass
class Live:
    """What only a running engine knows (the rest of the status comes from the journal).

    Written by the engine's rooms (see ARCHITECTURE.md): ``offline`` and ``blocked`` by
    ``floradrop.health``, ``disk_problem`` and ``last_error*`` by the error guard, ``progress``
    by the polls, ``config_problem`` by the config reload."""

    offline: bool = False
    blocked: Attention | None = None
    config_problem: str | None = None
    disk_problem: str | None = None  # outputs cannot be written; cleared by the next success
    last_error: str | None = None
    last_error_job: int | None = None  # the job the last error is about: cleared when it moves on
    progress: dict[int, float] = field(default_factory=dict)
    tray_warning: str | None = None


@dataclass(frozen=True)
class RecentItem:
    """A recent output (opens the file) or failure (opens its error report)."""

    path: Path
    label: str
    at: float  # epoch seconds


@dataclass(frozen=True)
class Notice:
    """A notification a folder's ``notify`` action asked for (an output landed, a file failed);
    the tray shows it with an "Open" button for ``path``."""

    at: float  # epoch seconds
    title: str
    message: str
    path: Path | None = None


@dataclass(frozen=True)
class ScheduleStatus:
    """A folder's schedule window (``schedule = "22:00-07:00"``) as status shows it."""

    window: str
    open: bool
    opens: str  # when it next opens, in words ("at 22:00", "Monday at 09:00")
    held: int = 0  # jobs uploaded and held until it opens

    def to_json(self) -> dict[str, Any]:
        return {"window": self.window, "open": self.open, "opens": self.opens, "held": self.held}


@dataclass(frozen=True)
class FolderStatus:
    name: str
    path: Path  # the inbox
    outputs: Path
    done: Path
    failed: Path
    technique: str
    counts: dict[str, int] = field(default_factory=dict)  # JobState value -> number of jobs
    progress: tuple[float, ...] = ()  # progress (0-100) of each running job
    transfer: str = "upload"  # "upload" (FLORA assets) or "host" (the [hosting] bucket)
    links: bool = False  # dropped .url/.webloc/.txt links run on their URL
    paused: bool = False  # this folder alone is paused (the dashboard's "Pause folder")
    flow: tuple[str, ...] = ()  # a chain of folders: every step's name, first to last
    schedule: ScheduleStatus | None = None  # None: runs may start at any time
    review: int | None = None  # outputs waiting for review (None: no hold point)
    review_folder: Path | None = None  # where they wait (with a hold point)

    def count(self, state: JobState) -> int:
        return self.counts.get(state.value, 0)


@dataclass(frozen=True)
class Snapshot:
    """Everything a reader needs to show floradrop's state, at one instant."""

    paused: bool = False
    daemon_running: bool = False
    folders: tuple[FolderStatus, ...] = ()
    running: int = 0  # jobs with an active state (uploading .. filing)
    queued: int = 0  # jobs waiting
    held: int = 0  # jobs waiting for budget
    scheduled: int = 0  # jobs held until their folder's schedule window opens
    notices: tuple[Notice, ...] = ()  # asked for by notify actions, newest last
    done_today: int = 0
    failed_today: int = 0
    spend_today_usd: float = 0.0
    # spend today / week / month (total, per folder), reserved, budgets (floradrop.money)
    money: dict[str, Any] = field(default_factory=dict)
    questions: tuple[Question, ...] = ()  # big drops waiting for a go-ahead
    offline: bool = False
    attention: Attention | None = None
    recent_results: tuple[RecentItem, ...] = ()
    recent_failures: tuple[RecentItem, ...] = ()
    last_error: str | None = None
    tray_warning: str | None = None  # e.g. "menu-less tray: install floradrop[tray]"
    config_file: Path | None = None
    log_file: Path | None = None
    service_installed: bool | None = None  # None: unknown / not supported

    @property
    def state(self) -> TrayState:
        if self.attention is not None:
            return TrayState.ATTENTION
        if self.paused:
            return TrayState.PAUSED
        if self.running or self.queued:
            return TrayState.WORKING
        return TrayState.IDLE

    @property
    def in_flight(self) -> int:
        return self.running + self.queued

    @property
    def to_review(self) -> int:
        """Outputs waiting in review folders for a person to approve or reject."""
        return sum(f.review or 0 for f in self.folders)

    def summary(self) -> str:
        """One line for a tooltip: "3 running, 12 done today, $0.48 spent"."""
        parts: list[str] = []
        if self.paused:
            parts.append("paused")
        if self.running:
            parts.append(f"{self.running} running")
        if self.queued:
            parts.append(f"{self.queued} queued")
        for question in self.questions:
            parts.append(f"{question.files} waiting for your go-ahead")
        budget_held = self.held - sum(q.files for q in self.questions)
        if budget_held > 0:
            parts.append(f"{budget_held} waiting for budget")
        if self.scheduled:
            parts.append(f"{self.scheduled} held by schedule")
        if self.to_review:
            parts.append(f"{self.to_review} to review")
        parts.append(f"{self.done_today} done today")
        if self.failed_today:
            parts.append(f"{self.failed_today} failed")
        parts.append(f"${self.spend_today_usd:.2f} spent")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "paused": self.paused,
            "daemon_running": self.daemon_running,
            "offline": self.offline,
            "running": self.running,
            "queued": self.queued,
            "held": self.held,
            "scheduled": self.scheduled,
            "to_review": self.to_review,
            "done_today": self.done_today,
            "failed_today": self.failed_today,
            "spend_today_usd": round(self.spend_today_usd, 6),
            "money": self.money,
            "questions": [q.to_json() for q in self.questions],
            "attention": None
            if self.attention is None
            else {
                "kind": self.attention.kind.value,
                "message": self.attention.message,
                "hint": self.attention.hint,
            },
            "last_error": self.last_error,
            "tray_warning": self.tray_warning,
            "config_file": str(self.config_file) if self.config_file else None,
            "log_file": str(self.log_file) if self.log_file else None,
            "service_installed": self.service_installed,
            "folders": [
                {
                    "name": f.name,
                    "path": str(f.path),
                    "outputs": str(f.outputs),
                    "done": str(f.done),
                    "failed": str(f.failed),
                    "technique": f.technique,
                    "counts": {s.value: f.counts.get(s.value, 0) for s in JobState},
                    "progress": list(f.progress),
                    "transfer": f.transfer,
                    "links": f.links,
                    "paused": f.paused,
                    "flow": list(f.flow),
                    "schedule": f.schedule.to_json() if f.schedule else None,
                    "review": f.review,
                    "review_folder": str(f.review_folder) if f.review_folder else None,
                }
                for f in self.folders
            ],
            "recent_results": [
                {"path": str(r.path), "label": r.label, "at": r.at} for r in self.recent_results
            ],
            "recent_failures": [
                {"path": str(r.path), "label": r.label, "at": r.at} for r in self.recent_failures
            ],
        }
