"""Actions when outputs land (``[[folders.on_done]]``) or a file fails (``on_failed``).

:meth:`Actions.arm` writes the folder's actions for a job into the durable
:class:`~floradrop.workflows.outbox.Outbox` just *before* the job's last transition (done or
failed), and :meth:`Actions.finished` queues them right after it and returns at once; a crash
in between loses nothing (:meth:`Actions.recover` queues them at the next start). An action
that ran or was delivered is never run again, across restarts. Two named threads work the
queue, so a slow receiver or a hanging command never holds up the pipeline:

* ``floradrop-commands`` runs each command (never through a shell) with the file paths added
  as arguments and the provenance in ``FLORADROP_*`` environment variables, within its
  ``timeout_seconds`` (then its whole process group is killed). Its output is logged; a
  failure is reported (log, status's last error), never fails the job, and is not run again;
* ``floradrop-webhooks`` POSTs the provenance JSON, signed with HMAC-SHA256 (see
  :func:`signature`), and retries with back-off until a 2xx answer, across restarts, for up to
  :data:`~floradrop.workflows.outbox.GIVE_UP_SECONDS`.

The secret is read at each delivery from the environment or the keyring; it is never in the
config, the journal or a log line.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from loguru import logger

from floradrop import __version__, failpoints
from floradrop.config import FolderConfig
from floradrop.config.actions import KEYRING_SERVICE, Action
from floradrop.jobs import JobState
from floradrop.journal import Job
from floradrop.status import Notice
from floradrop.workflows.outbox import DONE, FAILED, GAVE_UP, GIVE_UP_SECONDS, Item, Outbox

SIGNATURE_HEADER: Final = "X-Floradrop-Signature"
MAX_LOGGED_OUTPUT: Final = 8 * 1024
_ENV_PROVENANCE_MAX: Final = 64 * 1024
MAX_NOTICES: Final = 20


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """``t=<unix time>,v1=<hex HMAC-SHA256 of "<unix time>." + body>``: a receiver recomputes
    it with the shared secret, compares in constant time, and may refuse old timestamps."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass(frozen=True)
class Place:
    """Where a job's folder is: all a payload needs of it (a folder's config has both)."""

    name: str
    path: Path


def payload(job: Job, folder: FolderConfig | Place, event: str) -> dict[str, Any]:
    """What actions are told: the job, its files and (for outputs) their provenance."""
    outputs = []
    for record in job.outputs:
        path = record.get("path")
        if not path:
            continue
        provenance = None
        with contextlib.suppress(OSError, ValueError):
            provenance = json.loads(Path(path + ".json").read_text("utf-8"))
        outputs.append({"path": path, "sha256": record.get("sha256"), "provenance": provenance})
    data: dict[str, Any] = {
        "event": event,
        "floradrop_version": __version__,
        "job_id": job.id,
        "folder": {"name": folder.name, "path": str(folder.path)},
        "source": {"name": job.name, "path": job.source_path, "sha256": job.content_hash},
        "technique": job.technique,
        "run_id": job.run_id,
        "cost_usd": job.cost,
        "outputs": outputs,
    }
    if event == "failed":
        data["error"] = {
            "message": job.error_message,
            "code": job.error_code,
            "hint": job.error_hint,
            "report": job.report_path,
        }
    return data


