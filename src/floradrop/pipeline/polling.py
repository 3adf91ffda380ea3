"""Poll dispatch: which running jobs to poll now, and what their answers mean.

The engine's scheduler calls :meth:`RunPolling.dispatch` every round and sleeps no longer than
:meth:`RunPolling.wake_at`; the due times come from :class:`~floradrop.pipeline.schedule.
PollSchedule`, the requests from :class:`~floradrop.pipeline.poll.Poller`, and the poll itself
runs on a worker. A terminal run is handed back to the engine (``finish``); a run past the
user's ``run_timeout_minutes`` fails its job (``fail``); any other error goes to ``on_error``
(the engine's error policy: offline, blocked, logged).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from floradrop.flora.models import Run
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal, StaleTransition
from floradrop.pipeline import poll
from floradrop.pipeline.fileaway import Failure
from floradrop.pipeline.poll import Poller
from floradrop.pipeline.schedule import PollSchedule
from floradrop.pipeline.submit import epoch_seconds


@dataclass(frozen=True)
class PollHooks:
    """What the engine does with what polling learns."""

    finish: Callable[[Job, Run], None]  # a terminal run (may raise StaleTransition)
    fail: Callable[[int, Failure], None]  # a run past the timeout
    progress: Callable[[int, float], None]
    on_error: Callable[[Exception], None]
    changed: Callable[[], None]


class RunPolling:
    """Polls each running job when its run is due (thread-safe)."""

    def __init__(
        self,
        poller: Poller,
        journal: Journal,
        hooks: PollHooks,
        *,
        interval: float,
        run_timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.poller = poller
        self.journal = journal
        self.hooks = hooks
        self.run_timeout_seconds = run_timeout_seconds
        self.schedule = PollSchedule(interval, batch=poll.BATCH_THRESHOLD)
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._jobs: dict[int, Job] = {}  # the running jobs, as last read
        self._estimates: dict[int, float | None] = {}  # from the create's answer
        self._ended: set[int] = set()  # terminal, until the journal says they left RUNNING
        self._dirty = True

    def on_created(self, job: Job, run: Run) -> None:
        """A run was created for ``job`` (called before the job turns RUNNING)."""
        with self._lock:
            self._estimates[job.id] = run.estimated_seconds
            self._dirty = True

    def wake_at(self) -> float | None:
        with self._lock:
            return self.schedule.wake_at()

    def dispatch(self, now: float, running: int, pool: Executor) -> None:
        """Start a poll of the runs due now, if any (``running``: RUNNING jobs right now)."""
        with self._lock:
            if self._dirty or running != len(self.schedule):
                self._sync(now)
            due = self.schedule.take_due(now)
        if due:
            pool.submit(self._poll, due)

    def _sync(self, now: float) -> None:
        self._dirty = False
        jobs = {job.id: job for job in self.journal.jobs([JobState.RUNNING])}
        for job_id in self.schedule.tracked - jobs.keys():
            self.schedule.forget(job_id)
            self._jobs.pop(job_id, None)
        self._ended &= jobs.keys()
        wall = self._wall()
        for job_id, job in jobs.items():
            if job_id in self._ended:
                continue
            self._jobs[job_id] = job
            if job_id not in self.schedule:
                self.schedule.track(
                    job_id,
                    job.technique,
                    now=now,
                    age=wall - (job.submitted_at or wall),
                    estimated_seconds=self._estimates.pop(job_id, None),
                )

    def _poll(self, due: list[int]) -> None:
        sent_at = self._clock()
        with self._lock:
            jobs = [self._jobs[i] for i in due if i in self._jobs]
            others = [j for i, j in self._jobs.items() if i not in due]
        try:
            runs = self.poller.poll(jobs, also=others)
            for job in (*jobs, *others):
                run = runs.get(job.id)
                if run is not None and (run.terminal or job.id in due):
                    self._answer(job, run)
        except Exception as exc:
            self.hooks.on_error(exc)
        finally:
            with self._lock:
                self.schedule.polled(due, sent_at)
            self.hooks.changed()

    def _answer(self, job: Job, run: Run) -> None:
        self.hooks.progress(job.id, run.progress)
        if run.terminal:
            created, ended = epoch_seconds(run.created_at), epoch_seconds(run.completed_at)
            with self._lock:
                if created is not None and ended is not None:
                    self.schedule.learn(job.technique, ended - created)
                self.schedule.forget(job.id)
                self._jobs.pop(job.id, None)
                self._ended.add(job.id)
            with contextlib.suppress(StaleTransition):
                self.hooks.finish(job, run)
            self.hooks.changed()  # its run slot is free: the scheduler may start the next
        elif job.submitted_at and self._wall() - job.submitted_at > self.run_timeout_seconds:
            minutes = self.run_timeout_seconds / 60
            self.hooks.fail(
                job.id,
                Failure(
                    f"the run did not finish within {minutes:g} minutes",
                    "it may still finish in the FLORA app; raise run_timeout_minutes for "
                    "long techniques",
                ),
            )
