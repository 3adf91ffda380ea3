"""Submit: start exactly one run per job, whatever happens to the network or the process.

The rules (../shared/flora-api/REFERENCE.md §10):

* every job has a deterministic idempotency key (workspace, technique, job key, attempt); it is
  journaled together with the state ``submitting`` *before* the create request is sent;
* the key goes in the ``Idempotency-Key`` header and the body's ``idempotency_key``;
* FLORA answers a reused key with 409 ``idempotency_duplicate`` and cannot tell us the run id,
  so a job whose create answer was lost is resolved by finding its run in
  ``GET /technique-runs`` (newest first, created after the job's ``submit_started_at``), and
  only if no such run exists is the create sent again, with the same key;
* that search runs alone (:class:`~floradrop.pipeline.schedule.CreateGate`): creates run
  concurrently in the normal case, a search waits until the creates in flight have their
  answers (so every run it sees is claimed or belongs to a job whose answer was lost) and none
  starts meanwhile; while an outcome is unknown, creates of that technique run one at a time;
* when several answers were lost together (an outage during a wave of concurrent creates,
  or a crash with several creates in flight), the unclaimed runs are paired with those jobs in
  order (oldest run to the job sent first), after re-sending each job's create with its own
  key (a 201 means it was never created, a 409 that it was). No run is ever created twice;
  which of those few runs belongs to which file is then FLORA's creation order, and the log
  says so by name. Creates serialised per technique (the previous design) never had two
  unknown outcomes at once, but made every wave of N creates cost N round trips.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from loguru import logger

from floradrop.errors import JobError, TransientError
from floradrop.flora.client import FloraClient
from floradrop.flora.errors import FloraError, IdempotencyDuplicateError
from floradrop.flora.models import Run, RunInput, Technique
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal
from floradrop.pipeline.schedule import CreateGate

# Runs created this long before submit_started_at are never candidates (clock skew margin).
_SKEW_SECONDS = 120.0
# After a 409 duplicate, how long we keep looking for the run before giving up on it.
_LOOKUP_GIVE_UP_SECONDS = 15 * 60.0


class RunUnknownError(JobError):
    title = "Run started, but its id is unknown"


def idempotency_key(workspace_id: str, technique: str, job: Job) -> str:
    raw = f"{workspace_id}:{technique}:{job.job_key}:{job.attempt}"
    return "fd-run-" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def epoch_seconds(value: float | None) -> float | None:
    """FLORA's run timestamps are epoch numbers of undocumented unit (ms in practice)."""
    if value is None:
        return None
    return value / 1000.0 if value > 1e11 else value


def _refused(exc: Exception) -> bool:
    """FLORA answered and did not create the run (a 4xx other than the 409 duplicate)."""
    status = exc.status_code if isinstance(exc, FloraError) else None
    return status is not None and 400 <= status < 500 and status not in (408, 409, 429)


