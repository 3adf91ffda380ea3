"""The admission desk: the ``floradrop-admit`` thread turns each settled file into a job.

The intake (``pipeline.watch`` / ``pipeline.settle``) hands over settled files; this thread
alone owns the queue of them, the files put back for a while (possible sidecars whose main file
has not arrived) and the "leaving alone" kinds already logged. The decision itself is
``pipeline.admit``; a file that could not be admitted (the journal's disk is full) is looked at
again at the next rescan.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from loguru import logger

from floradrop.config import FolderConfig
from floradrop.journal import Journal
from floradrop.pipeline.admit import Outcome, admit
from floradrop.pipeline.fileaway import file_duplicate
from floradrop.pipeline.watch import ReadyFile
from floradrop.policy import SIDECAR_WAIT_SECONDS

RECHECK_SECONDS = 2.0  # a possible sidecar, or a file waiting for an earlier job, looks again


class Admitter:
    """Settled files -> journaled jobs, on one thread (see the module's docstring)."""

    def __init__(
        self,
        journal: Journal,
        *,
        folders: Callable[[], dict[str, FolderConfig]],
        duplicates: Callable[[], str],
        run_costs: Callable[[], dict[str, float]],
        forget: Callable[[Path], None],
        changed: Callable[[], None],
        on_error: Callable[[BaseException, str, str], None],
    ) -> None:
        self.journal = journal
        self._folders = folders
        self._duplicates = duplicates
        self._run_costs = run_costs
        self._forget = forget
        self._changed = changed
        self._on_error = on_error
        self._ready: queue.Queue[ReadyFile | None] = queue.Queue()
        self._admitting = False
        # Files that may be sidecars whose main file has not arrived: (due, file), in order.
        self._deferred: deque[tuple[float, ReadyFile]] = deque()
        self._first_seen: dict[Path, float] = {}
        self._said: set[tuple[str, str, str]] = set()  # "leaving alone" kinds already logged
        self._thread: threading.Thread | None = None

    def put(self, ready: ReadyFile) -> None:
        """A settled file (called by the intake's threads)."""
        self._ready.put(ready)

    @property
    def busy(self) -> bool:
        return not self._ready.empty() or self._admitting or bool(self._deferred)

    @property
    def incoming(self) -> int:
        """Files settled but not admitted yet."""
        return self._ready.qsize() + len(self._deferred)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="floradrop-admit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float) -> None:
        self._ready.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
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
                self.admit(item)
            except Exception as exc:  # e.g. the journal's disk is full
                where = f"could not admit {item.path} (looked at again at the next rescan)"
                self._on_error(exc, where, "ERROR")
                self._forget(item.path)
            finally:
                self._admitting = False

    def admit(self, ready: ReadyFile) -> None:
        folder = self._folders().get(ready.key)
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
                duplicates=self._duplicates(),
                run_costs=self._run_costs(),
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
            self._deferred.append((now + RECHECK_SECONDS, ready))
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
