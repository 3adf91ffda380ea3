"""The error policy: what the daemon does about an error, decided in one place.

:func:`classify` looks at the *kind* of an error (:mod:`floradrop.errors`: fatal, transient,
per-job) and at the job it happened to, and returns a :class:`Verdict`; the engine's one guard
(``floradrop.work``) carries it out for every worker and loop. :class:`Backoff` owns each job's
attempts and the time before which it is not tried again.

* a transient error backs off and keeps the job queued (never failed for it);
* FLORA cannot be reached: work pauses until a probe gets through (``floradrop.health``);
* a rejected key or no credits (:class:`~floradrop.errors.FatalError`): new uploads and runs
  pause until fixed, the job stays queued;
* a per-job error (:class:`~floradrop.errors.JobError`, a rule that does not fit the file):
  the file goes to the failed folder with a report;
* outputs that cannot be written: the job waits for space, never failed (its run is paid).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from floradrop.errors import (
    ConfigError,
    FatalError,
    FloradropError,
    Interrupted,
    JobError,
    TransientError,
)
from floradrop.jobs import JobState
from floradrop.journal import Job, StaleTransition
from floradrop.pipeline.fileaway import Failure
from floradrop.pipeline.upload import NotSettled, SidecarNotYet, SourceGone

SIDECAR_WAIT_SECONDS = 30.0  # how long a file waits for its sidecar (e.g. photo.txt) to arrive
MAX_DISK_ATTEMPTS = 8  # a file that cannot be read or staged this often fails (nothing paid)
RETRY_MAX_SECONDS = 300.0
# Outputs that cannot be written (disk full, permissions) are tried again this often, doubling
# up to the cap, for as long as it takes: their run is paid, so the job is never failed for it.
DISK_RETRY_SECONDS = 10.0
DISK_RETRY_MAX_SECONDS = 60.0
OUTPUT_STATES = frozenset({JobState.FETCHING, JobState.FILING})


class Act(enum.Enum):
    NOTHING = "nothing"  # the job moved on elsewhere: nothing to do
    RETRY = "retry"  # back off; the job stays queued
    CANCEL = "cancel"  # the dropped file went away before its run: cancelled, nothing paid
    FAIL = "fail"  # to the failed folder with a report
    BLOCK = "block"  # a person must act (key, credits): work pauses, the job stays queued
    OFFLINE = "offline"  # FLORA cannot be reached: work pauses, the job stays queued
    DISK = "disk"  # outputs cannot be written: the job waits for space, never failed
    CONFIG = "config"  # (outside a job) the config does not fit: shown until fixed
    LOG = "log"  # (outside a job) logged; the loop goes on


@dataclass(frozen=True)
class Verdict:
    act: Act
    message: str = ""
    base: float = 0.0  # RETRY: the first back-off delay in seconds (doubles per attempt)
    quiet: bool = True  # RETRY: no "trying again in N s" warning
    say: tuple[str, str] | None = None  # (log level, line) logged before acting
    failure: Failure | None = None  # FAIL
    error: BaseException | None = None  # BLOCK, OFFLINE, DISK, LOG: the error itself
    bug: bool = False  # not one of ours: logged with its traceback


def classify(
    error: BaseException,
    job: Job | None,
    *,
    attempts: int = 0,
    now: Callable[[], float] = time.time,
) -> Verdict:
    """What to do about ``error``, raised while working on ``job`` (``None``: in a loop, outside
    any job). ``attempts``: how often the job was tried already (:meth:`Backoff.attempts`)."""
    if isinstance(error, StaleTransition):
        return Verdict(Act.NOTHING)
    if isinstance(error, Interrupted):
        return Verdict(Act.RETRY, str(error), 0.0, say=("INFO", str(error)))
    if isinstance(error, SourceGone):
        return Verdict(Act.CANCEL, str(error))
    if isinstance(error, NotSettled):
        return Verdict(Act.RETRY, str(error), 1.0)
    if isinstance(error, SidecarNotYet):
        if job is not None and now() - job.created_at < SIDECAR_WAIT_SECONDS:
            return Verdict(Act.RETRY, str(error), 2.0)
        failure = Failure(str(error), "drop the sidecar next to the file, then retry")
        return Verdict(Act.FAIL, str(error), failure=failure)
    if isinstance(error, FatalError):
        return Verdict(Act.BLOCK, error.message, error=error)
    if isinstance(error, TransientError):
        if error.offline:
            return Verdict(Act.OFFLINE, error.message, 5.0, error=error)
        if isinstance(error.__cause__, OSError) and _writing_outputs(job):
            return Verdict(Act.DISK, error.message, error=error.__cause__)  # a download not saved
        if job is None:
            return Verdict(Act.LOG, error.message, error=error)
        return Verdict(Act.RETRY, error.message, 5.0, quiet=False)
    if isinstance(error, JobError):
        if job is None:
            return Verdict(Act.LOG, error.message, error=error)
        return Verdict(Act.FAIL, error.message, failure=Failure(*error.report()))
    if isinstance(error, ConfigError):
        if job is None:
            return Verdict(Act.CONFIG, error.message, error=error)
        # e.g. a video dropped where the rule only fits images
        failure = Failure(error.message, error.hint or "check the folder's rules")
        return Verdict(Act.FAIL, error.message, failure=failure)
    if isinstance(error, FloradropError) and job is None:
        return Verdict(Act.LOG, error.message, error=error)
    if isinstance(error, OSError):
        if _writing_outputs(job):
            return Verdict(Act.DISK, str(error), error=error)
        if job is None:
            return Verdict(Act.LOG, str(error), error=error, bug=True)
        if attempts + 1 >= MAX_DISK_ATTEMPTS:
            failure = Failure(
                f"could not write to disk: {error}", "free some disk space, then 'floradrop retry'"
            )
            return Verdict(Act.FAIL, str(error), failure=failure)
        say = ("WARNING", f"disk problem ({error}); will try again")
        return Verdict(Act.RETRY, str(error), 10.0 * (attempts + 1), say=say)
    if job is None:
        return Verdict(Act.LOG, repr(error), error=error, bug=True)
    failure = Failure(f"internal error: {error!r}", "please report this bug with the log")
    return Verdict(Act.FAIL, repr(error), failure=failure, error=error, bug=True)


def _writing_outputs(job: Job | None) -> bool:
    return job is not None and job.state in OUTPUT_STATES


class Backoff:
    """Each job's attempts and the monotonic time before which it is not tried again.

    Shared by the worker threads (which back off) and the scheduler (which asks who is ready),
    so every access holds the lock. A job that moves on is forgotten (:meth:`forget`): a daemon
    runs for weeks.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._attempts: dict[int, int] = {}
        self._not_before: dict[int, float] = {}

    def attempts(self, job_id: int) -> int:
        with self._lock:
            return self._attempts.get(job_id, 0)

    def retry(self, job_id: int, base: float) -> float:
        """One more attempt: not before ``base`` doubled per attempt (capped). Returns the delay."""
        with self._lock:
            attempts = self._attempts[job_id] = self._attempts.get(job_id, 0) + 1
            # (the exponent is capped: 2 ** 1024 does not fit a float, after weeks of retries)
            delay = min(base * 2.0 ** min(attempts - 1, 20), RETRY_MAX_SECONDS) if base else 0.0
            self._not_before[job_id] = self._clock() + delay
        return delay

    def disk(self, job_id: int) -> float:
        """One more attempt at writing outputs: a shorter cap, for as long as it takes."""
        with self._lock:
            attempts = self._attempts[job_id] = self._attempts.get(job_id, 0) + 1
            delay = min(DISK_RETRY_SECONDS * 2.0 ** min(attempts - 1, 20), DISK_RETRY_MAX_SECONDS)
            self._not_before[job_id] = self._clock() + delay
        return delay

    def ready(self, job_id: int, now: float) -> bool:
        with self._lock:
            return self._not_before.get(job_id, 0.0) <= now

    def waiting_for(self, job_id: int) -> float:
        """Seconds until the job may be tried again (0: now)."""
        with self._lock:
            return max(0.0, self._not_before.get(job_id, 0.0) - self._clock())

    def forget(self, job_id: int) -> None:
        with self._lock:
            self._attempts.pop(job_id, None)
            self._not_before.pop(job_id, None)

    def go_now(self) -> None:
        """Every job may be tried at once (FLORA is reachable again); attempts are kept."""
        with self._lock:
            self._not_before.clear()

    def __len__(self) -> int:
        """How many jobs back off (or did, and were not forgotten yet)."""
        with self._lock:
            return len(self._not_before)

    def __contains__(self, job_id: object) -> bool:
        with self._lock:
            return job_id in self._attempts or job_id in self._not_before
