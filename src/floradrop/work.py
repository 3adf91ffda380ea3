"""The work on one job, on the worker pools, and the one guard every worker and loop runs in.

A job is held by one worker at a time (:class:`Claims`: "one worker per job"): the scheduler
claims it before handing it to a pool, the guard releases it when the stage is over. Each stage
moves the job along its own edges of the state machine (:mod:`floradrop.jobs`); whatever it
raises is classified by :func:`floradrop.policy.classify` and carried out here, in one place.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from loguru import logger

from floradrop import money
from floradrop.advice import run_failure_hint
from floradrop.config import Config, FolderConfig, Rule
from floradrop.errors import FloradropError, JobError
from floradrop.flora.client import FloraClient
from floradrop.flora.models import Run, Technique
from floradrop.health import Health
from floradrop.hosting import Hosting
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal, StaleTransition, today
from floradrop.pipeline.fetch import FetchContext, fetch_outputs
from floradrop.pipeline.fileaway import Failure, file_done, file_failed
from floradrop.pipeline.submit import Submitter
from floradrop.pipeline.upload import UploadContext, build_inputs
from floradrop.policy import OUTPUT_STATES, Act, Backoff, Verdict, classify
from floradrop.status import Live
from floradrop.workflows import chains, review, schedule
from floradrop.workflows.actions import Actions


class Claims:
    """Which jobs a worker holds, and why it was handed them (thread-safe).

    One worker per job: :meth:`claim` succeeds for one caller until :meth:`release`. The
    scheduler claims; the worker's guard releases. Jobs handed out to be run (``queued``) count
    as runs in flight; jobs handed out to upload ahead of a free run slot are ``ahead``; waiting
    jobs whose inputs are uploaded already are ``uploaded_ahead``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._queued: set[int] = set()
        self._ahead: set[int] = set()
        self._uploaded_ahead: set[int] = set()

    def claim(self, job_id: int, *, to_run: bool = False, ahead: bool = False) -> bool:
        with self._lock:
            if job_id in self._held:
                return False
            self._held.add(job_id)
            if to_run:
                self._queued.add(job_id)
            if ahead:
                self._ahead.add(job_id)
        return True

    def holds(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._held

    def release(self, job_id: int) -> None:
        with self._lock:
            self._held.discard(job_id)
            self._queued.discard(job_id)
            self._ahead.discard(job_id)

    def uploaded_ahead(self, job_id: int, uploaded: bool) -> None:
        with self._lock:
            if uploaded:
                self._uploaded_ahead.add(job_id)
            else:
                self._uploaded_ahead.discard(job_id)

    def is_uploaded_ahead(self, job_id: int) -> bool:
        with self._lock:
            return job_id in self._uploaded_ahead

    def counts(self) -> tuple[int, int, int]:
        """(queued to run, uploading ahead, uploaded ahead and waiting for a run slot)."""
        with self._lock:
            return len(self._queued), len(self._ahead), len(self._uploaded_ahead)

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._held)


class Site(Protocol):
    """What the work needs from the engine that runs it (its current config, techniques …)."""

    config: Config
    journal: Journal
    live: Live
    health: Health
    hosting: Hosting
    techniques: dict[str, Technique]
    workspace_id: str
    schedule: schedule.ScheduleGate
    actions: Actions | None

    @property
    def client(self) -> FloraClient: ...

    @property
    def paused(self) -> bool: ...

    @property
    def stopping(self) -> threading.Event: ...

    @property
    def folders(self) -> dict[str, FolderConfig]: ...

    def changed(self) -> None: ...