class Submitter:
    """Creates runs: concurrently, and alone while a lost answer is looked for."""

    def __init__(
        self,
        client: FloraClient,
        journal: Journal,
        workspace_id: str,
        *,
        gate: CreateGate | None = None,
        on_created: Callable[[Job, Run], None] | None = None,
        sign: Callable[[list[RunInput]], list[RunInput]] | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.workspace_id = workspace_id
        self.gate = gate or CreateGate()
        self.on_created = on_created  # told before the job turns RUNNING (e.g. the poll plan)
        # Completes journaled inputs just before sending (hosted links: their signatures are
        # never journaled, and are recomputed identically for a create sent again).
        self._sign = sign or (lambda inputs: inputs)

    def submit(self, job: Job, inputs: list[RunInput], technique: Technique) -> Job:
        """UPLOADING -> SUBMITTING -> RUNNING. Raises on failure, leaving the job SUBMITTING
        when the run may exist (resolved later by :meth:`resolve`)."""
        with self.gate.create(job.technique):
            job = self.journal.transition(
                job.id,
                JobState.UPLOADING,
                JobState.SUBMITTING,
                idempotency_key=idempotency_key(self.workspace_id, job.technique, job),
                inputs=[i.to_api() for i in inputs],
                submit_started_at=time.time(),
            )
            try:
                return self._create(job)
            except IdempotencyDuplicateError:
                logger.bind(job=job.id).info(
                    "the run for this job already exists (idempotency duplicate); looking it up"
                )
                self.gate.mark_unknown(job.technique, job.id)
            except Exception as exc:
                if not _refused(exc):
                    self.gate.mark_unknown(job.technique, job.id)  # it may have been created
                raise
        return self.resolve(job, technique)

    def resolve(self, job: Job, technique: Technique) -> Job:
        """A job left SUBMITTING (crash, lost answer, outage): find its run, or create it with
        the same key if it was never created. Runs alone (see the module's docstring)."""
        with self.gate.alone(job.technique):
            job = self.journal.get(job.id)
            if job.state is not JobState.SUBMITTING:
                self.gate.mark_known(job.technique, job.id)
                return job
            others = [
                j
                for j in self.journal.jobs([JobState.SUBMITTING])
                if j.technique == job.technique and j.id != job.id
            ]
            if others:
                self._resolve_together([job, *others], technique)
                job = self.journal.get(job.id)
            else:
                run = self._find_runs(job, technique, 1)
                if run:
                    job = self._adopt(job, run[0], "found in the run list")
                else:
                    job = self._create_or_find(job, technique)
            if job.state is not JobState.SUBMITTING:
                self.gate.mark_known(job.technique, job.id)
            return job

    def _create(self, job: Job) -> Job:
        assert job.idempotency_key is not None
        inputs = self._sign([RunInput(**i) for i in job.inputs])
        run = self.client.start_run(job.technique, inputs, idempotency_key=job.idempotency_key)
        return self._adopt(job, run, "created")

    def _create_or_find(self, job: Job, technique: Technique) -> Job:
        """Send the create again with the job's key (alone): created, or found after a 409."""
        try:
            return self._create(job)
        except IdempotencyDuplicateError:
            logger.bind(job=job.id).info("the run for this job already exists; looking it up")
        found = self._find_runs(job, technique, 1)
        if not found:
            self._not_listed_yet(job)
        return self._adopt(job, found[0], "found after idempotency duplicate")

    def _not_listed_yet(self, job: Job) -> None:
        waited = time.time() - (job.submit_started_at or time.time())
        if waited > _LOOKUP_GIVE_UP_SECONDS:
            raise RunUnknownError(
                "FLORA says this file's run was already started, but it could not be "
                "found in the run list.",
                hint="look for it in the FLORA app before retrying: a retry is a new, paid run",
            ) from None
        raise TransientError(
            "the run exists but is not listed yet; will look again", hint="nothing to do"
        ) from None

    def _resolve_together(self, jobs: list[Job], technique: Technique) -> None:
        """Several jobs of one technique whose answers were lost: pair them with the unclaimed
        runs in order, after finding out (by re-sending each create with its own key) which of
        them FLORA never created."""
        jobs.sort(key=lambda j: (j.submit_started_at or 0.0, j.id))
        oldest = jobs[0]
        runs = self._find_runs(oldest, technique, len(jobs))
        if len(runs) < len(jobs):
            existing = []
            for job in jobs:
                try:
                    self._create(job)  # 201: it had never been created
                except IdempotencyDuplicateError:
                    existing.append(job)
            jobs = existing
            runs = self._find_runs(oldest, technique, len(jobs)) if jobs else []
            if len(runs) < len(jobs):
                self._not_listed_yet(jobs[0])
        if len(jobs) > 1:
            logger.warning(
                "the answers to {} creates of {} were lost together; their runs are paired by "
                "FLORA's creation order: {}",
                len(jobs),
                technique.name or jobs[0].technique,
                ", ".join(f"{j.name} -> {r.run_id}" for j, r in zip(jobs, runs, strict=False)),
            )
        for job, run in zip(jobs, runs, strict=False):
            self._adopt(job, run, "found in the run list")

    def _adopt(self, job: Job, run: Run, how: str) -> Job:
        logger.bind(job=job.id).info("run {} {} for {}", run.run_id, how, job.name)
        if self.on_created is not None:
            self.on_created(job, run)
        return self.journal.transition(
            job.id,
            JobState.SUBMITTING,
            JobState.RUNNING,
            run_id=run.run_id,
            poll_url=run.poll_url,
            submitted_at=time.time(),
            progress=run.progress,
        )

    def _find_runs(self, job: Job, technique: Technique, wanted: int) -> list[Run]:
        """The ``wanted`` oldest runs of this technique created after the job's create was sent
        that no other job has claimed, oldest first."""
        since = (job.submit_started_at or 0.0) - _SKEW_SECONDS
        claimed = self.journal.known_run_ids()
        candidates: list[tuple[float, Run]] = []
        for run in self.client.iter_technique_runs(
            workspace_id=self.workspace_id, technique_id=technique.technique_id
        ):
            created = epoch_seconds(run.created_at)
            if created is not None and created < since:
                break  # newest first: everything after this is older
            if run.run_id not in claimed:
                candidates.append((created or 0.0, run))
        if len(candidates) > wanted:
            logger.bind(job=job.id).warning(
                "{} unclaimed runs of {} since this job was submitted; taking the oldest",
                len(candidates),
                job.technique,
            )
        candidates.sort(key=lambda c: c[0])
        return [run for _, run in candidates[:wanted]]
