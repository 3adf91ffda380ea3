"""Schedule windows applied to jobs: outside its folder's window a job is taken, journaled and
uploaded as usual, then held before its run is created; the moment the window opens it goes
back to waiting and starts (budgets still apply then: the hold is released, and the usual
budget check decides).

A schedule hold is a ``HELD`` job whose note starts with :data:`NOTE` (budget holds are
``HELD`` jobs too, with their own note); :func:`is_schedule_hold` tells them apart, so budget
releases never release a schedule hold and status counts them apart.

The clock is injected (:class:`ScheduleGate` ``clock``), so tests move time by hand.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from loguru import logger

from floradrop.config import Config, FolderConfig
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal, StaleTransition
from floradrop.status import ScheduleStatus
from floradrop.workflows.schedule_window import Window, parse

NOTE: Final = "held by schedule"


def is_schedule_hold(job: Job) -> bool:
    return job.state is JobState.HELD and (job.note or "").startswith(NOTE)


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Window | None:
    return parse(text)


def window_of(config: Config, folder: FolderConfig) -> Window | None:
    """The folder's own window, else the daemon's; None: runs may start at any time."""
    text = folder.schedule if folder.schedule is not None else config.daemon.schedule
    return _parsed(text) if text else None


class ScheduleGate:
    """Holds runs outside their folder's window and releases them when it opens."""

    def __init__(self, clock: Callable[[], datetime] = datetime.now) -> None:
        self.clock = clock

    def closed(self, config: Config, folder: FolderConfig) -> Window | None:
        """The folder's window when it is closed now (None: a run may start)."""
        window = window_of(config, folder)
        return window if window is not None and not window.is_open(self.clock()) else None

    def hold_if_closed(
        self, journal: Journal, config: Config, folder: FolderConfig, job: Job
    ) -> bool:
        """Uploaded, about to be run: outside the window, UPLOADING -> HELD (True)."""
        window = self.closed(config, folder)
        if window is None:
            return False
        note = f"{NOTE} ({window.text}): starts {window.describe_next(self.clock())}"
        journal.transition(job.id, JobState.UPLOADING, JobState.HELD, note=note)
        logger.bind(job=job.id).info("{}: uploaded; {}", job.name, note)
        return True

    def release(self, journal: Journal, config: Config) -> int:
        """Schedule holds whose window is open go back to waiting (then start as usual)."""
        released = 0
        folders = {str(f.path): f for f in config.folders}
        for job in journal.jobs([JobState.HELD]):
            folder = folders.get(job.folder)
            if not is_schedule_hold(job) or folder is None or self.closed(config, folder):
                continue
            with contextlib.suppress(StaleTransition):
                journal.transition(job.id, JobState.HELD, JobState.WAITING, note=None)
                logger.bind(job=job.id).info("{}: the schedule window is open", job.name)
                released += 1
        return released


def held_by_folder(jobs: Iterable[Job]) -> dict[str, int]:
    """Folder -> how many of ``jobs`` are schedule holds."""
    counts: dict[str, int] = {}
    for job in jobs:
        if is_schedule_hold(job):
            counts[job.folder] = counts.get(job.folder, 0) + 1
    return counts


def folder_statuses(config: Config, journal: Journal, now: datetime) -> dict[str, ScheduleStatus]:
    """Folder path -> its schedule window for status (folders with a window only)."""
    views: dict[str, ScheduleStatus] = {}
    held: dict[str, int] | None = None
    for folder in config.folders:
        window = window_of(config, folder)
        if window is None:
            continue
        if held is None:
            held = held_by_folder(journal.jobs([JobState.HELD]))
        key = str(folder.path)
        views[key] = ScheduleStatus(
            window.text, window.is_open(now), window.describe_next(now), held.get(key, 0)
        )
    return views
