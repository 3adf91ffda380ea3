"""The engine: the daemon's lifecycle, its loops and the dispatch of jobs to the workers.

Threads (all named, stopped and joined in order by :meth:`Engine.stop`):

* the intake (``pipeline.watch`` / ``pipeline.settle``) reports settled files;
* ``floradrop-admit`` turns each into a journaled job (:mod:`floradrop.admitting`);
* ``floradrop-scheduler`` decides what runs next: it admits waiting jobs within the upload and
  run limits and budgets, starts the polls that are due, and probes the API offline or blocked
  (:mod:`floradrop.health`);
* ``floradrop-upload-*`` workers upload and submit, ``floradrop-fetch-*`` workers fetch and file
  away, ``floradrop-poll-*`` poll (:mod:`floradrop.work`).

Errors are decided in one place (:mod:`floradrop.policy`) and carried out by the one guard
every worker and loop runs in (``Work.guarded`` and ``Work.loop_error`` in :mod:`floradrop.work`).
Which thread owns which state: ``ARCHITECTURE.md``.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath

from loguru import logger

from floradrop import money
from floradrop.acknowledge import acknowledge
from floradrop.admitting import Admitter
from floradrop.config import Config, FolderConfig
from floradrop.errors import ConfigError, FloradropError
from floradrop.files import clean_temp_files
from floradrop.flora.client import FloraClient
from floradrop.flora.errors import NotFoundError
from floradrop.flora.models import Technique
from floradrop.health import Health
from floradrop.hosting import Hosting
from floradrop.jobs import ACTIVE_STATES, JobState
from floradrop.journal import Job, Journal
from floradrop.pipeline import bind, decide
from floradrop.pipeline.poll import Poller
from floradrop.pipeline.polling import PollHooks, RunPolling
from floradrop.pipeline.submit import Submitter
from floradrop.pipeline.watch import Intake, ReadyFile, WatchSpec
from floradrop.policy import Backoff
from floradrop.pools import full_pool
from floradrop.snapshot import build_snapshot, folder_problems, journal_path
from floradrop.status import Live, Snapshot
from floradrop.work import Claims, Work
from floradrop.workflows import chains, review, schedule
from floradrop.workflows.actions import Actions

_COALESCE_SECONDS = 0.02
POLLING_INTERVAL = 5.0  # seconds between looks at an `observer = "polling"` folder
LOOK_AHEAD = 16  # at most this many jobs (and max_concurrent_runs) uploaded ahead of their run


def _ignored(rel: PurePath, *, folder: FolderConfig) -> bool:
    return decide.ignore_reason(rel, folder) is not None


class Engine:
    """One daemon's worth of floradrop: watches, decides, runs, files away."""

    def __init__(
        self,
        config: Config,
        *,
        client: FloraClient,
        journal: Journal | None = None,
        client_factory: Callable[[], FloraClient] | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.config = config
        self.journal = journal or Journal(journal_path(config))
        self.log_file = log_file
        self.live = Live()
        self.health = Health(self.live, client, client_factory=client_factory, changed=self.changed)
        self.workspace_id = config.flora.workspace_id or ""
        self.techniques: dict[str, Technique] = {}
        self.connected = False
        self.service_installed: bool | None = None
        self.hosting = Hosting(config.daemon.state_dir, lambda: self.config.hosting)
        self.schedule = schedule.ScheduleGate()  # schedule windows (tests inject its clock)
        self.actions: Actions | None = None  # on_done / on_failed (made by start)
        self.on_change: Callable[[], None] | None = None
        self.cycles = 0  # scheduler iterations (lets tests wait for "a few rounds")
        self.backoff = Backoff()
        self.claims = Claims()
        self.work = Work(self, self.backoff, self.claims)
        self.admitter = Admitter(
            self.journal,
            folders=lambda: self.folders,
            duplicates=lambda: self.config.daemon.duplicates,
            run_costs=lambda: {k: t.run_cost for k, t in self.techniques.items()},
            forget=self._forget_file,
            changed=self.changed,
            on_error=self.work.loop_error,
        )
        self._paused = self.journal.paused
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._next_stray_scan = 0.0
        self._snapshot_cache: tuple[float, Snapshot] | None = None
        self._scheduler: threading.Thread | None = None
        self._intake: Intake | None = None
        self._uploads: ThreadPoolExecutor | None = None
        self._polls: ThreadPoolExecutor | None = None
        self._poller: Poller | None = None
        self._polling: RunPolling | None = None
        self._config_check: Callable[[], object] | None = None
        self._reviewer: review.Reviewer | None = None  # hold points (made by start)

    # -- what the rooms share -----------------------------------------------------------------

    @property
    def client(self) -> FloraClient:
        return self.health.client

    @property
    def folders(self) -> dict[str, FolderConfig]:
        return {str(f.path): f for f in self.config.folders}

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    @property
    def paused(self) -> bool:
        return self._paused

    def changed(self) -> None:
        """Something the status shows changed: wake the scheduler, tell the tray."""
        self._snapshot_cache = None
        self._wake.set()
        if self.on_change is not None:
            with contextlib.suppress(Exception):
                self.on_change()

    # -- set-up -------------------------------------------------------------------------------

    def connect(self) -> None:
        """Resolve the workspace and every rule's technique; validate rules against schemas.

        Raises ConfigError for a config that cannot work (unknown technique, input that cannot
        be bound, ambiguous workspace), the API's errors for a bad key, NetworkError offline.
        """
        if not self.workspace_id:
            workspaces = self.client.list_workspaces()
            if len(workspaces) != 1:
                names = ", ".join(f"{w.workspace_id} ({w.name})" for w in workspaces) or "none"
                raise ConfigError(
                    f"this API key has {len(workspaces)} workspaces: {names}.",
                    hint="set [flora] workspace_id in the config to the one runs should bill",
                )
            self.workspace_id = workspaces[0].workspace_id
        self.techniques = self._load_techniques(self.config)
        poller = self._poller = Poller(self.client, self.workspace_id)
        d = self.config.daemon
        work = self.work
        self._polling = RunPolling(
            poller,
            self.journal,
            PollHooks(work.finish_run, work.fail, self.live.progress.__setitem__,
                      functools.partial(work.loop_error, where="polling failed"), self.changed),
            interval=d.poll_interval_seconds,
            run_timeout_seconds=d.run_timeout_minutes * 60,
        )  # fmt: skip
        submitter = work.submitter = Submitter(
            self.client,
            self.journal,
            self.workspace_id,
            sign=self.hosting.sign_inputs,
            on_created=self._polling.on_created,
        )

        def use(client: FloraClient) -> None:
            submitter.client = poller.client = client

        self.health.on_client(use)
        self.connected = True  # (back online: the probe that called this says so)

    def _load_techniques(self, config: Config) -> dict[str, Technique]:
        wanted = {r.technique for f in config.folders for r in f.effective_rules()}
        present: dict[str, Technique] = {}
        for slug in sorted(wanted):
            known = self.techniques.get(slug)
            if known is not None:
                present[slug] = known
                continue
            with contextlib.suppress(NotFoundError):  # validate_rules reports unknown slugs
                present[slug] = self.client.get_technique(slug)
        problems: list[ConfigError] = []
        for folder in config.folders:
            problems.extend(bind.validate_rules(folder, present))
        if problems:
            raise ConfigError(
                "the config does not fit the techniques:\n" + bind.problem_lines(problems),
                hint="fix the rules in "
                + (str(config.source) if config.source else "the config")
                + " ('floradrop techniques show SLUG' lists a technique's inputs)",
            )
        return present

    def _prepare_folders(self) -> None:
        problems = folder_problems(self.config)
        if problems:
            raise ConfigError(
                "folders that cannot be used:\n" + bind.problem_lines(problems),
                hint="fix the folders in " + str(self.config.source or "the config"),
            )
        for folder in self.config.folders:
            for directory in _folders_of(folder):
                try:
                    directory.mkdir(exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"the folder {directory} cannot be created: {exc.strerror or exc}.",
                        hint="check its parent folder's permissions, or fix the path in "
                        + str(self.config.source or "the config"),
                    ) from None
                clean_temp_files(directory)
            clean_temp_files(chains.staging_dir(folder, self.config.folders) or folder.outputs)

    def _watch_specs(self) -> list[WatchSpec]:
        specs = []
        for folder in self.config.folders:
            polling = folder.observer == "polling"
            specs.append(
                WatchSpec(
                    key=str(folder.path),
                    path=folder.path,
                    recursive=folder.recursive,
                    polling=polling,
                    # A network share is seen only every polling interval: a file must stay
                    # unchanged across two polls before it counts as written.
                    settle_seconds=max(self.config.daemon.settle_seconds, 2 * POLLING_INTERVAL)
                    if polling
                    else None,
                    exclude=_folders_of(folder)[1:],
                    is_ignored=functools.partial(_ignored, folder=folder),
                )
            )
        return specs

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start every thread. :meth:`connect` may have failed offline: the scheduler retries."""
        self._prepare_folders()
        self._recover()
        self.actions = Actions(self.journal.path, on_problem=self._action_problem)
        self.actions.recover(self.journal.get)  # (armed before a crash, their job finished)
        self.actions.start()
        self._reviewer = review.Reviewer(
            lambda: self.config.folders, on_problem=self._action_problem
        )
        self._reviewer.start()
        d = self.config.daemon
        self._uploads = full_pool(d.max_concurrent_uploads, "floradrop-upload")
        self.work.fetches = full_pool(max(2, d.max_concurrent_uploads), "floradrop-fetch")
        self._polls = full_pool(2, "floradrop-poll")  # threads from the start: a flat count
        self.admitter.start()
        self._scheduler = threading.Thread(
            target=self._schedule_loop, name="floradrop-scheduler", daemon=True
        )
        self._scheduler.start()
        self._intake = Intake(
            self._watch_specs(),
            self._on_ready,
            settle_seconds=d.settle_seconds,
            rescan_seconds=d.rescan_seconds,
            polling_interval=POLLING_INTERVAL,
            on_problem=self._on_intake_problem,
        )
        self._intake.start()
        logger.info(
            "watching {} folder(s); {} job(s) to resume",
            len(self.config.folders),
            self._unfinished(),
        )

    def _recover(self) -> None:
        """Jobs a previous process left mid-way resume from their last durable state."""
        for job in self.journal.jobs([JobState.UPLOADING]):
            self.journal.transition(job.id, JobState.UPLOADING, JobState.WAITING)
        resumed = self.journal.jobs(ACTIVE_STATES)
        if resumed:
            logger.info("resuming {} job(s) from the journal", len(resumed))

    def stop(self, timeout: float = 20.0) -> None:
        """Stop intake, let workers finish what they are writing, persist, join every thread."""
        if self._stop.is_set():
            return
        self._stop.set()
        self._wake.set()
        # The scheduler first (it may be reconfiguring the intake after a config edit), then
        # the intake it would reconfigure, then the workers.
        self.admitter.stop(timeout)
        if self._scheduler is not None:
            self._scheduler.join(timeout)
        if self._intake is not None:
            self._intake.stop()
        for pool in (self._uploads, self.work.fetches, self._polls):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if self.actions is not None:
            self.actions.stop()
        if self._reviewer is not None:
            self._reviewer.stop()
        logger.info("stopped; {} job(s) will resume at the next start", self._unfinished())

    def _action_problem(self, message: str) -> None:
        self.live.last_error, self.live.last_error_job = f"action: {message}", None
        self.changed()

    def _unfinished(self) -> int:
        return sum(1 for _ in self.journal.jobs([s for s in JobState if not s.terminal]))

    # -- control (tray, CLI, dashboard) -------------------------------------------------------

    def pause(self) -> None:
        self.journal.set_paused(True)
        self._paused = True
        logger.info("paused: no new uploads or runs; running ones finish")
        self.changed()

    def resume(self) -> None:
        self.journal.set_paused(False)
        self._paused = False
        self.health.recheck_now()
        logger.info("resumed")
        self.changed()

    def request_rescan(self) -> None:
        if self._intake is not None:
            self._intake.rescan()

    def set_config_check(self, check: Callable[[], object]) -> None:
        """A callable the scheduler runs every few seconds (the config file watcher)."""
        self._config_check = check

    def apply_config(self, config: Config) -> None:
        """Hot reload: validate against the API, then swap; a bad config keeps the old one."""
        if self._stop.is_set():
            return
        try:
            techniques = self._load_techniques(config) if self.connected else {}
        except FloradropError as exc:
            self.live.config_problem = f"config not applied: {exc.message}"
            logger.error("{}", exc.describe())
            self.changed()
            return
        for folder in config.folders:
            for directory in _folders_of(folder):
                with contextlib.suppress(OSError):
                    directory.mkdir(exist_ok=True)
        self.config = config
        if techniques:
            self.techniques = techniques
        self.live.config_problem = None
        if self._intake is not None:
            self._intake.update_specs(self._watch_specs())
        logger.info("config reloaded from {}", config.source)
        self.changed()

    def retry(self, path: Path) -> str:
        """Ask for a deliberate re-run of ``path`` (see ``floradrop retry``)."""
        from floradrop.retry import request_retry

        message = request_retry(self.config, self.journal, path)
        self._forget_file(path)
        self.request_rescan()
        return message

    def answer(self, verb: str, targets: list[str]) -> money.Answer:
        """``approve`` or ``cancel`` held jobs (tray, CLI, dashboard); wakes the scheduler."""
        act = money.approve if verb == "approve" else money.cancel
        answer = act(self.journal, self.config, targets)
        self.changed()
        return answer

    def acknowledge(self) -> None:
        """Past failures and the last error need no more attention (``floradrop ack``)."""
        acknowledge(self.journal)
        self.live.last_error = self.live.last_error_job = None
        self.changed()

    def snapshot(self) -> Snapshot:
        now = time.monotonic()
        cached = self._snapshot_cache
        if cached is not None and now - cached[0] < 0.2:
            return cached[1]
        snap = build_snapshot(
            self.config,
            self.journal,
            live=self.live,
            daemon_running=True,
            log_file=self.log_file,
            service_installed=self.service_installed,
            clock=self.schedule.clock,
            notices=tuple(self.actions.notices) if self.actions is not None else (),
        )
        self._snapshot_cache = (now, snap)
        return snap

    def idle(self) -> bool:
        """Nothing left that can make progress (used by ``run --once``)."""
        if self.admitter.busy or self.claims.busy:
            return False
        if self._intake is not None and self._intake.pending:
            return False
        waiting = self.journal.jobs(
            [s for s in JobState if not s.terminal and s is not JobState.HELD]
        )
        if not waiting:
            return True
        return self.live.blocked is not None

    # -- intake -------------------------------------------------------------------------------

    def _on_ready(self, ready: ReadyFile) -> None:
        self.admitter.put(ready)

    def _on_intake_problem(self, message: str, path: Path | None) -> None:
        logger.warning("{}{}", message, f" ({path})" if path else "")

    def _forget_file(self, path: Path) -> None:
        if self._intake is not None:
            self._intake.forget(path)

    # -- scheduling ---------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        next_config_check = 0.0
        while not self._stop.is_set():
            due = self._polling.wake_at() if self._polling is not None else None
            self._wake.wait(min(0.25, max(0.0, due - time.monotonic())) if due else 0.25)
            # Let a burst of changes (500 files settling at once) become one round, not 500.
            if self._stop.wait(_COALESCE_SECONDS):
                return
            self._wake.clear()
            self.cycles += 1
            try:
                now = time.monotonic()
                if self.health.woke_up(now):
                    self.request_rescan()  # folder events may have been lost meanwhile
                if self._config_check is not None and now >= next_config_check:
                    next_config_check = now + 2.0
                    self._config_check()
                probe = not self.connected or not self.health.can_work
                if probe and self.health.probe(now, connected=self.connected, connect=self.connect):
                    self.backoff.go_now()  # jobs that backed off for the network go now
                if self.connected:
                    self._dispatch(now)
            except Exception as exc:
                self.work.loop_error(exc, "scheduler error", "ERROR")
                self._stop.wait(1.0)

    def _claim(self, job: Job, now: float, *, to_run: bool = False, ahead: bool = False) -> bool:
        """One worker per job: a job backing off, or held by a worker, is not handed out."""
        if not self.backoff.ready(job.id, now):
            return False
        return self.claims.claim(job.id, to_run=to_run, ahead=ahead)

    def _dispatch(self, now: float) -> None:
        d = self.config.daemon
        work, live = self.work, self.live
        counts: dict[str, int] = {}
        for per_folder in self.journal.counts().values():
            for state, n in per_folder.items():
                counts[state] = counts.get(state, 0) + n

        def count(*states: JobState) -> int:
            return sum(counts.get(s.value, 0) for s in states)

        # Jobs no worker holds (after a restart, or backing off): at most once a second.
        # Runs whose create may have happened are resolved first (never pay twice).
        # Not while offline: each would fail and back off longer (the probe says when).
        scan = now >= self._next_stray_scan and not live.offline
        if scan:
            self._next_stray_scan = now + 1.0
        # Not while blocked: with a rejected key or no credits each would be refused again.
        stray = scan and count(JobState.SUBMITTING) > 0 and live.blocked is None
        for job in self.journal.jobs([JobState.SUBMITTING]) if stray else ():
            if self._claim(job, now):
                assert self._uploads is not None
                self._uploads.submit(work.guarded, job.id, work.resolve)
        # Fetch what is complete (after a restart: whatever was mid-fetch).
        stray = scan and count(JobState.FETCHING, JobState.FILING) > 0
        for job in self.journal.jobs([JobState.FETCHING, JobState.FILING]) if stray else ():
            if self._claim(job, now):
                assert work.fetches is not None
                work.fetches.submit(work.guarded, job.id, work.fetch)
        # Poll the runs that are due (pipeline/polling.py). Not with a rejected key: it would
        # only get 401s until the key's re-check.
        if self._polling is not None and not live.offline and not self.health.key_rejected:
            assert self._polls is not None
            self._polling.dispatch(now, count(JobState.RUNNING), self._polls)
        # New work, within the limits.
        if self._paused or not self.health.can_work:
            return
        if count(JobState.HELD):
            self.schedule.release(self.journal, self.config)
            money.release_holds(self.journal, self.config, work.cost_of)
        if counts.get(JobState.WAITING.value):
            incoming = self.admitter.incoming
            incoming += self._intake.pending if self._intake is not None else 0
            money.review(self.journal, self.config, work.cost_of, incoming=incoming)
        # Up to twice the upload workers are handed jobs, so a worker that finishes starts the
        # next one at once; the pool's size still bounds the uploads under way. Jobs handed
        # out to be run (queued) count as runs in flight; beyond the free run slots, the next
        # few jobs are uploaded ahead, so that a freed slot only waits for a create.
        queued, ahead, uploaded_ahead = self.claims.counts()
        in_flight = count(JobState.SUBMITTING, JobState.RUNNING) + queued
        free = min(2 * d.max_concurrent_uploads - queued - ahead, d.max_concurrent_runs - in_flight)
        look = min(d.max_concurrent_runs, LOOK_AHEAD) - ahead - uploaded_ahead
        if self.health.trial:
            free, look = min(free, 1 - queued - count(JobState.SUBMITTING)), 0
        if (free <= 0 and look <= 0) or not counts.get(JobState.WAITING.value):
            return
        limit = max(free, 0) + look + len(self.backoff) + 8
        for job in self.journal.startable(limit=limit):
            if job.approval is None:
                continue  # the big-drop guard waits for the rest of its burst
            if free <= 0:
                if look > 0 and self.claims.counts()[1] < d.max_concurrent_uploads - queued:
                    look -= self._upload_ahead(job, now)
                continue
            hold = money.budget_hold(self.journal, self.config, job, work.cost_of(job))
            if hold is not None:
                money.hold(self.journal, job, hold)
                self.changed()
                continue
            if not self._claim(job, now, to_run=True):
                continue
            free -= 1
            assert self._uploads is not None
            self._uploads.submit(work.guarded, job.id, work.upload)

    def _upload_ahead(self, job: Job, now: float) -> bool:
        if self.claims.is_uploaded_ahead(job.id):
            return False
        hold = money.budget_hold(self.journal, self.config, job, self.work.cost_of(job))
        if hold is not None or not self._claim(job, now, ahead=True):
            return False  # (a run that would not fit a budget is not uploaded either)
        assert self._uploads is not None
        self._uploads.submit(self.work.guarded, job.id, lambda j: self.work.upload(j, True))
        return True


def _folders_of(folder: FolderConfig) -> tuple[Path, ...]:
    """The inbox, then every folder floradrop writes for it."""
    return (
        folder.path,
        folder.outputs,
        folder.done,
        folder.failed,
        *review.folders_to_create(folder),
    )
