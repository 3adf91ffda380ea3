"""The engine: runs the pipeline stages on named threads and owns the error policy.

Threads (all named, stopped and joined in order by :meth:`Engine.stop`):

* the intake (``pipeline.watch`` / ``pipeline.settle``) reports settled files;
* ``floradrop-admit`` turns each into a journaled job (``pipeline.admit``);
* ``floradrop-scheduler`` decides what runs next: it admits waiting jobs within the upload and
  run limits and budgets, starts the polls that are due, and probes the API offline or blocked;
* ``floradrop-upload-*`` workers upload and submit, ``floradrop-fetch-*`` workers fetch and file
  away, ``floradrop-poll`` polls.

Error policy, at the worker boundary (GUIDE.md): transient errors back off and keep the job
queued; losing the network pauses intake until a probe succeeds; a rejected key or exhausted
credits pause submission until fixed; a per-job error sends the file to the failed folder with
a report. No job is ever marked failed because of the network, the key or the credits.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath

from loguru import logger

from floradrop import money
from floradrop.acknowledge import acknowledge, acknowledged_at
from floradrop.advice import run_failure_hint
from floradrop.config import Config, FolderConfig, Rule
from floradrop.errors import ConfigError, FatalError, FloradropError, JobError, TransientError
from floradrop.files import clean_temp_files
from floradrop.flora.client import FloraClient
from floradrop.flora.errors import (
    AuthenticationError,
    InsufficientCreditsError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from floradrop.flora.models import Run, Technique
from floradrop.hosting import Hosting
from floradrop.journal import Job, Journal, StaleTransition, start_of_today, today
from floradrop.pipeline import bind, decide
from floradrop.pipeline.admit import Outcome, admit
from floradrop.pipeline.fetch import FetchContext, fetch_outputs
from floradrop.pipeline.fileaway import Failure, file_done, file_duplicate, file_failed
from floradrop.pipeline.poll import Poller
from floradrop.pipeline.polling import PollHooks, RunPolling
from floradrop.pipeline.submit import Submitter
from floradrop.pipeline.upload import (
    Interrupted,
    NotSettled,
    SidecarNotYet,
    SourceGone,
    UploadContext,
    build_inputs,
)
from floradrop.pipeline.watch import Intake, ReadyFile, WatchSpec
from floradrop.pools import full_pool
from floradrop.status import (
    ACTIVE_STATES,
    Attention,
    AttentionKind,
    FolderStatus,
    JobState,
    Notice,
    RecentItem,
    Snapshot,
)
from floradrop.workflows import chains, review, schedule
from floradrop.workflows.actions import Actions

JOURNAL_NAME = "journal.sqlite3"
SIDECAR_WAIT_SECONDS = 30.0  # how long a file waits for its sidecar (e.g. photo.txt) to arrive
FAILED_ATTENTION_SECONDS = 3600.0  # a failure keeps the icon in "needs attention" this long
_MAX_FETCH_ATTEMPTS = 8
# Outputs that cannot be written (disk full, permissions) are tried again this often, doubling
# up to the cap, for as long as it takes: their run is paid, so the job is never failed for it.
_DISK_RETRY_SECONDS = 10.0
_DISK_RETRY_MAX_SECONDS = 60.0
_COALESCE_SECONDS = 0.02
# The wall clock ran this much ahead of the monotonic one between two scheduler rounds: the
# machine slept (monotonic clocks stop during suspend on Linux and macOS), and folder events
# may have been lost, so every folder is rescanned at once (or the clock was set: harmless).
SLEEP_JUMP_SECONDS = 30.0
POLLING_INTERVAL = 5.0  # seconds between looks at an `observer = "polling"` folder
# Offline, the API is tried again after 2 s, doubling up to this (so work resumes at most
# this long, plus one request's retries, after FLORA is back).
OFFLINE_PROBE_MAX_SECONDS = 10.0
LOOK_AHEAD = 16  # at most this many jobs (and max_concurrent_runs) uploaded ahead of their run
# Blocked, the daemon checks by itself whether the problem was fixed: a rejected key is
# re-read and tried this often, and one run is tried this often after credits ran out.
AUTH_RECHECK_SECONDS = 30.0
CREDITS_RECHECK_SECONDS = 60.0

_OUTPUT_STATES = frozenset({JobState.FETCHING, JobState.FILING})


def _ignored(rel: PurePath, *, folder: FolderConfig) -> bool:
    return decide.ignore_reason(rel, folder) is not None


def _filed(job: Job) -> Path | None:
    return Path(job.filed_path) if job.filed_path else None


def journal_path(config: Config) -> Path:
    return config.daemon.state_dir / JOURNAL_NAME


def folder_problems(config: Config) -> list[ConfigError]:
    """Folders of ``config`` that cannot be used: a file where a folder should be, or a folder
    whose parent does not exist. Only looks (``check`` shows them; ``run`` refuses to start)."""
    where = str(config.source) if config.source else "the config"
    problems = []
    for index, folder in enumerate(config.folders):
        for name in ("path", "outputs", "done", "failed"):
            directory: Path = getattr(folder, name)
            key = f"folders[{index}].{name}"
            if directory.exists() and not directory.is_dir():
                problems.append(
                    ConfigError(
                        f"{where}: {key}: {directory} is a file, not a folder.",
                        hint=f"move that file away, or set {key} to a folder",
                    )
                )
            elif not directory.exists() and not directory.parent.is_dir():
                problems.append(
                    ConfigError(
                        f"{where}: {key}: the folder {directory} cannot be created: "
                        f"{directory.parent} does not exist.",
                        hint=f"create {directory.parent}, or fix {key} in {where}",
                    )
                )
    return problems


@dataclass
class Live:
    """What only a running engine knows (the rest of the status comes from the journal)."""

    offline: bool = False
    blocked: Attention | None = None
    config_problem: str | None = None
    disk_problem: str | None = None  # outputs cannot be written; cleared by the next success
    last_error: str | None = None
    last_error_job: int | None = None  # the job the last error is about: cleared when it moves on
    progress: dict[int, float] = field(default_factory=dict)
    tray_warning: str | None = None


def build_snapshot(
    config: Config,
    journal: Journal,
    *,
    live: Live | None = None,
    daemon_running: bool = False,
    log_file: Path | None = None,
    service_installed: bool | None = None,
    clock: Callable[[], datetime] | None = None,
    notices: tuple[Notice, ...] = (),
) -> Snapshot:
    """The status snapshot, from the journal plus (when the daemon runs) its live state."""
    counts = journal.counts()
    live = live or Live()
    progress_by_folder: dict[str, list[float]] = {}
    if live.progress:
        for job in journal.jobs([JobState.RUNNING]):
            progress_by_folder.setdefault(job.folder, []).append(
                live.progress.get(job.id, job.progress)
            )
    flows = chains.flows(config.folders)
    in_review = review.waiting(config.folders)
    windows = schedule.folder_statuses(config, journal, (clock or datetime.now)())
    folders = tuple(
        FolderStatus(
            name=f.name,
            path=f.path,
            outputs=f.outputs,
            done=f.done,
            failed=f.failed,
            technique=", ".join(dict.fromkeys(r.technique for r in f.effective_rules())),
            counts=dict(counts.get(str(f.path), {})),
            progress=tuple(progress_by_folder.get(str(f.path), ())),
            paused=str(f.path) in journal.paused_folders,  # on its own (the dashboard)
            transfer=f.transfer,
            links=f.links,
            flow=flows.get(f.path, ()),
            schedule=windows.get(str(f.path)),
            review=in_review.get(f.path),
            review_folder=f.review_folder if f.review else None,
        )
        for f in config.folders
    )

    def total(states: Iterable[JobState]) -> int:
        return sum(c.get(s.value, 0) for c in counts.values() for s in states)

    midnight = start_of_today()
    failed_today = journal.finished_since(midnight, JobState.FAILED)
    scheduled = sum(w.held for w in windows.values())
    held = total([JobState.HELD]) - scheduled
    spending, questions, budget_held = money.status(config, journal)
    attention = live.blocked
    if attention is None and live.offline:
        attention = Attention(
            AttentionKind.OFFLINE,
            "FLORA cannot be reached; work resumes by itself when it can.",
            "check the network connection",
        )
    if attention is None and live.disk_problem:
        attention = Attention(
            AttentionKind.DISK,
            live.disk_problem,
            "free some disk space (or fix the folder's permissions); the outputs are written "
            "as soon as they fit, without a new run",
        )
    if attention is None and live.config_problem:
        attention = Attention(AttentionKind.CONFIG, live.config_problem, "fix the config file")
    if attention is None and questions:
        attention = money.question_attention(questions)
    if attention is None and budget_held:
        attention = Attention(
            AttentionKind.BUDGET,
            f"{budget_held} file(s) wait for budget.",
            "raise daily_budget_usd / budget_usd in the config, or wait until tomorrow",
        )
    recent_failures = tuple(
        RecentItem(
            Path(j.report_path or j.source_path), f"{j.name}: {j.error_message}", j.finished_at or 0
        )
        for j in journal.jobs([JobState.FAILED], limit=10, newest_first=True)
    )
    since = max(time.time() - FAILED_ATTENTION_SECONDS, acknowledged_at(journal))
    if attention is None and recent_failures and recent_failures[0].at > since:
        attention = Attention(
            AttentionKind.FAILED_JOB,
            f"{failed_today or 1} file(s) failed; see the failed folder.",
            "open the error report next to the file",
        )
    results: list[RecentItem] = []
    for job in journal.jobs([JobState.DONE], limit=10, newest_first=True):
        for output in job.outputs:
            if output.get("path"):
                results.append(
                    RecentItem(
                        Path(output["path"]), Path(output["path"]).name, job.finished_at or 0
                    )
                )
    return Snapshot(
        paused=journal.paused,
        daemon_running=daemon_running,
        folders=folders,
        running=total(ACTIVE_STATES),
        queued=total([JobState.WAITING]),
        held=held,
        scheduled=scheduled,
        notices=notices,
        done_today=journal.finished_since(midnight, JobState.DONE),
        failed_today=failed_today,
        spend_today_usd=journal.spend(today()),
        money=spending,
        questions=questions,
        offline=live.offline,
        attention=attention,
        recent_results=tuple(results[:10]),
        recent_failures=recent_failures,
        last_error=live.last_error,
        tray_warning=live.tray_warning,
        config_file=config.source,
        log_file=log_file,
        service_installed=service_installed,
    )


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
        self.client = client
        self.journal = journal or Journal(journal_path(config))
        self._client_factory = client_factory
        self.log_file = log_file
        self.live = Live()
        self.workspace_id = config.flora.workspace_id or ""
        self.techniques: dict[str, Technique] = {}
        self.connected = False
        self.service_installed: bool | None = None
        self.hosting = Hosting(config.daemon.state_dir, lambda: self.config.hosting)

        self._paused = self.journal.paused
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._ready: queue.Queue[ReadyFile | None] = queue.Queue()
        self._admitting = False
        # Files that may be sidecars whose main file has not arrived: (due, file), in order.
        self._deferred: deque[tuple[float, ReadyFile]] = deque()
        self._first_seen: dict[Path, float] = {}
        self._inflight: set[int] = set()
        self._queued: set[int] = set()  # jobs handed to an upload worker to be run
        self._ahead: set[int] = set()  # jobs handed to an upload worker to upload ahead
        self._uploaded_ahead: set[int] = set()  # waiting jobs whose inputs are uploaded
        self._said: set[tuple[str, str, str]] = set()  # "leaving alone" kinds already logged
        self._inflight_lock = threading.Lock()
        self._not_before: dict[int, float] = {}
        self._attempts: dict[int, int] = {}
        self._next_stray_scan = 0.0
        self._next_probe = 0.0
        self._probe_delay = 2.0
        self.auth_recheck_seconds = AUTH_RECHECK_SECONDS  # tests may shorten these two
        self.credits_recheck_seconds = CREDITS_RECHECK_SECONDS
        self._trial = False  # after a credits block: let one job through before the rest
        self._snapshot_cache: tuple[float, Snapshot] | None = None
        self._threads: list[threading.Thread] = []
        self._intake: Intake | None = None
        self._uploads: ThreadPoolExecutor | None = None
        self._fetches: ThreadPoolExecutor | None = None
        self._polls: ThreadPoolExecutor | None = None
        self._submitter: Submitter | None = None
        self._poller: Poller | None = None
        self._polling: RunPolling | None = None
        self._config_check: Callable[[], object] | None = None
        self.on_change: Callable[[], None] | None = None
        self.cycles = 0  # scheduler iterations (lets tests wait for "a few rounds")
        self._wall_clock: Callable[[], float] = time.time  # tests jump it to fake a wake-up
        self._clocks: tuple[float, float] | None = None  # (wall, monotonic) at the last round
        self.schedule = schedule.ScheduleGate()  # schedule windows (tests inject its clock)
        self.actions: Actions | None = None  # on_done / on_failed (made by start)
        self._reviewer: review.Reviewer | None = None  # hold points (made by start)

    # -- set-up -------------------------------------------------------------------------------

    @property
    def folders(self) -> dict[str, FolderConfig]:
        return {str(f.path): f for f in self.config.folders}

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
        self._poller = Poller(self.client, self.workspace_id)
        d = self.config.daemon
        self._polling = RunPolling(
            self._poller,
            self.journal,
            PollHooks(self._finish_run, self._fail, self.live.progress.__setitem__,
                      self._poll_failed, self._changed),
            interval=d.poll_interval_seconds,
            run_timeout_seconds=d.run_timeout_minutes * 60,
        )  # fmt: skip
        self._submitter = Submitter(
            self.client,
            self.journal,
            self.workspace_id,
            sign=self.hosting.sign_inputs,
            on_created=self._polling.on_created,
        )
        self.connected = True
        self.live.offline = False

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
            for directory in (
                folder.path,
                folder.outputs,
                folder.done,
                folder.failed,
                *review.folders_to_create(folder),
            ):
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
            specs.append(
                WatchSpec(
                    key=str(folder.path),
                    path=folder.path,
                    recursive=folder.recursive,
                    polling=folder.observer == "polling",
                    # A network share is seen only every polling interval: a file must stay
                    # unchanged across two polls before it counts as written.
                    settle_seconds=max(self.config.daemon.settle_seconds, 2 * POLLING_INTERVAL)
                    if folder.observer == "polling"
                    else None,
                    exclude=(
                        folder.outputs,
                        folder.done,
                        folder.failed,
                        *review.folders_to_create(folder),
                    ),
                    is_ignored=functools.partial(_ignored, folder=folder),
                )
            )
        return specs

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
        self._fetches = full_pool(max(2, d.max_concurrent_uploads), "floradrop-fetch")
        self._polls = full_pool(2, "floradrop-poll")  # threads from the start: a flat count
        for name, target in (
            ("floradrop-admit", self._admit_loop),
            ("floradrop-scheduler", self._schedule_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
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
        self._ready.put(None)
        # The scheduler first (it may be reconfiguring the intake after a config edit), then
        # the intake it would reconfigure, then the workers.
        for thread in self._threads:
            thread.join(timeout)
        if self._intake is not None:
            self._intake.stop()
        for pool in (self._uploads, self._fetches, self._polls):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if self.actions is not None:
            self.actions.stop()
        if self._reviewer is not None:
            self._reviewer.stop()
        logger.info("stopped; {} job(s) will resume at the next start", self._unfinished())

    def _action_problem(self, message: str) -> None:
        self.live.last_error, self.live.last_error_job = f"action: {message}", None
        self._changed()

    def _unfinished(self) -> int:
        return sum(1 for _ in self.journal.jobs([s for s in JobState if not s.terminal]))

    # -- control (tray, CLI) ------------------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self.journal.set_paused(True)
        self._paused = True
        logger.info("paused: no new uploads or runs; running ones finish")
        self._changed()

    def resume(self) -> None:
        self.journal.set_paused(False)
        self._paused = False
        if self.live.blocked is not None:
            logger.info("resume: trying again after '{}'", self.live.blocked.message)
            self._next_probe = 0.0  # the next round re-reads the key and probes at once
        logger.info("resumed")
        self._changed()

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
            self._changed()
            return
        for folder in config.folders:
            for directory in (
                folder.path,
                folder.outputs,
                folder.done,
                folder.failed,
                *review.folders_to_create(folder),
            ):
                with contextlib.suppress(OSError):
                    directory.mkdir(exist_ok=True)
        self.config = config
        if techniques:
            self.techniques = techniques
        self.live.config_problem = None
        if self._intake is not None:
            self._intake.update_specs(self._watch_specs())
        logger.info("config reloaded from {}", config.source)
        self._changed()

    def retry(self, path: Path) -> str:
        """Ask for a deliberate re-run of ``path`` (see ``floradrop retry``)."""
        from floradrop.retry import request_retry

        message = request_retry(self.config, self.journal, path)
        if self._intake is not None:
            self._intake.forget(path)
        self.request_rescan()
        return message

    def answer(self, verb: str, targets: list[str]) -> money.Answer:
        """``approve`` or ``cancel`` held jobs (tray, CLI, dashboard); wakes the scheduler."""
        act = money.approve if verb == "approve" else money.cancel
        answer = act(self.journal, self.config, targets)
        self._changed()
        return answer

    def acknowledge(self) -> None:
        """Past failures and the last error need no more attention (``floradrop ack``)."""
        acknowledge(self.journal)
        self.live.last_error = self.live.last_error_job = None
        self._changed()

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

    def _changed(self) -> None:
        self._snapshot_cache = None
        self._wake.set()
        if self.on_change is not None:
            with contextlib.suppress(Exception):
                self.on_change()

    def idle(self) -> bool:
        """Nothing left that can make progress (used by ``run --once``)."""
        if not self._ready.empty() or self._admitting or self._deferred:
            return False
        if self._intake is not None and self._intake.pending:
            return False
        if self._inflight:
            return False
        waiting = self.journal.jobs(
            [s for s in JobState if not s.terminal and s is not JobState.HELD]
        )
        if not waiting:
            return True
        return self.live.blocked is not None

    # -- intake and admission -------------------------------------------------------------------

    def _on_ready(self, ready: ReadyFile) -> None:
        self._ready.put(ready)

    def _on_intake_problem(self, message: str, path: Path | None) -> None:
        logger.warning("{}{}", message, f" ({path})" if path else "")

    def _admit_loop(self) -> None:
        while not self._stop.is_set():
            timeout = None
            if self._deferred:
                timeout = max(0.0, self._deferred[0][0] - time.monotonic())
            try:
                item = self._ready.get(timeout=timeout)
            except queue.Empty:
                _due, item = self._deferred.popleft()
            if item is None:
                return
            self._admitting = True
            try:
                self._admit(item)
            except Exception as exc:  # e.g. the journal's disk is full
                logger.opt(exception=exc).error(
                    "could not admit {}; it is looked at again at the next rescan", item.path
                )
                if self._intake is not None:
                    self._intake.forget(item.path)
            finally:
                self._admitting = False

    def _admit(self, ready: ReadyFile) -> None:
        folder = self.folders.get(ready.key)
        if folder is None:
            return
        now = time.monotonic()
        try:
            result = admit(
                ready.path,
                ready.size,
                ready.mtime_ns,
                folder,
                journal=self.journal,
                duplicates=self.config.daemon.duplicates,
                run_costs={k: t.run_cost for k, t in self.techniques.items()},
                hold_sidecars=now - self._first_seen.setdefault(ready.path, now)
                < SIDECAR_WAIT_SECONDS,
            )
        except FileNotFoundError:
            logger.debug("{} vanished before it was admitted", ready.path.name)
            self._first_seen.pop(ready.path, None)
            return
        except PermissionError as exc:
            logger.warning("cannot read {}: {} (check its permissions)", ready.path, exc.strerror)
            return
        if result.outcome in (Outcome.MAYBE_SIDECAR, Outcome.DEFER):
            self._deferred.append((now + 2.0, ready))
            return
        self._first_seen.pop(ready.path, None)
        if result.outcome is Outcome.JOB and result.job is not None:
            logger.bind(job=result.job.id).info(
                "new job: {} -> {}", ready.rel, result.job.technique
            )
            self._changed()
        elif result.outcome is Outcome.DUPLICATE and result.job is not None:
            logger.bind(job=result.job.id).info("{} is a duplicate: {}", ready.rel, result.reason)
            file_duplicate(result.job, folder, self.journal)
            self._changed()
        elif result.outcome in (Outcome.NO_RULE, Outcome.SIDECAR):
            # Said once per kind of file and folder: a folder of 10,000 unrelated files must
            # not write 10,000 log lines at every start.
            kind = (ready.key, result.outcome, ready.path.suffix.lower())
            if kind not in self._said:
                self._said.add(kind)
                logger.info(
                    "leaving {} alone: {} (said once for such files)", ready.rel, result.reason
                )
            else:
                logger.debug("leaving {} alone: {}", ready.rel, result.reason)
        elif result.outcome is Outcome.EMPTY:
            logger.warning("leaving {} in place: {}", ready.rel, result.reason)
        else:
            logger.debug("{}: {}", ready.rel, result.reason)

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
                self._notice_sleep(now)
                if self._config_check is not None and now >= next_config_check:
                    next_config_check = now + 2.0
                    self._config_check()
                if not self.connected or self.live.offline or self.live.blocked is not None:
                    self._probe(now)
                if self.connected:
                    self._dispatch(now)
            except Exception as exc:
                logger.opt(exception=exc).error("scheduler error")
                self._stop.wait(1.0)

    def _notice_sleep(self, now: float) -> None:
        wall = self._wall_clock()
        if self._clocks is not None:
            jump = (wall - self._clocks[0]) - (now - self._clocks[1])
            if abs(jump) > SLEEP_JUMP_SECONDS:
                logger.info("the clock jumped {:+.0f} s (sleep?); rescanning every folder", jump)
                self.request_rescan()
        self._clocks = (wall, now)

    def _probe(self, now: float) -> None:
        """Offline, blocked or not yet connected: try the API now and then."""
        if now < self._next_probe:
            return
        blocked = self.live.blocked
        if blocked is not None and blocked.kind is AttentionKind.CREDITS:
            # Only a run can tell whether credits are back: let one job try.
            self.live.blocked = None
            self._trial = True
            self._next_probe = now + self.credits_recheck_seconds
            self._changed()
            return
        try:
            if blocked is not None and self._client_factory is not None:
                self._swap_client(self._client_factory())
            if self.connected:
                self.client.list_workspaces()
            else:
                self.connect()
        except NetworkError:
            self._probe_delay = min(self._probe_delay * 2, OFFLINE_PROBE_MAX_SECONDS)
            self._next_probe = now + self._probe_delay
            if not self.live.offline:
                self.live.offline = True
                self._changed()
            return
        except (AuthenticationError, PermissionDeniedError) as exc:
            self._block(exc)
            self._next_probe = now + self.auth_recheck_seconds
            return
        except ConfigError as exc:
            self.live.config_problem = exc.message
            logger.error("{}", exc.describe())
            self._next_probe = now + 60.0
            self._changed()
            return
        self._probe_delay = 2.0
        if self.live.offline:
            self._not_before.clear()  # jobs that backed off for the network go again now
            self.live.last_error = None  # "Connection refused": it is not, now
        if self.live.offline or blocked is not None:
            logger.info("FLORA is reachable again; resuming work")
        self.live.offline = False
        self.live.blocked = None
        self._changed()

    def _swap_client(self, client: FloraClient) -> None:
        old, self.client = self.client, client
        if self._submitter is not None:
            self._submitter.client = client
        if self._poller is not None:
            self._poller.client = client
        if old is not client:
            with contextlib.suppress(Exception):
                old.close()

    def _dispatch(self, now: float) -> None:
        d = self.config.daemon
        counts: dict[str, int] = {}
        for per_folder in self.journal.counts().values():
            for state, n in per_folder.items():
                counts[state] = counts.get(state, 0) + n

        def count(*states: JobState) -> int:
            return sum(counts.get(s.value, 0) for s in states)

        # Jobs no worker holds (after a restart, or backing off): at most once a second.
        # Runs whose create may have happened are resolved first (never pay twice).
        # Not while offline: each would fail and back off longer (the probe says when).
        scan = now >= self._next_stray_scan and not self.live.offline
        if scan:
            self._next_stray_scan = now + 1.0
        # Not while blocked: with a rejected key or no credits each would be refused again.
        stray = scan and count(JobState.SUBMITTING) > 0 and self.live.blocked is None
        for job in self.journal.jobs([JobState.SUBMITTING]) if stray else ():
            if self._claim(job, now):
                assert self._uploads is not None
                self._uploads.submit(self._guarded, job.id, self._resolve_task)
        # Fetch what is complete (after a restart: whatever was mid-fetch).
        stray = scan and count(JobState.FETCHING, JobState.FILING) > 0
        for job in self.journal.jobs([JobState.FETCHING, JobState.FILING]) if stray else ():
            if self._claim(job, now):
                assert self._fetches is not None
                self._fetches.submit(self._guarded, job.id, self._fetch_task)
        # Poll the runs that are due (pipeline/polling.py). Not with a rejected key: it would
        # only get 401s until the key's re-check.
        rejected = self.live.blocked is not None and self.live.blocked.kind is AttentionKind.AUTH
        if self._polling is not None and not self.live.offline and not rejected:
            assert self._polls is not None
            self._polling.dispatch(now, count(JobState.RUNNING), self._polls)
        # New work, within the limits.
        if self._paused or self.live.offline or self.live.blocked is not None:
            return
        if count(JobState.HELD):
            self.schedule.release(self.journal, self.config)
            money.release_holds(self.journal, self.config, self._cost_of)
        if counts.get(JobState.WAITING.value):
            incoming = self._ready.qsize() + len(self._deferred)
            incoming += self._intake.pending if self._intake is not None else 0
            money.review(self.journal, self.config, self._cost_of, incoming=incoming)
        # Up to twice the upload workers are handed jobs, so a worker that finishes starts the
        # next one at once; the pool's size still bounds the uploads under way. Jobs handed
        # out to be run (_queued) count as runs in flight; beyond the free run slots, the next
        # few jobs are uploaded ahead (_ahead), so that a freed slot only waits for a create.
        queued, ahead = len(self._queued), len(self._ahead)
        in_flight = count(JobState.SUBMITTING, JobState.RUNNING) + queued
        free = min(2 * d.max_concurrent_uploads - queued - ahead, d.max_concurrent_runs - in_flight)
        look = min(d.max_concurrent_runs, LOOK_AHEAD) - ahead - len(self._uploaded_ahead)
        if self._trial:
            free, look = min(free, 1 - queued - count(JobState.SUBMITTING)), 0
        if (free <= 0 and look <= 0) or not counts.get(JobState.WAITING.value):
            return
        limit = max(free, 0) + look + len(self._not_before) + 8
        for job in self.journal.startable(limit=limit):
            if job.approval is None:
                continue  # the big-drop guard waits for the rest of its burst
            if free <= 0:
                if look > 0 and len(self._ahead) < d.max_concurrent_uploads - queued:
                    look -= self._upload_ahead(job, now)
                continue
            hold = money.budget_hold(self.journal, self.config, job, self._cost_of(job))
            if hold is not None:
                money.hold(self.journal, job, hold)
                self._changed()
                continue
            if not self._claim(job, now):
                continue
            free -= 1
            self._queued.add(job.id)
            assert self._uploads is not None
            self._uploads.submit(self._guarded, job.id, self._upload_task)

    def _upload_ahead(self, job: Job, now: float) -> bool:
        if job.id in self._uploaded_ahead:
            return False
        hold = money.budget_hold(self.journal, self.config, job, self._cost_of(job))
        if hold is not None or not self._claim(job, now):
            return False  # (a run that would not fit a budget is not uploaded either)
        self._ahead.add(job.id)
        assert self._uploads is not None
        self._uploads.submit(self._guarded, job.id, lambda j: self._upload_task(j, True))
        return True

    def _claim(self, job: Job, now: float) -> bool:
        if self._not_before.get(job.id, 0.0) > now:
            return False
        with self._inflight_lock:
            if job.id in self._inflight:
                return False
            self._inflight.add(job.id)
        return True

    def _release(self, job_id: int) -> None:
        with self._inflight_lock:
            self._inflight.discard(job_id)

    # -- budgets --------------------------------------------------------------------------------

    def _cost_of(self, job: Job) -> float:
        technique = self.techniques.get(job.technique)
        if technique is not None:
            return technique.run_cost
        return job.run_cost or 0.0

    # -- tasks (run on the worker pools) -------------------------------------------------------

    def _guarded(self, job_id: int, task: Callable[[Job], None]) -> None:
        """Run one stage of one job, applying the error policy."""
        job: Job | None = None
        try:
            job = self.journal.get(job_id)
            folder = self.folders.get(job.folder)
            if folder is None:
                return  # its folder left the config: kept in the journal, untouched
            task(job)
            self._forget(job_id, keep_progress=True)
            if job.state in _OUTPUT_STATES and self.live.disk_problem:
                logger.info("outputs can be written again")
                self.live.disk_problem = None
        except StaleTransition:
            logger.bind(job=job_id).debug("job moved on elsewhere")
        except Interrupted as exc:
            logger.bind(job=job_id).info("{}", exc)
            self._back_off(job_id, 0.0, str(exc), quiet=True)
        except SourceGone as exc:
            self._cancel(job_id, str(exc))
        except NotSettled as exc:
            self._back_off(job_id, 1.0, str(exc), quiet=True)
        except SidecarNotYet as exc:
            assert job is not None
            if time.time() - job.created_at < SIDECAR_WAIT_SECONDS:
                self._back_off(job_id, 2.0, str(exc), quiet=True)
            else:
                self._fail(
                    job_id, Failure(str(exc), "drop the sidecar next to the file, then retry")
                )
        except (AuthenticationError, PermissionDeniedError, InsufficientCreditsError) as exc:
            self._block(exc)
            self._back_off(job_id, 0.0, exc.message, quiet=True)
        except NetworkError as exc:
            if not self.live.offline:
                logger.warning("FLORA cannot be reached ({}); pausing work until it can", exc.brief)
                self.live.offline = True
                self._next_probe = time.monotonic() + self._probe_delay
                self._changed()
            self._back_off(job_id, 5.0, exc.message, quiet=True)
        except TransientError as exc:
            if isinstance(exc.__cause__, OSError) and job and job.state in _OUTPUT_STATES:
                self._disk_trouble(job, exc.__cause__)  # the download could not be saved
            else:
                self._back_off(job_id, 5.0, exc.message)
        except ValidationError as exc:
            fields = "; ".join(f"{f.field}: {f.message}" for f in exc.fields)
            self._fail(
                job_id,
                Failure(
                    f"FLORA rejected the run's inputs ({fields or exc.message})",
                    "check the folder's input bindings against 'floradrop techniques show'",
                    exc.code,
                    exc.message,
                ),
            )
        except JobError as exc:
            self._fail(job_id, Failure(exc.message, exc.hint or "", getattr(exc, "code", None)))
        except ConfigError as exc:  # e.g. a video dropped where the rule only fits images
            self._fail(job_id, Failure(exc.message, exc.hint or "check the folder's rules"))
        except FatalError as exc:
            self._block(exc)
            self._back_off(job_id, 0.0, exc.message, quiet=True)
        except OSError as exc:
            if job is not None and job.state in _OUTPUT_STATES:
                self._disk_trouble(job, exc)
                return
            attempts = self._attempts.get(job_id, 0) + 1
            if attempts >= _MAX_FETCH_ATTEMPTS:
                self._fail(
                    job_id,
                    Failure(
                        f"could not write to disk: {exc}",
                        "free some disk space, then 'floradrop retry'",
                    ),
                )
            else:
                logger.bind(job=job_id).warning("disk problem ({}); will try again", exc)
                self._back_off(job_id, 10.0 * attempts, str(exc), quiet=True)
        except Exception as exc:
            logger.bind(job=job_id).opt(exception=exc).error("unexpected error")
            self._fail(
                job_id, Failure(f"internal error: {exc!r}", "please report this bug with the log")
            )
        finally:
            self._queued.discard(job_id)
            self._ahead.discard(job_id)
            self._release(job_id)
            self._changed()

    def _back_off(self, job_id: int, base: float, message: str, *, quiet: bool = False) -> None:
        attempts = self._attempts.get(job_id, 0) + 1
        self._attempts[job_id] = attempts
        delay = min(base * 2 ** min(attempts - 1, 20), 300.0) if base else 0.0
        self._not_before[job_id] = time.monotonic() + delay
        with contextlib.suppress(StaleTransition, KeyError):
            self.journal.transition(job_id, JobState.UPLOADING, JobState.WAITING)
        self.live.last_error, self.live.last_error_job = message, job_id
        if not quiet:
            logger.bind(job=job_id).warning(
                "{}; trying again in {:.0f} s", message.rstrip("."), delay
            )

    def _disk_trouble(self, job: Job, exc: OSError) -> None:
        """An output or its sidecar could not be written: try again later, never fail the job.

        The run is paid for; failing the job would make ``floradrop retry`` pay again. Whatever
        was half-written was a temporary file, removed or overwritten by the next attempt.
        """
        attempts = self._attempts.get(job.id, 0) + 1
        self._attempts[job.id] = attempts
        # (the exponent is capped: 2 ** 1024 does not fit a float, after a day of retries)
        delay = min(_DISK_RETRY_SECONDS * 2 ** min(attempts - 1, 20), _DISK_RETRY_MAX_SECONDS)
        self._not_before[job.id] = time.monotonic() + delay
        folder = self.folders.get(job.folder)
        where = Path(exc.filename).parent if isinstance(exc.filename, str) else None
        where = where or (folder.outputs if folder else None)
        message = f"cannot write outputs{f' to {where}' if where else ''}: {exc.strerror or exc}"
        if self.live.disk_problem != message:
            logger.bind(job=job.id).error("{}; trying again in {:.0f} s", message, delay)
        self.live.disk_problem = message
        self.live.last_error, self.live.last_error_job = message, job.id

    def _block(self, exc: FloradropError) -> None:
        kind = (
            AttentionKind.CREDITS
            if isinstance(exc, InsufficientCreditsError)
            else AttentionKind.AUTH
        )
        if self.live.blocked is None or self.live.blocked.kind is not kind:
            logger.error("{} New uploads and runs are paused; files are kept.", exc.describe())
            # Newly blocked: re-check later. Not on every refusal while blocked (a poll or a
            # submission still under way), which would put the re-check off for ever.
            self._next_probe = time.monotonic() + (
                self.credits_recheck_seconds
                if kind is AttentionKind.CREDITS
                else self.auth_recheck_seconds
            )
        self.live.blocked = Attention(kind, exc.message, exc.hint or "")
        self._trial = False
        self._changed()

    def _cancel(self, job_id: int, why: str) -> None:
        with contextlib.suppress(StaleTransition):
            self.journal.transition(
                job_id,
                [JobState.WAITING, JobState.UPLOADING, JobState.HELD],
                JobState.CANCELLED,
                note=why,
            )
            logger.bind(job=job_id).info("cancelled: {}", why)
        self._forget(job_id)

    def _fail(self, job_id: int, failure: Failure) -> None:
        job = self.journal.get(job_id)
        folder = self.folders.get(job.folder)
        if folder is None or job.state.terminal:
            return
        if self.actions is not None:
            self.actions.arm(job, folder, "failed")  # durable before the job fails
        job = file_failed(job, folder, self.journal, failure)
        chains.carry_sidecar(folder.path / job.rel_path, _filed(job))
        if self.actions is not None:
            self.actions.finished(job, folder)
        self._forget(job_id)

    def _forget(self, job_id: int, *, keep_progress: bool = False) -> None:
        """A job that moved on loses its retry state and last error (a daemon runs for weeks)."""
        self._attempts.pop(job_id, None)
        self._not_before.pop(job_id, None)
        if self.live.last_error_job == job_id:
            self.live.last_error = self.live.last_error_job = None
        if not keep_progress:  # (a job that is finished, not one that moved on)
            self.live.progress.pop(job_id, None)
            self._uploaded_ahead.discard(job_id)

    def _rule(self, job: Job) -> tuple[FolderConfig, Rule, Technique]:
        folder = self.folders[job.folder]
        rules = folder.effective_rules()
        rule = rules[job.rule_index] if job.rule_index < len(rules) else None
        if rule is None or rule.technique != job.technique:
            rule = next((r for r in rules if r.technique == job.technique), None)
        technique = self.techniques.get(job.technique)
        if rule is None or technique is None:
            raise JobError(
                f"the rule for {job.technique} is no longer in the config",
                hint="restore the rule, or drop the file again",
            )
        return folder, rule, technique

    def _upload_task(self, job: Job, ahead: bool = False) -> None:
        self._uploaded_ahead.discard(job.id)
        if self._paused or self._stop.is_set() or self.live.blocked or self.live.offline:
            return  # paused (or blocked) while queued: stays waiting
        started = money.start(self.journal, self.config, job, self._cost_of(job))
        if started is None:
            return  # held: it would pass a budget
        job = started
        folder, rule, technique = self._rule(job)
        assert self._submitter is not None
        ctx = UploadContext(self.client, self.journal, self.workspace_id, self.hosting)
        inputs, job = build_inputs(job, folder, rule, technique, ctx, should_stop=self._stop.is_set)
        if ahead or self._paused or self._stop.is_set():
            self.journal.transition(job.id, JobState.UPLOADING, JobState.WAITING)
            if ahead:
                self._uploaded_ahead.add(job.id)  # its create waits for a run slot
            return
        if self.schedule.hold_if_closed(self.journal, self.config, folder, job):
            return  # uploaded; its run starts when the folder's window opens
        self._submitter.submit(job, inputs, technique)
        self._trial = False  # a run was created: credits are back

    def _resolve_task(self, job: Job) -> None:
        technique = self.techniques.get(job.technique)
        if technique is None:
            raise JobError(f"technique {job.technique} is not configured any more")
        assert self._submitter is not None
        self._submitter.resolve(job, technique)

    def _poll_failed(self, exc: Exception) -> None:
        if isinstance(exc, FatalError):
            self._block(exc)
        elif isinstance(exc, NetworkError):
            if not self.live.offline:
                logger.warning("FLORA cannot be reached while polling ({})", exc.brief)
            self.live.offline = True
        else:  # (a traceback only for what is not one of ours: a bug)
            trace = None if isinstance(exc, FloradropError) else exc
            logger.opt(exception=trace).warning("polling failed: {}", getattr(exc, "message", exc))

    def _finish_run(self, job: Job, run: Run) -> None:
        self.live.progress.pop(job.id, None)
        cost = run.charged_cost
        if run.succeeded:
            if cost is None:
                cost = self._cost_of(job)  # charged_cost is eventually consistent: use the quote
            job = self.journal.transition(
                job.id,
                JobState.RUNNING,
                JobState.FETCHING,
                cost=cost,
                day=today(),
                completed_at=time.time(),
            )
            if self._claim(job, 0.0):
                assert self._fetches is not None
                self._fetches.submit(self._guarded, job.id, lambda j: self._fetch_task(j, run))
            return
        if cost is not None:  # 0 too: the report and `retry` then say nothing was charged
            job = self.journal.transition(job.id, JobState.RUNNING, cost=cost, day=today())
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
        self._fail(job.id, failure)

    def _fetch_task(self, job: Job, run: Run | None = None) -> None:
        folder, rule, _technique = self._rule(job)
        staging = review.staging_for(folder, self.config.folders)
        if job.state is JobState.FETCHING:
            if run is None:
                assert job.run_id is not None
                run = self.client.get_run(
                    job.run_id, technique=job.technique, poll_url=job.poll_url
                )
            ctx = FetchContext(
                self.client,
                self.journal,
                review.outputs_dir(folder),
                rule.technique,
                self._stop.is_set,
                staging,
            )
            job = fetch_outputs(job, run, ctx)
        if self.actions is not None:
            self.actions.arm(job, folder, "done")  # durable before the job is done
        job = file_done(job, folder, self.journal, staging=staging)
        chains.carry_sidecar(folder.path / job.rel_path, _filed(job))
        if self.actions is not None:
            self.actions.finished(job, folder)
        logger.bind(job=job.id).info("done: {}", job.name)