class Actions:
    """The action workers of one engine. ``on_problem`` is told of each failure, in words."""

    def __init__(
        self,
        journal_path: Path,
        *,
        on_problem: Callable[[str], None] = lambda message: None,
        retry_base_seconds: float = 5.0,
        retry_max_seconds: float = 600.0,
        request_timeout: float = 10.0,
    ) -> None:
        self.outbox = Outbox(journal_path)
        self.on_problem = on_problem
        self.retry_base_seconds = retry_base_seconds  # tests shorten these
        self.retry_max_seconds = retry_max_seconds
        self.request_timeout = request_timeout
        self._stop = threading.Event()
        self._wake = {"command": threading.Event(), "webhook": threading.Event()}
        self._threads: list[threading.Thread] = []
        self._running: subprocess.Popen[bytes] | None = None
        self.notices: deque[Notice] = deque(maxlen=MAX_NOTICES)  # for the tray (notify)

    # -- the engine's side ------------------------------------------------------------------

    def arm(self, job: Job, folder: FolderConfig, event: str) -> None:
        """Write ``folder``'s actions for ``job`` down *before* it becomes done (``event``
        ``"done"``) or failed: a crash between that transition and :meth:`finished` then
        loses nothing (:meth:`recover` queues them at the next start)."""
        actions = folder.on_done if event == "done" else folder.on_failed
        durable = [a for a in actions if not a.notify]
        if not durable:
            return
        body = json.dumps(payload(job, folder, event), ensure_ascii=False)
        for action in durable:
            settings = action.model_dump(mode="json", exclude_none=True)
            self.outbox.arm(job.id, event, action.kind, settings, body)

    def finished(self, job: Job, folder: FolderConfig) -> None:
        """Queue ``folder``'s actions for ``job`` (done or failed); returns at once."""
        failpoints.reached(failpoints.ACTIONS_QUEUED)
        event = "done" if job.state is JobState.DONE else "failed"
        actions = folder.on_done if event == "done" else folder.on_failed
        if folder.on_done or folder.on_failed:  # (a folder without actions armed nothing)
            self.outbox.void(job.id, event)
        if not actions:
            return
        data = payload(job, folder, event)
        body = json.dumps(data, ensure_ascii=False)
        for action in actions:
            if action.notify:
                self.notices.append(_notice(data))
                continue
            settings = action.model_dump(mode="json", exclude_none=True)
            if self.outbox.add(job.id, event, action.kind, settings, body):
                self._wake[action.kind].set()

    def recover(self, job_of: Callable[[int], Job]) -> int:
        """At start: actions armed for a job that did finish before a crash are queued now
        (with the payload of the finished job); those armed for an end it did not reach are
        void; the rest stay armed (their job resumes). How many were queued."""
        queued = 0
        for item in self.outbox.armed():
            try:
                job: Job | None = job_of(item.job_id)
            except KeyError:
                job = None
            if job is None:
                self.outbox.void(item.job_id, "")  # (gone from the journal: never runs)
            elif job.state.value == item.event:
                folder = json.loads(item.payload)["folder"]
                place = Place(folder["name"], Path(folder["path"]))
                body = json.dumps(payload(job, place, item.event), ensure_ascii=False)
                if self.outbox.add(item.job_id, item.event, item.kind, item.action, body):
                    queued += 1
                    self._wake[item.kind].set()
            elif job.state.terminal:
                self.outbox.void(item.job_id, job.state.value)
        if queued:
            logger.info("actions: {} queued for jobs that finished just before a crash", queued)
        return queued

    def start(self) -> None:
        self._stop_left_over()
        for kind, target in (("command", self._run_commands), ("webhook", self._deliver)):
            thread = threading.Thread(target=self._loop, args=(kind, target), daemon=True)
            thread.name = f"floradrop-{kind}s"
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for event in self._wake.values():
            event.set()
        running = self._running
        if running is not None and running.poll() is None:
            _kill(running)  # pending again at the next start (never marked done)
        for thread in self._threads:
            thread.join(timeout)
        self.outbox.close()

    # -- the workers --------------------------------------------------------------------------

    def _loop(self, kind: str, work: Callable[[Item], None]) -> None:
        wake = self._wake[kind]
        while not self._stop.is_set():
            wake.clear()
            try:
                for item in self.outbox.due(kind, time.time()):
                    if self._stop.is_set():
                        return
                    work(item)
                upcoming = self.outbox.next_due(kind)
            except Exception as exc:  # e.g. the journal's disk is full: try again shortly
                logger.opt(exception=exc).error("{} actions: unexpected error", kind)
                upcoming = time.time() + 5.0
            wait = 60.0 if upcoming is None else max(0.0, min(60.0, upcoming - time.time()))
            wake.wait(wait if wait > 0 else 0.05)

    def _run_commands(self, item: Item) -> None:
        action = Action.model_validate(item.action)
        data = json.loads(item.payload)
        assert action.command is not None
        if item.event == "done":
            files = [o["path"] for o in data["outputs"]]
        else:  # the original (where it was filed) and its error report
            report = data["error"]["report"]
            files = [data["source"]["path"], *([report] if report else [])]
        argv = [*action.command, *files]
        what = f"{Path(action.command[0]).name} for {data['source']['name']} ({item.event})"
        log = logger.bind(job=item.job_id)
        try:
            proc = subprocess.Popen(
                argv,
                env=_environment(data, item),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=sys.platform != "win32",
            )
        except OSError as exc:
            self._failed(item, f"could not start {what}: {exc.strerror or exc}")
            return
        self._running = proc
        self.outbox.running(item.id, {"pid": proc.pid, "start": _started_at(proc.pid)})
        try:
            output, _ = proc.communicate(timeout=action.timeout_seconds)
        except subprocess.TimeoutExpired:
            _kill(proc)
            output, _ = proc.communicate()
            _log_output(log, what, output)
            if self._stop.is_set():
                return  # stopped by the shutdown: runs again at the next start
            self._failed(item, f"{what} was stopped after {action.timeout_seconds:g} s")
            return
        finally:
            self._running = None
        _log_output(log, what, output)
        if self._stop.is_set() and proc.returncode < 0:
            return
        if proc.returncode != 0:
            self._failed(item, f"{what} failed with exit code {proc.returncode}")
            return
        log.info("action: {} finished", what)
        self.outbox.finish(item.id, DONE)

    def _stop_left_over(self) -> None:
        """Commands a crash left running (in their own session, they outlive floradrop) are
        stopped before they run again; only a process that is provably the same one (its
        start time matches; Linux) is touched, never a process that reused its id."""
        for item_id, process in self.outbox.left_running():
            pid, start = process.get("pid"), process.get("start")
            if isinstance(pid, int) and start is not None and _started_at(pid) == start:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                    logger.warning(
                        "action: a command left running by a crash (process {}) was stopped; "
                        "it runs again",
                        pid,
                    )
            self.outbox.running(item_id, None)

    def _failed(self, item: Item, message: str) -> None:
        logger.bind(job=item.job_id).warning("action: {} (the file itself is fine)", message)
        self.outbox.finish(item.id, FAILED, message)
        with contextlib.suppress(Exception):
            self.on_problem(message)

    def _deliver(self, item: Item) -> None:
        action = Action.model_validate(item.action)
        assert action.webhook is not None
        log = logger.bind(job=item.job_id)
        error = None
        secret = _secret(action)
        if secret is None:
            where = (
                f"the environment variable {action.secret_env}"
                if action.secret_env
                else f'the keyring (service "{KEYRING_SERVICE}", entry "{action.secret_keyring}")'
            )
            error = f"no webhook secret in {where}"
        else:
            body = item.payload.encode("utf-8")
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": f"floradrop/{__version__}",
                "X-Floradrop-Event": item.event,
                "X-Floradrop-Delivery": str(item.id),
                SIGNATURE_HEADER: signature(secret, stamp, body),
            }
            try:
                with httpx.Client(timeout=self.request_timeout, follow_redirects=False) as http:
                    response = http.post(action.webhook, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    log.info("action: delivered to {} ({})", action.webhook, item.event)
                    self.outbox.finish(item.id, DONE)
                    return
                error = f"{action.webhook} answered {response.status_code}"
            except httpx.HTTPError as exc:
                error = f"{action.webhook} cannot be reached ({type(exc).__name__})"
        if time.time() - item.created_at > GIVE_UP_SECONDS:
            self._failed(item, f"gave up delivering to {action.webhook}: {error}")
            self.outbox.finish(item.id, GAVE_UP, error)
            return
        delay = min(self.retry_base_seconds * 2 ** min(item.attempts, 20), self.retry_max_seconds)
        self.outbox.retry_at(item.id, time.time() + delay, error)
        if item.attempts == 0:  # said once per delivery, not at every try
            log.warning("action: {}; trying again with back-off (nothing is lost)", error)
            with contextlib.suppress(Exception):
                self.on_problem(error)


def _notice(data: dict[str, Any]) -> Notice:
    name = data["source"]["name"]
    if data["event"] == "done":
        outputs = [o["path"] for o in data["outputs"]]
        first = Path(outputs[0]) if outputs else None
        title = f"{first.name if first else name} is ready"
        more = f" (+{len(outputs) - 1} more)" if len(outputs) > 1 else ""
        message = f"{data['folder']['name']}: {name} through {data['technique']}{more}"
        return Notice(time.time(), title, message, first)
    report = data["error"]["report"]
    message = f"{data['folder']['name']}: {data['error']['message'] or 'see the report'}"
    return Notice(time.time(), f"{name} failed", message, Path(report) if report else None)


def _secret(action: Action) -> bytes | None:
    if action.secret_env:
        value = os.environ.get(action.secret_env)
    else:
        value = None
        with contextlib.suppress(Exception):  # no keyring backend: no secret
            import keyring

            value = keyring.get_password(KEYRING_SERVICE, action.secret_keyring or "")
    return value.encode("utf-8") if value else None


def _environment(data: dict[str, Any], item: Item) -> dict[str, str]:
    outputs = [o["path"] for o in data["outputs"]]
    provenance = json.dumps(data, ensure_ascii=False)
    env = {
        "FLORADROP_EVENT": item.event,
        "FLORADROP_JOB_ID": str(item.job_id),
        "FLORADROP_FOLDER": data["folder"]["path"],
        "FLORADROP_FOLDER_NAME": data["folder"]["name"],
        "FLORADROP_SOURCE": data["source"]["path"],
        "FLORADROP_SOURCE_NAME": data["source"]["name"],
        "FLORADROP_TECHNIQUE": data["technique"] or "",
        "FLORADROP_RUN_ID": data["run_id"] or "",
        "FLORADROP_OUTPUTS": os.pathsep.join(outputs),
        "FLORADROP_PROVENANCE": provenance if len(provenance) <= _ENV_PROVENANCE_MAX else "",
    }
    if item.event == "failed":
        env["FLORADROP_ERROR"] = data["error"]["message"] or ""
        env["FLORADROP_REPORT"] = data["error"]["report"] or ""
    base = {k: v for k, v in os.environ.items() if k not in ("FLORA_API_KEY",)}
    return base | env


def _started_at(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot, from /proc; None elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", errors="replace")
        return int(stat.rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGKILL)


def _log_output(log: Any, what: str, output: bytes | None) -> None:
    if not output:
        return
    text = output[:MAX_LOGGED_OUTPUT].decode("utf-8", "replace").rstrip()
    for line in text.splitlines():
        log.info("action: {}: {}", what, line)
    if len(output) > MAX_LOGGED_OUTPUT:
        log.info(
            "action: {}: ({:,} more bytes of output not logged)",
            what,
            len(output) - MAX_LOGGED_OUTPUT,
        )
