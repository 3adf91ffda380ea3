"""Watch: observers and rescans report candidate paths; the settle thread reports ready files.

:class:`Intake` is the whole intake side of the pipeline. Per folder it schedules watchdog's
native observer (inotify, FSEvents, ReadDirectoryChangesW), or a polling observer for network
shares. The watchdog handler only appends ``(folder, event)`` to a list: watchdog dispatches
every handler on one thread, so anything slower there delays or loses later events. One named
thread, ``floradrop-settle``, owns everything else:

* it turns events into candidates of a :class:`~floradrop.pipeline.settle.Settler` and calls
  ``on_ready`` when one is completely written;
* it scans every folder at start, every ``rescan_seconds``, on :meth:`Intake.rescan` and when
  watchdog reports a kernel queue overflow (events lost: after sleep/wake, on network shares);
* every couple of seconds it checks that each watched folder is still the folder it watches,
  and re-establishes a watch on a folder deleted and recreated, renamed or (un)mounted.

Nothing here follows a symbolic link, and paths under a folder's ``exclude`` are never
reported.
"""

# String paths, not pathlib, on purpose: a scan of 10,000 files stays a few milliseconds.
# ruff: noqa: PTH100, PTH114, PTH116, PTH206

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from loguru import logger
from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
)

from floradrop.pipeline.settle import ReadyFile, Settler, Signature, all_under, symlink_message
from floradrop.pipeline.watched import OverflowListener, WatchedFolder, WatchSpec, unique_specs

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver

__all__ = ["Intake", "ReadyFile", "WatchSpec"]

ROOT_CHECK_SECONDS = 2.0
"""How often each watched folder is checked to still exist and be the one watched."""

EVENT_FILTER: tuple[type[FileSystemEvent], ...] = (
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,  # close-write only: our own reads (opened / closed_no_write) stay silent
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
)

_MAX_REMEMBERED = 50_000  # ignored paths per folder; problems already reported


