"""Settle: a candidate path becomes a ready file once it is completely written.

A candidate is any path the watcher has heard about (an event or a scan). It is *ready* when
one of two signals says the writer is done:

* **quiet**: no event for the quiet period (``settle_seconds``) and two stats at least a probe
  interval apart agree on size, mtime and inode (chokidar's ``awaitWriteFinish``, paperless-ngx's
  stability delay);
* **closed** (Linux fast path): a close-write event arrived and a stat right then equals a stat
  ``FAST_PROBE`` later, with no event in between. A zero-byte file never takes the fast path
  (it is often a placeholder about to be written) and waits for the full quiet period.

A close is evidence, not proof: writers append in bursts (open, append, close, again), save by
truncating and rewriting, or take turns. So the fast path is taken only when the bytes prove
the file whole for its type (:mod:`floradrop.pipeline.complete`: JPEG end marker, PNG ``IEND``,
MP4 ``moov``...), or when the file was *published* whole: renamed from a closed temporary name
(``x.part`` -> ``x``) or moved in with an old mtime. Anything else (a prompt ``.txt``, a type
with no end marker) waits the quiet period after its last close. And whatever the path, a file
whose bytes are cut short (a JPEG with no end marker, UTF-8 cut inside a character) is "not
settled yet": it waits for more bytes, for at most :func:`incomplete_grace` of quiet, then goes
on to be judged (and failed, with a report) by the precheck.

Before a file is reported it must also open for reading (Windows writers hold exclusive locks;
an unreadable file is reported as a problem instead of failing later). A file that vanishes is
dropped; one that changes goes back to waiting.

:class:`Settler` is one thread's state machine: a heap ordered by due time, with no thread per
file and no I/O beyond ``lstat`` and ``open``. The clock is passed in, so the timing rules are
tested without sleeping. :class:`floradrop.pipeline.watch.Intake` drives it from its single
settle thread.
"""

from __future__ import annotations

import heapq
import itertools
import os
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import NamedTuple

from loguru import logger

from floradrop.pipeline import complete

FAST_PROBE = 0.05
"""Seconds between the two stats of the close-write fast path."""

MAX_PROBE = 0.25
"""Longest interval between the two stats of the quiet path (shorter: a quarter of the period)."""

MAX_REPORTED = 250_000
"""Files remembered as reported (path -> size, mtime, inode); the oldest are forgotten first."""

INCOMPLETE_GRACE = 10.0
"""Least quiet time after which a file whose bytes look cut short is reported anyway."""

_EPSILON = 1e-6
_MAX_CLOSED = 4096
_CLOSED_TTL = 30.0

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_WINDOWS_LOCKED = {32, 33}  # ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION


@dataclass(frozen=True, slots=True)
class ReadyFile:
    """A completely written file, as reported to the engine."""

    key: str
    path: Path
    rel: PurePath
    size: int
    mtime_ns: int
    inode: int | None


