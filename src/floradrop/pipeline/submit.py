"""Submit: start exactly one run per job, whatever happens to the network or the process.

The rules (REFERENCE.md §10):

* every job has a deterministic idempotency key (workspace, technique, job key, attempt); it is
  journaled together with the state ``submitting`` *before* the create request is sent;
* the key goes in the ``Idempotency-Key`` header and the body's ``idempotency_key``;
* FLORA answers a reused key with 409 ``idempotency_duplicate`` and cannot tell us the run id,
  so a job whose create answer was lost is resolved by finding its run in
  ``GET /technique-runs`` (newest first, created after the job's ``submit_started_at``), and
  only if no such run exists is the create sent again, with the same key;
* to make that search unambiguous, creates are serialised per technique: at most one create
  whose answer is unknown exists per technique at any moment, in this process and (because a
  crash leaves at most one) across restarts.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from loguru import logger

from floradrop.errors import JobError, TransientError
from floradrop.flora.client import FloraClient
from floradrop.flora.errors import IdempotencyDuplicateError
from floradrop.flora.models import Run, RunInput, Technique
from floradrop.journal import Job, Journal
from floradrop.status import JobState

# Runs created this long before submit_started_at are never candidates (clock skew margin).
_SKEW_SECONDS = 120.0
# After a 409 duplicate, how long we keep looking for the run before giving up on it.
_LOOKUP_GIVE_UP_SECONDS = 15 * 60.0


class RunUnknownError(JobError):
    title = "Run started, but its id is unknown"


def idempotency_key(workspace_id: str, technique: str, job: Job) -> str:
    raw = f"{workspace_id}:{technique}:{job.job_key}:{job.attempt}"
    return "fd-run-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def _epoch_seconds(value: float | None) -> float | None:
    """FLORA's run timestamps are epoch numbers of undocumented unit (ms in practice)."""
    if value is None:
        return None
    return value / 1000.0 if value > 1e11 else value


class Submitter:
    """Creates runs, one unknown outcome per technique at a time."""

    def __init__(
        self,
        client: FloraClient,
        journal: Journal,
        workspace_id: str,
        *,
        sign: Callable[[list[RunInput]], list[RunInput]] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.workspace_id = workspace_id
        # Completes journaled inputs just before sending (hosted links: their signatures are
        # never journaled, and are recomputed identically for a create sent again).
        self._sign = sign or (lambda inputs: inputs)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @contextmanager
    def _serialised(self, technique: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(technique, threading.Lock())
        with lock:
            yield

    def submit(self, job: Job, inputs: list[RunInput], technique: Technique) -> Job:
        """UPLOADING -> SUBMITTING -> RUNNING. Raises on failure, leaving the job SUBMITTING
        when the run may exist (resolved later by :meth:`resolve`)."""
        with self._serialised(job.technique):
            job = self.journal.transition(
                job.id,
                JobState.UPLOADING,
                JobState.SUBMITTING,
                idempotency_key=idempotency_key(self.workspace_id, job.technique, job),
                inputs=[i.to_api() for i in inputs],
                submit_started_at=time.time(),
            )
            return self._create(job, technique)

    def resolve(self, job: Job, technique: Technique) -> Job:
        """A job left SUBMITTING (crash, lost answer, outage): find its run, or create it with
        the same key if it was never created."""
        with self._serialised(job.technique):
            job = self.journal.get(job.id)
            if job.state is not JobState.SUBMITTING:
                return job
            run = self._find_run(job, technique)
            if run is not None:
                return self._adopt(job, run, "found in the run list")
            return self._create(job, technique)

    def _create(self, job: Job, technique: Technique) -> Job:
        assert job.idempotency_key is not None
        inputs = self._sign([RunInput(**i) for i in job.inputs])
        log = logger.bind(job=job.id)
        try:
            run = self.client.start_run(job.technique, inputs, idempotency_key=job.idempotency_key)
        except IdempotencyDuplicateError:
            log.info("the run for this job already exists (idempotency duplicate); looking it up")
            found = self._find_run(job, technique)
            if found is None:
                waited = time.time() - (job.submit_started_at or time.time())
                if waited > _LOOKUP_GIVE_UP_SECONDS:
                    raise RunUnknownError(
                        "FLORA says this file's run was already started, but it could not be "
                        "found in the run list.",
                        hint="look for it in the FLORA app before retrying: a retry is a new, "
                        "paid run",
                    ) from None
                raise TransientError(
                    "the run exists but is not listed yet; will look again",
                    hint="nothing to do",
                ) from None
            return self._adopt(job, found, "found after idempotency duplicate")
        return self._adopt(job, run, "created")

    def _adopt(self, job: Job, run: Run, how: str) -> Job:
        logger.bind(job=job.id).info("run {} {} for {}", run.run_id, how, job.name)
        return self.journal.transition(
            job.id,
            JobState.SUBMITTING,
            JobState.RUNNING,
            run_id=run.run_id,
            poll_url=run.poll_url,
            submitted_at=time.time(),
            progress=run.progress,
        )

    def _find_run(self, job: Job, technique: Technique) -> Run | None:
        """The oldest run of this technique created after the job's create was sent that no
        other job has claimed."""
        since = (job.submit_started_at or 0.0) - _SKEW_SECONDS
        claimed = self.journal.known_run_ids()
        candidates: list[tuple[float, Run]] = []
        for run in self.client.iter_technique_runs(
            workspace_id=self.workspace_id, technique_id=technique.technique_id
        ):
            created = _epoch_seconds(run.created_at)
            if created is not None and created < since:
                break  # newest first: everything after this is older
            if run.run_id not in claimed:
                candidates.append((created or 0.0, run))
        if not candidates:
            return None
        if len(candidates) > 1:
            logger.bind(job=job.id).warning(
                "{} unclaimed runs of {} since this job was submitted; taking the oldest",
                len(candidates),
                job.technique,
            )
        return min(candidates, key=lambda c: c[0])[1]