class Intake:
    """Watches folders and reports files once they are completely written.

    ``on_ready(ReadyFile)`` and ``on_problem(message, path)`` are called on the settle thread;
    keep them fast (enqueue). A file is reported once per (path, size, mtime, inode); a file that
    changes afterwards is reported again.
    """

    def __init__(
        self,
        specs: Sequence[WatchSpec],
        on_ready: Callable[[ReadyFile], None],
        *,
        settle_seconds: float = 1.0,
        rescan_seconds: float = 300.0,
        polling_interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_problem: Callable[[str, Path | None], None] | None = None,
    ) -> None:
        if settle_seconds < 0 or rescan_seconds <= 0 or polling_interval <= 0:
            raise ValueError("settle_seconds >= 0, rescan_seconds > 0 and polling_interval > 0")
        self._specs = unique_specs(specs)
        self._on_ready = on_ready
        self._on_problem = on_problem
        self._settle_seconds = settle_seconds
        self._rescan_seconds = rescan_seconds
        self._polling_interval = polling_interval
        self._clock = clock

        self._cond = threading.Condition()
        self._events: list[tuple[WatchedFolder, FileSystemEvent]] = []
        self._commands: list[Callable[[], None]] = []
        self._rescan_all = False
        self._rescan_keys: set[str] = set()
        self._check_roots_now = False
        self._stopping = False
        self._events_suppressed = False  # test hook: drop events as after sleep/wake

        self._thread: threading.Thread | None = None
        self._stopped = False
        self._folders: dict[str, WatchedFolder] = {}
        self._observers: dict[bool, BaseObserver] = {}
        self._settler = Settler(problem=self._problem)
        self._problems: set[tuple[str, str]] = set()
        self._overflow: OverflowListener | None = None
        self._next_root_check = 0.0
        self._next_rescan = 0.0

    # -- public API --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the observers and the settle thread; the startup scan runs on that thread."""
        with self._cond:
            if self._thread is not None or self._stopped:
                raise RuntimeError("an Intake can be started only once")
            self._rescan_all = True
        self._overflow = OverflowListener(self._on_overflow)
        logging.getLogger("watchdog").addHandler(self._overflow)
        try:
            for spec in self._specs:
                folder = WatchedFolder(spec, self._settle_seconds, self._enqueue)
                self._folders[spec.key] = folder
                self._establish(folder)
            now = self._clock()
            self._next_root_check = now + ROOT_CHECK_SECONDS
            self._next_rescan = now + self._rescan_seconds
            self._thread = threading.Thread(target=self._run, name="floradrop-settle")
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        logger.debug("intake started: {} folder(s)", len(self._folders))

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and join every thread (the settle thread, observers, emitters). Idempotent."""
        with self._cond:
            if self._stopped:
                return
            self._stopped = self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("the settle thread did not stop within {:.0f} s", timeout)
        for observer in self._observers.values():
            observer.stop()
        for observer in self._observers.values():
            with contextlib.suppress(RuntimeError):
                observer.join(timeout)
        if self._overflow is not None:
            logging.getLogger("watchdog").removeHandler(self._overflow)
            self._overflow = None

    def rescan(self, key: str | None = None) -> None:
        """Rescan one folder (or all) soon. Thread-safe; use after sleep/wake or lost events."""
        with self._cond:
            if key is None:
                self._rescan_all = True
            else:
                self._rescan_keys.add(key)
            self._cond.notify()

    def update_specs(self, specs: Sequence[WatchSpec]) -> None:
        """Hot reload: watch added folders, drop removed ones, keep unchanged folders' candidates.

        A folder whose path, ``recursive`` and ``polling`` are unchanged keeps its watch and
        pending candidates (new ``exclude`` / ``is_ignored`` apply at once); any other change
        re-watches and rescans it. Applied on the settle thread, soon after the call.
        """
        new = unique_specs(specs)
        with self._cond:
            if self._thread is None and not self._stopped:
                self._specs = new
                return
            self._commands.append(lambda: self._reconfigure(new))
            self._cond.notify()

    def forget(self, path: Path) -> None:
        """Stop settling ``path`` and forget it was reported: the engine already handled it,
        and a later rescan (or event) offers it again if it is still there (``retry``)."""
        target = os.path.abspath(path)
        with self._cond:
            self._commands.append(lambda: self._settler.drop(target))
            self._cond.notify()

    @property
    def pending(self) -> int:
        """Candidates not yet settled."""
        return len(self._settler)

    # -- the watchdog side -------------------------------------------------------------------

    def _enqueue(self, folder: WatchedFolder, event: FileSystemEvent) -> None:
        if self._events_suppressed:
            return
        with self._cond:
            self._events.append((folder, event))
            self._cond.notify()

    def _on_overflow(self) -> None:
        logger.warning("filesystem events were lost (kernel queue overflow); rescanning")
        self.rescan()

    def _observer(self, polling: bool) -> BaseObserver:
        observer = self._observers.get(polling)
        if observer is None:
            observer = self._observers[polling] = _new_observer(polling, self._polling_interval)
            observer.start()
        return observer

    def _establish(self, folder: WatchedFolder) -> bool:
        """Schedule a watch on ``folder``; report it once if it is missing or cannot be watched."""
        try:
            st = os.stat(folder.root)
        except OSError:
            st = None
        if st is None or not stat.S_ISDIR(st.st_mode):
            self._folder_missing(folder)
            return False
        try:
            observer = self._observer(folder.spec.polling)
        except OSError as exc:  # e.g. no inotify instance left (fs.inotify.max_user_instances)
            self._cannot_watch(folder, exc)
            return False
        # A folder that is itself a link (a configured location, not a link inside the folder)
        # is watched at its target: inotify never follows the last component. Event paths
        # are mapped back in _apply.
        folder.watch_root = os.path.realpath(folder.root) if os.path.islink(folder.root) else None
        try:
            watch = observer.schedule(
                folder.handler,
                folder.watch_root or folder.root,
                recursive=folder.spec.recursive,
                event_filter=list(EVENT_FILTER),
            )
        except (FileNotFoundError, NotADirectoryError):
            self._folder_missing(folder)
            return False
        except OSError as exc:
            self._cannot_watch(folder, exc)
            return False
        folder.watch, folder.observer = watch, observer
        folder.identity = (st.st_dev, st.st_ino)
        if folder.missing:
            folder.missing = False
            logger.info("{} is back; watching it again", folder.root)
        return True

    def _unwatch(self, folder: WatchedFolder) -> None:
        if folder.watch is not None and folder.observer is not None:
            with contextlib.suppress(KeyError):
                folder.observer.unschedule(folder.watch)
        folder.watch = folder.observer = None

    def _healthy(self, folder: WatchedFolder) -> bool:
        if folder.watch is None or folder.observer is None:
            return False
        try:
            st = os.stat(folder.root)
        except OSError:
            return False
        if not stat.S_ISDIR(st.st_mode) or (st.st_dev, st.st_ino) != folder.identity:
            return False
        emitters = list(folder.observer.emitters)
        return any(e.watch == folder.watch and e.is_alive() for e in emitters)

    def _check_roots(self) -> None:
        for folder in list(self._folders.values()):
            if self._healthy(folder):
                continue
            had_watch = folder.watch is not None
            self._unwatch(folder)
            if had_watch:
                self._settler.drop_where(all_under([folder.root]))
            if self._establish(folder):
                self._scan(folder)

    def _folder_missing(self, folder: WatchedFolder) -> None:
        if folder.missing:
            return
        folder.missing = True
        self._tell(
            logging.WARNING,
            f"The watched folder {folder.root} does not exist (deleted, renamed or not "
            "mounted). floradrop keeps checking and watches it again when it reappears.",
            Path(folder.root),
        )

    def _cannot_watch(self, folder: WatchedFolder, exc: OSError) -> None:
        if folder.missing:
            return
        folder.missing = True
        hint = "; floradrop retries every few seconds."
        if exc.errno in (errno.ENOSPC, errno.EMFILE):
            hint = (
                ": the system's limit of watched folders is reached (raise "
                "fs.inotify.max_user_watches / max_user_instances, or watch fewer folders)" + hint
            )
        self._tell(
            logging.WARNING,
            f"Cannot watch {folder.root}: {exc.strerror or exc}{hint}",
            Path(folder.root),
        )

    # -- the settle thread -------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    if self._events or self._commands or self._rescan_all or self._rescan_keys:
                        break
                    if self._check_roots_now:
                        break
                    now = self._clock()
                    wake = min(self._next_root_check, self._next_rescan)
                    due = self._settler.next_due()
                    if due is not None:
                        wake = min(wake, due)
                    if wake <= now:
                        break
                    self._cond.wait(wake - now)
                if self._stopping:
                    return
                events, self._events = self._events, []
                commands, self._commands = self._commands, []
                rescan_all, self._rescan_all = self._rescan_all, False
                rescan_keys, self._rescan_keys = self._rescan_keys, set()
                check_roots, self._check_roots_now = self._check_roots_now, False
            try:
                self._cycle(events, commands, rescan_all, rescan_keys, check_roots)
            except Exception:
                logger.exception("intake: unexpected error; carrying on")
                with self._cond:
                    self._cond.wait(0.5)  # never spin on a persistent error

    def _cycle(
        self,
        events: list[tuple[WatchedFolder, FileSystemEvent]],
        commands: list[Callable[[], None]],
        rescan_all: bool,
        rescan_keys: set[str],
        check_roots: bool,
    ) -> None:
        for command in commands:
            command()
        now = self._clock()
        for folder, event in events:
            self._apply(folder, event, now)
        if check_roots or now >= self._next_root_check or self._check_roots_now:
            self._check_roots_now = False
            self._next_root_check = now + ROOT_CHECK_SECONDS
            self._check_roots()
        if now >= self._next_rescan:
            rescan_all = True
        if rescan_all:
            self._next_rescan = now + self._rescan_seconds
            rescan_keys = set(self._folders)
        for key in sorted(rescan_keys):
            target = self._folders.get(key)
            if target is not None and target.watch is not None:
                self._scan(target)
        for ready in self._settler.run_due(self._clock()):
            self._deliver(ready)

    def _apply(self, folder: WatchedFolder, event: FileSystemEvent, now: float) -> None:
        if self._folders.get(folder.key) is not folder:
            return  # from a watch that was replaced or removed
        src = folder.local(os.fsdecode(event.src_path))
        kind = event.event_type
        if event.is_directory:
            if kind == "deleted" and src == folder.root:
                self._check_roots_now = True  # the watched folder itself went away
            elif kind in ("deleted", "moved"):
                self._settler.drop_where(all_under([src]))
            if folder.spec.recursive and kind in ("created", "moved"):
                dest = folder.local(os.fsdecode(event.dest_path)) if kind == "moved" else src
                if self._dir_admitted(folder, dest):
                    self._scan(folder, dest)
            return
        if kind == "moved":
            closed = self._settler.take_closed(src, now)
            dest = folder.local(os.fsdecode(event.dest_path))
            self._touch(folder, dest, now, closed=closed, renamed=True)
        elif kind == "deleted":
            self._settler.drop(src)
        elif kind in ("created", "modified", "attrib", "closed"):
            self._touch(folder, src, now, closed=kind == "closed")

    def _touch(
        self, folder: WatchedFolder, path: str, now: float, *, closed: bool, renamed: bool = False
    ) -> None:
        rel = self._admit(folder, path)
        if rel is None:
            if path in self._settler:
                self._settler.drop(path)
            if closed:
                self._settler.note_closed(path, now)
            else:
                self._settler.note_written(path)
            return
        self._settler.activity(
            folder.key, path, rel, now, quiet=folder.quiet, closed=closed, renamed=renamed
        )

    def _admit(self, folder: WatchedFolder, path: str) -> str | None:
        """``path`` relative to the folder, or None when it is never to be reported."""
        if not path.startswith(folder.prefix) or path in folder.ignored:
            return None
        rel = path[len(folder.prefix) :]
        if not rel or folder.excluded(path):
            return None
        parts = rel.split(os.sep)
        if len(parts) > 1 and (
            not folder.spec.recursive or any(p.startswith(".") for p in parts[:-1])
        ):
            return None
        try:
            ignored = folder.spec.is_ignored(PurePath(rel))
        except Exception:
            logger.exception("is_ignored failed for {}; the file is left alone", path)
            ignored = True
        if ignored:
            if len(folder.ignored) >= _MAX_REMEMBERED:
                folder.ignored.clear()
            folder.ignored.add(path)
            return None
        return rel

    def _dir_admitted(self, folder: WatchedFolder, path: str) -> bool:
        if not path.startswith(folder.prefix) or folder.excluded(path):
            return False
        parts = path[len(folder.prefix) :].split(os.sep)
        return not any(p.startswith(".") for p in parts)

    def _scan(self, folder: WatchedFolder, top: str | None = None) -> None:
        """Make every new or changed regular file under ``top`` (default: the folder) a
        candidate. Only stats; files already reported unchanged cost one ``lstat``."""
        started = time.perf_counter()
        now, wall = self._clock(), time.time()
        settler, recursive = self._settler, folder.spec.recursive
        stack = [top or folder.root]
        found = 0
        while stack:
            directory = stack.pop()
            try:
                entries = os.scandir(directory)
            except (FileNotFoundError, NotADirectoryError):
                if directory == folder.root:
                    self._check_roots_now = True
                continue
            except OSError as exc:
                self._problem(
                    "unlistable", f"Cannot list {directory}: {exc.strerror or exc}.", directory
                )
                continue
            with entries:
                for entry in entries:
                    path = entry.path
                    try:
                        if entry.is_symlink():
                            if self._admit(folder, path) is not None:
                                self._problem("symlink", symlink_message(path), path)
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            if recursive and self._dir_admitted(folder, path):
                                stack.append(path)
                            continue
                        if not entry.is_file(follow_symlinks=False):
                            continue
                        st = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    sig = Signature.of(st)
                    if path in settler or settler.is_reported(path, sig):
                        continue
                    rel = self._admit(folder, path)
                    if rel is None:
                        continue
                    age = wall - st.st_mtime_ns / 1e9
                    settler.found(
                        folder.key, path, rel, sig=sig, age=age, now=now, quiet=folder.quiet
                    )
                    found += 1
        logger.debug(
            "scanned {} in {:.3f} s: {} new or changed file(s)",
            top or folder.root,
            time.perf_counter() - started,
            found,
        )

    def _deliver(self, ready: ReadyFile) -> None:
        folder = self._folders.get(ready.key)
        path = str(ready.path)
        if folder is None or self._admit(folder, path) is None:
            return  # the folder or its rules changed while the file settled
        try:
            self._on_ready(ready)
        except Exception:
            logger.exception("on_ready failed for {}; it is offered again on the next rescan", path)
            return
        self._settler.mark_reported(path, Signature(ready.size, ready.mtime_ns, ready.inode or 0))

    def _reconfigure(self, specs: list[WatchSpec]) -> None:
        new = {spec.key: spec for spec in specs}
        for key, folder in list(self._folders.items()):
            spec = new.get(key)
            if spec is not None and folder.same_watch(spec):
                folder.configure(spec, self._settle_seconds)
                for path in self._settler.keys_of(key):
                    if self._admit(folder, path) is None:
                        self._settler.drop(path)
                continue
            self._unwatch(folder)
            del self._folders[key]
            for path in self._settler.keys_of(key):
                self._settler.drop(path)
            self._settler.drop_where(all_under([folder.root]))
        for key, spec in new.items():
            if key not in self._folders:
                folder = self._folders[key] = WatchedFolder(
                    spec, self._settle_seconds, self._enqueue
                )
                if self._establish(folder):
                    self._scan(folder)
        self._specs = specs
        logger.debug("intake reconfigured: {} folder(s)", len(self._folders))

    # -- problems ----------------------------------------------------------------------------

    def _problem(self, kind: str, message: str, path: str) -> None:
        """A per-file problem, reported once per (kind, path)."""
        if (kind, path) in self._problems:
            return
        if len(self._problems) >= _MAX_REMEMBERED:
            self._problems.clear()
        self._problems.add((kind, path))
        self._tell(logging.INFO if kind == "symlink" else logging.WARNING, message, Path(path))

    def _tell(self, level: int, message: str, path: Path | None) -> None:
        if self._on_problem is None:
            logger.log(logging.getLevelName(level), message)
            return
        logger.debug(message)  # the engine logs it (at the level it chooses)
        try:
            self._on_problem(message, path)
        except Exception:
            logger.exception("on_problem failed")


def _new_observer(polling: bool, interval: float) -> BaseObserver:
    if polling:
        from watchdog.observers.polling import PollingObserverVFS

        # lstat: the polling snapshot must not follow links (loops, escapes) either.
        observer: BaseObserver = PollingObserverVFS(os.lstat, os.scandir, polling_interval=interval)
        observer.name = "floradrop-poll"
        return observer
    from watchdog.observers import Observer

    observer = Observer()
    observer.name = "floradrop-watch"
    return observer