class Work:
    """The stages a worker runs for one job, and the guard around each of them."""

    def __init__(self, site: Site, backoff: Backoff, claims: Claims) -> None:
        self.site = site
        self.backoff = backoff
        self.claims = claims
        self.submitter: Submitter | None = None
        self.fetches: ThreadPoolExecutor | None = None

    # -- the guard ----------------------------------------------------------------------------

    def guarded(self, job_id: int, task: Callable[[Job], None]) -> None:
        """Run one stage of one job (claimed by the caller), applying the error policy."""
        site = self.site
        if not self.claims.holds(job_id):  # one worker per job: only its claimant works on it
            logger.bind(job=job_id).error("bug: a job was handed to a worker unclaimed; left alone")
            return
        job: Job | None = None
        try:
            job = site.journal.get(job_id)
            if site.folders.get(job.folder) is None:
                return  # its folder left the config: kept in the journal, untouched
            task(job)
            self.forget(job_id, keep_progress=True)
            if job.state in OUTPUT_STATES and site.live.disk_problem:
                logger.info("outputs can be written again")
                site.live.disk_problem = None
        except Exception as exc:
            verdict = classify(exc, job, attempts=self.backoff.attempts(job_id))
            self.apply(verdict, job_id, job)
        finally:
            self.claims.release(job_id)
            site.changed()

    def apply(self, verdict: Verdict, job_id: int, job: Job | None) -> None:
        """Carry out what :func:`floradrop.policy.classify` decided about one job."""
        log = logger.bind(job=job_id)
        if verdict.say is not None:
            log.log(*verdict.say)
        if verdict.act is Act.NOTHING:
            log.debug("job moved on elsewhere")
        elif verdict.act is Act.CANCEL:
            self.cancel(job_id, verdict.message)
        elif verdict.act is Act.FAIL:
            assert verdict.failure is not None
            if verdict.bug:
                log.opt(exception=verdict.error).error("unexpected error")
            self.fail(job_id, verdict.failure)
        elif verdict.act is Act.DISK and job is not None:
            assert isinstance(verdict.error, OSError)
            self.disk_trouble(job, verdict.error)
        else:
            if verdict.act is Act.BLOCK:
                assert isinstance(verdict.error, FloradropError)
                self.site.health.block(verdict.error)
            elif verdict.act is Act.OFFLINE:
                assert isinstance(verdict.error, FloradropError)
                self.site.health.went_offline(verdict.error)
            self.back_off(job_id, verdict.base, verdict.message, quiet=verdict.quiet)

    def loop_error(self, exc: BaseException, where: str, level: str = "WARNING") -> None:
        """An error outside any job (polling, the scheduler, admission), by the same policy:
        the service's state is updated as for a job. The line ``where: message`` is logged at
        ``level`` for anything else, and always when ``level`` is ERROR (that loop's own
        failure matters: a file not admitted, a scheduler round lost)."""
        verdict = classify(exc, None)
        health = self.site.health
        logged = False
        if verdict.act is Act.BLOCK and isinstance(exc, FloradropError):
            health.block(exc)
        elif verdict.act is Act.OFFLINE and isinstance(exc, FloradropError):
            health.went_offline(exc)
        elif verdict.act is Act.CONFIG and isinstance(exc, FloradropError):
            self.site.live.config_problem = exc.message
            logger.error("{}", exc.describe())
            self.site.changed()
        else:
            logged = True
        if logged or level == "ERROR":  # (a traceback only for what is not one of ours: a bug)
            trace = exc if verdict.bug or not isinstance(exc, FloradropError) else None
            logger.opt(exception=trace).log(level, "{}: {}", where, verdict.message)

    def back_off(self, job_id: int, base: float, message: str, *, quiet: bool = False) -> None:
        delay = self.backoff.retry(job_id, base)
        with contextlib.suppress(StaleTransition, KeyError):
            self.site.journal.transition(job_id, JobState.UPLOADING, JobState.WAITING)
        self.site.live.last_error, self.site.live.last_error_job = message, job_id
        if not quiet:
            logger.bind(job=job_id).warning(
                "{}; trying again in {:.0f} s", message.rstrip("."), delay
            )

    def disk_trouble(self, job: Job, exc: OSError) -> None:
        """An output or its sidecar could not be written: try again later, never fail the job.

        The run is paid for; failing the job would make ``floradrop retry`` pay again. Whatever
        was half-written was a temporary file, removed or overwritten by the next attempt.
        """
        delay = self.backoff.disk(job.id)
        folder = self.site.folders.get(job.folder)
        where = Path(exc.filename).parent if isinstance(exc.filename, str) else None
        where = where or (folder.outputs if folder else None)
        message = f"cannot write outputs{f' to {where}' if where else ''}: {exc.strerror or exc}"
        live = self.site.live
        if live.disk_problem != message:
            logger.bind(job=job.id).error("{}; trying again in {:.0f} s", message, delay)
        live.disk_problem = message
        live.last_error, live.last_error_job = message, job.id

    def cancel(self, job_id: int, why: str) -> None:
        with contextlib.suppress(StaleTransition):
            self.site.journal.transition(
                job_id,
                [JobState.WAITING, JobState.UPLOADING, JobState.HELD],
                JobState.CANCELLED,
                note=why,
            )
            logger.bind(job=job_id).info("cancelled: {}", why)
        self.forget(job_id)

    def fail(self, job_id: int, failure: Failure) -> None:
        site = self.site
        job = site.journal.get(job_id)
        folder = site.folders.get(job.folder)
        if folder is None or job.state.terminal:
            return
        if site.actions is not None:
            site.actions.arm(job, folder, "failed")  # durable before the job fails
        job = file_failed(job, folder, site.journal, failure)
        chains.carry_sidecar(folder.path / job.rel_path, _filed(job))
        if site.actions is not None:
            site.actions.finished(job, folder)
        self.forget(job_id)

    def forget(self, job_id: int, *, keep_progress: bool = False) -> None:
        """A job that moved on loses its retry state and last error (a daemon runs for weeks)."""
        self.backoff.forget(job_id)
        live = self.site.live
        if live.last_error_job == job_id:
            live.last_error = live.last_error_job = None
        if not keep_progress:  # (a job that is finished, not one that moved on)
            live.progress.pop(job_id, None)
            self.claims.uploaded_ahead(job_id, False)

    # -- the stages ---------------------------------------------------------------------------

    def cost_of(self, job: Job) -> float:
        technique = self.site.techniques.get(job.technique)
        if technique is not None:
            return technique.run_cost
        return job.run_cost or 0.0

    def _rule(self, job: Job) -> tuple[FolderConfig, Rule, Technique]:
        folder = self.site.folders[job.folder]
        rules = folder.effective_rules()
        rule = rules[job.rule_index] if job.rule_index < len(rules) else None
        if rule is None or rule.technique != job.technique:
            rule = next((r for r in rules if r.technique == job.technique), None)
        technique = self.site.techniques.get(job.technique)
        if rule is None or technique is None:
            raise JobError(
                f"the rule for {job.technique} is no longer in the config",
                hint="restore the rule, or drop the file again",
            )
        return folder, rule, technique

    def upload(self, job: Job, ahead: bool = False) -> None:
        """WAITING -> UPLOADING -> SUBMITTING -> RUNNING (or back to WAITING when ``ahead``)."""
        site = self.site
        self.claims.uploaded_ahead(job.id, False)
        stopping = site.stopping.is_set
        if site.paused or stopping() or not site.health.can_work:
            return  # paused (or blocked) while queued: stays waiting
        started = money.start(site.journal, site.config, job, self.cost_of(job))
        if started is None:
            return  # held: it would pass a budget
        job = started
        folder, rule, technique = self._rule(job)
        assert self.submitter is not None
        ctx = UploadContext(site.client, site.journal, site.workspace_id, site.hosting)
        inputs, job = build_inputs(job, folder, rule, technique, ctx, should_stop=stopping)
        if ahead or site.paused or stopping():
            site.journal.transition(job.id, JobState.UPLOADING, JobState.WAITING)
            if ahead:
                self.claims.uploaded_ahead(job.id, True)  # its create waits for a run slot
            return
        if site.schedule.hold_if_closed(site.journal, site.config, folder, job):
            return  # uploaded; its run starts when the folder's window opens
        self.submitter.submit(job, inputs, technique)
        site.health.run_created()  # credits are there

    def resolve(self, job: Job) -> None:
        """SUBMITTING -> RUNNING: a create that may have happened is found (never paid twice)."""
        technique = self.site.techniques.get(job.technique)
        if technique is None:
            raise JobError(f"technique {job.technique} is not configured any more")
        assert self.submitter is not None
        self.submitter.resolve(job, technique)

    def finish_run(self, job: Job, run: Run) -> None:
        """A terminal run (from the polls): RUNNING -> FETCHING, or the job fails."""
        site = self.site
        site.live.progress.pop(job.id, None)
        cost = run.charged_cost
        if run.succeeded:
            if cost is None:
                cost = self.cost_of(job)  # charged_cost is eventually consistent: use the quote
            job = site.journal.transition(
                job.id,
                JobState.RUNNING,
                JobState.FETCHING,
                cost=cost,
                day=today(),
                completed_at=time.time(),
            )
            if self.claims.claim(job.id):
                assert self.fetches is not None
                self.fetches.submit(self.guarded, job.id, lambda j: self.fetch(j, run))
            return
        if cost is not None:  # 0 too: the report and `retry` then say nothing was charged
            job = site.journal.transition(job.id, JobState.RUNNING, cost=cost, day=today())
        if run.status == "completed":
            failure = Failure(
                "the run completed without outputs", "retry later with 'floradrop retry'"
            )
        else:
            failure = Failure(
                f"the run failed: {run.error_message or run.error_code or 'no reason given'}",
                run_failure_hint(run.error_code, run.error_message),
                run.error_code,
                run.error_message,
            )
        self.fail(job.id, failure)

    def fetch(self, job: Job, run: Run | None = None) -> None:
        """FETCHING -> FILING -> DONE: outputs written, the original filed away."""
        site = self.site
        folder, rule, _technique = self._rule(job)
        staging = review.staging_for(folder, site.config.folders)
        if job.state is JobState.FETCHING:
            if run is None:
                assert job.run_id is not None
                run = site.client.get_run(
                    job.run_id, technique=job.technique, poll_url=job.poll_url
                )
            ctx = FetchContext(
                site.client,
                site.journal,
                review.outputs_dir(folder),
                rule.technique,
                site.stopping.is_set,
                staging,
            )
            job = fetch_outputs(job, run, ctx)
        if site.actions is not None:
            site.actions.arm(job, folder, "done")  # durable before the job is done
        job = file_done(job, folder, site.journal, staging=staging)
        chains.carry_sidecar(folder.path / job.rel_path, _filed(job))
        if site.actions is not None:
            site.actions.finished(job, folder)
        logger.bind(job=job.id).info("done: {}", job.name)


def _filed(job: Job) -> Path | None:
    return Path(job.filed_path) if job.filed_path else None