class Signature(NamedTuple):
    """What "the same file, unchanged" means: two stats agreeing on all three."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, st: os.stat_result) -> Signature:
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


ProblemSink = Callable[[str, str, str], None]
"""``(kind, message, path)``: a file that cannot become ready for a reason a person can fix."""


class _Candidate:
    __slots__ = (
        "atomic",
        "closed",
        "due",
        "entry_due",
        "entry_seq",
        "fresh",
        "key",
        "last_activity",
        "path",
        "quiet",
        "rel",
        "sig",
        "sig_at",
    )

    def __init__(self, key: str, path: str, rel: str, quiet: float) -> None:
        self.key = key
        self.path = path
        self.rel = rel
        self.quiet = quiet
        self.last_activity = 0.0
        self.closed = False  # a close-write came after the last other activity
        self.atomic = False  # published whole: renamed from a closed temp, or moved in old
        self.sig: Signature | None = None  # the first stat of the current stable run
        self.fresh = False  # no stat since the last event
        self.sig_at = 0.0
        self.due = 0.0
        self.entry_seq = -1  # the heap entry that is current for this candidate
        self.entry_due = 0.0


def probe_interval(quiet: float) -> float:
    """Time between the two stats that must agree on the quiet path."""
    return min(MAX_PROBE, quiet / 4)


def incomplete_grace(quiet: float) -> float:
    """How long a file whose bytes look cut short may stay quiet before it is reported anyway
    (a broken file must reach the precheck and its report, not wait for ever)."""
    return max(INCOMPLETE_GRACE, 5 * quiet)


class Settler:
    """Candidates waiting to be completely written; single-threaded (the settle thread).

    Feed it with :meth:`activity` (events) and :meth:`found` (scans); call :meth:`run_due` at
    :meth:`next_due`. Ready files are returned once per (path, size, mtime, inode): call
    :meth:`mark_reported` after handing one over. ``rel`` is the path relative to its watched
    folder, kept as a string (a ``PurePath`` per waiting file would double the memory).
    """

    def __init__(
        self,
        *,
        problem: ProblemSink | None = None,
        check_open: bool = True,
        check_content: bool = True,
        max_reported: int = MAX_REPORTED,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._problem = problem
        self._wall = wall_clock
        self._check_open = check_open
        self._check_content = check_content
        self._candidates: dict[str, _Candidate] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._reported: dict[str, Signature] = {}
        self._max_reported = max_reported
        self._closed: dict[str, float] = {}  # non-candidates (e.g. "x.part") closed after writing

    def __len__(self) -> int:
        return len(self._candidates)

    def __contains__(self, path: str) -> bool:
        return path in self._candidates

    def keys_of(self, key: str) -> list[str]:
        return [path for path, c in self._candidates.items() if c.key == key]

    # -- input -------------------------------------------------------------------------------

    def activity(
        self,
        key: str,
        path: str,
        rel: str,
        now: float,
        *,
        quiet: float,
        closed: bool = False,
        renamed: bool = False,
    ) -> None:
        """An event for ``path``: (re)start waiting. ``closed``: a close-write (fast path);
        ``renamed`` with ``closed``: renamed here from a closed temporary name (published)."""
        cand = self._candidates.get(path)
        if cand is None:
            cand = self._candidates[path] = _Candidate(key, path, rel, quiet)
        cand.quiet = quiet
        cand.last_activity = now
        cand.closed = closed
        cand.atomic = closed and renamed
        cand.sig = None
        cand.fresh = True
        self._closed.pop(path, None)
        # A first look soon even without a close: a file moved in whole (an old mtime) need
        # not wait the quiet period (see _advance).
        self._schedule(cand, now if closed else now + min(FAST_PROBE, quiet))

    def found(
        self,
        key: str,
        path: str,
        rel: str,
        *,
        sig: Signature,
        age: float,
        now: float,
        quiet: float,
    ) -> None:
        """A scan found ``path`` (stat ``sig``, last modified ``age`` seconds ago)."""
        if path in self._candidates:
            return
        cand = self._candidates[path] = _Candidate(key, path, rel, quiet)
        cand.last_activity = now - max(0.0, age)
        cand.sig = sig
        cand.sig_at = now
        self._schedule(cand, max(now + probe_interval(quiet), cand.last_activity + quiet))

    def note_closed(self, path: str, now: float) -> None:
        """A close-write on a path that is not a candidate (an ignored ``x.part``)."""
        if len(self._closed) >= _MAX_CLOSED:
            for old in list(self._closed)[: _MAX_CLOSED // 4]:
                del self._closed[old]
        self._closed[path] = now

    def note_written(self, path: str) -> None:
        """Other activity on a non-candidate: a close-write seen before no longer holds."""
        self._closed.pop(path, None)

    def take_closed(self, path: str, now: float) -> bool:
        """Drop ``path`` (renamed away); True if its last activity was a close-write, so the
        rename target can take the fast path (``x.part`` written, closed, renamed to ``x``)."""
        cand = self._candidates.pop(path, None)
        closed_at = self._closed.pop(path, None)
        self._reported.pop(path, None)
        if cand is not None:
            return cand.closed
        return closed_at is not None and now - closed_at <= _CLOSED_TTL

    def drop(self, path: str) -> None:
        """``path`` is gone (deleted, moved out) or handled elsewhere."""
        self._candidates.pop(path, None)
        self._closed.pop(path, None)
        self._reported.pop(path, None)

    def drop_where(self, predicate: Callable[[str], bool], *, reported: bool = True) -> int:
        """Drop every candidate (and remembered report) whose path matches; returns how many."""
        gone = [p for p in self._candidates if predicate(p)]
        for path in gone:
            del self._candidates[path]
        if reported:
            for path in [p for p in self._reported if predicate(p)]:
                del self._reported[path]
        return len(gone)

    # -- reported memory ---------------------------------------------------------------------

    def is_reported(self, path: str, sig: Signature) -> bool:
        return self._reported.get(path) == sig

    def mark_reported(self, path: str, sig: Signature) -> None:
        self._reported.pop(path, None)
        if len(self._reported) >= self._max_reported:
            for old in list(itertools.islice(self._reported, self._max_reported // 10 or 1)):
                del self._reported[old]
        self._reported[path] = sig

    @property
    def reported_count(self) -> int:
        return len(self._reported)

    # -- the clock ---------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """When :meth:`run_due` has work (may be early: stale entries are skipped then)."""
        return self._heap[0][0] if self._heap else None

    def run_due(self, now: float) -> list[ReadyFile]:
        """Advance every candidate that is due; return those that became ready."""
        ready: list[ReadyFile] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, seq, path = heapq.heappop(heap)
            cand = self._candidates.get(path)
            if cand is None or cand.entry_seq != seq:
                continue  # dropped, or superseded by an earlier entry
            cand.entry_seq = -1
            if cand.due > now:
                self._push(cand)  # activity moved it later since this entry was pushed
                continue
            result = self._advance(cand, now)
            if result is not None:
                ready.append(result)
        return ready

    def _advance(self, cand: _Candidate, now: float) -> ReadyFile | None:
        sig = self._stat(cand.path)
        if sig is None:
            del self._candidates[cand.path]
            return None
        if cand.fresh:
            cand.fresh = False  # the first look after an event, and only that one:
            # Last written longer ago than the quiet period (a file moved or linked in whole,
            # keeping its mtime): like a close-write, a second stat that agrees is enough.
            # A file being written has an mtime of about now.
            if not cand.closed and sig.size > 0 and self._wall() - sig.mtime_ns / 1e9 >= cand.quiet:
                cand.closed = cand.atomic = True
        if cand.sig is None or sig != cand.sig:
            if cand.sig is not None:
                # Changed without an event (missed events, network shares, mmap): activity.
                cand.last_activity = now
                cand.closed = cand.atomic = False
            cand.sig, cand.sig_at = sig, now
            if cand.closed:
                self._schedule(cand, now + min(FAST_PROBE, cand.quiet))
            else:
                self._schedule(
                    cand, max(now + probe_interval(cand.quiet), cand.last_activity + cand.quiet)
                )
            return None

        # Times are compared with a small tolerance: ``due - sig_at`` may round below the interval.
        stable_for = now - cand.sig_at + _EPSILON
        fast_probe = min(FAST_PROBE, cand.quiet)
        probe = probe_interval(cand.quiet)
        fast = cand.closed and sig.size > 0 and stable_for >= fast_probe
        quiet = now - cand.last_activity + _EPSILON >= cand.quiet and stable_for >= probe
        if not (fast or quiet):
            if sig.size == 0:
                cand.closed = False  # a zero-byte file waits the full quiet period
            if cand.closed:
                due = cand.sig_at + fast_probe
            else:
                due = max(cand.last_activity + cand.quiet, cand.sig_at + probe)
            self._schedule(cand, max(due, now + _EPSILON))
            return None

        if not self._whole(cand, sig, now, fast=fast and not quiet):
            return None
        readable = self._readable(cand.path) if self._check_open else True
        if readable is None:
            del self._candidates[cand.path]
            return None
        if not readable:  # locked by its writer (Windows): try again soon
            self._schedule(cand, now + probe_interval(cand.quiet))
            return None
        del self._candidates[cand.path]
        if self.is_reported(cand.path, sig):
            return None
        return ReadyFile(
            key=cand.key,
            path=Path(cand.path),
            rel=PurePath(cand.rel),
            size=sig.size,
            mtime_ns=sig.mtime_ns,
            inode=sig.inode or None,
        )

    def _whole(self, cand: _Candidate, sig: Signature, now: float, *, fast: bool) -> bool:
        """Do the bytes bear out what the timing says? If not, schedule the next look."""
        verdict = complete.check(cand.path, sig.size) if self._check_content else complete.UNKNOWN
        if fast and not cand.atomic and verdict is not complete.COMPLETE:
            # Closed, but nothing proves the writer is done (a prompt written in bursts):
            # the quiet period after the last close decides.
            cand.closed = False
            self._schedule(cand, max(cand.last_activity + cand.quiet, now + _EPSILON))
            return False
        if verdict is complete.INCOMPLETE and not cand.atomic:
            quiet_for = now - cand.last_activity
            if quiet_for < incomplete_grace(cand.quiet):
                logger.debug("{} is cut short for its type; waiting for the rest", cand.path)
                cand.closed = False
                self._schedule(cand, now + max(cand.quiet, 0.5))
                return False
            logger.info(
                "{} still looks cut short after {:.0f} s of quiet; taking it as it is",
                cand.path,
                quiet_for,
            )
        return True

    def _schedule(self, cand: _Candidate, due: float) -> None:
        cand.due = due
        if cand.entry_seq < 0 or due < cand.entry_due:
            self._push(cand)

    def _push(self, cand: _Candidate) -> None:
        seq = next(self._seq)
        cand.entry_seq, cand.entry_due = seq, cand.due
        heapq.heappush(self._heap, (cand.due, seq, cand.path))

    # -- I/O at the edge ---------------------------------------------------------------------

    def _stat(self, path: str) -> Signature | None:
        """The file's signature, or None when it cannot become ready (reason reported)."""
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            logger.debug("{} vanished while settling", path)
            return None
        except PermissionError:
            self._report("unreadable", f"Cannot look at {path}: permission denied.", path)
            return None
        except OSError as exc:
            self._report("error", f"Cannot look at {path}: {exc.strerror or exc}.", path)
            return None
        if stat.S_ISLNK(st.st_mode):
            self._report("symlink", symlink_message(path), path)
            return None
        if not stat.S_ISREG(st.st_mode):
            logger.debug("{} is not a regular file; ignored", path)
            return None
        return Signature.of(st)

    def _readable(self, path: str) -> bool | None:
        """True: opens for reading; False: locked by its writer; None: cannot become ready."""
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            logger.debug("{} vanished while settling", path)
            return None
        except PermissionError as exc:
            if sys.platform == "win32" and getattr(exc, "winerror", None) in _WINDOWS_LOCKED:
                return False
            self._report(
                "unreadable",
                f"Cannot read {path}: permission denied. Give your user read access to the "
                "file (it is picked up as soon as it changes).",
                path,
            )
            return None
        except OSError as exc:
            if getattr(exc, "winerror", None) in _WINDOWS_LOCKED:
                return False
            self._report("error", f"Cannot open {path}: {exc.strerror or exc}.", path)
            return None
        os.close(fd)
        return True

    def _report(self, kind: str, message: str, path: str) -> None:
        if self._problem is not None:
            self._problem(kind, message, path)
        else:
            logger.warning(message)


def symlink_message(path: str) -> str:
    return f"{path} is a symbolic link; floradrop never follows links, so it is ignored."


def all_under(prefixes: Iterable[str]) -> Callable[[str], bool]:
    """A predicate: is a path one of ``prefixes`` or inside one of them?"""
    exact = tuple(prefixes)
    inside = tuple(p.rstrip(os.sep) + os.sep for p in exact)
    return lambda path: path in exact or path.startswith(inside)
