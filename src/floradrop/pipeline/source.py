"""Source: is the file a job was made from still the file that was dropped? One check for every
stage, and it never follows a link.

A job's source is known by what the journal recorded at admission: its path, size and
modification time. :func:`still_ours` compares them with ``lstat`` of the path: a regular file
(a symbolic link, a fifo or a folder put in its place is not the dropped file) with the same
size and modification time. Admission (a job whose file went before its upload), the upload
stage, fetching (a file saved again after its run was created) and filing away all ask it.

Reading the bytes goes through :func:`opened`: the path is opened without following a link
(``O_NOFOLLOW``; ``O_NONBLOCK`` so that a fifo put in its place never blocks), the descriptor is
checked with ``fstat`` against the journal, and against ``lstat`` of the path (the same device
and inode: the name still leads to the file that is open), and the bytes are read from that
descriptor (:func:`reader`). A link swapped in at any instant is therefore never read: before
the open it is refused by ``O_NOFOLLOW`` (where the platform has no such flag, by the inode
comparison), after the open the descriptor still holds the checked file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

from floradrop.errors import JobError
from floradrop.journal import Job

_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)  # POSIX: opening a symbolic link fails with ELOOP
    | getattr(os, "O_NONBLOCK", 0)  # a fifo opens at once (and fails the regular-file check)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)  # Windows
)
_CHUNK: Final = 1024 * 1024
# What opening with O_NOFOLLOW | O_NONBLOCK answers for something other than a file: ELOOP (a
# link; EMLINK on FreeBSD), ENXIO (a fifo or socket with no one at the other end), EISDIR.
_NOT_A_FILE: Final = frozenset({errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EISDIR})


class SourceGone(Exception):  # noqa: N818 - a signal for the engine, not shown as an error
    """The dropped file was deleted, moved or rewritten before its run was started."""


def _matches(found: os.stat_result, size: int, mtime_ns: int) -> bool:
    return stat.S_ISREG(found.st_mode) and (found.st_size, found.st_mtime_ns) == (size, mtime_ns)


def _same_file(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def still_ours(job: Job, fd: int | None = None) -> bool:
    """The job's source is still the dropped file: at its path a regular file (never a link)
    with the journaled size and modification time; with ``fd``, also the very file open on
    ``fd``."""
    return _problem(Path(job.source_path), job.size, job.mtime_ns, fd) is None


def superseded(job: Job) -> bool:
    """Something is at the job's path, but not the dropped file (saved again since, or another
    kind of file put in its place)."""
    return os.path.lexists(job.source_path) and not still_ours(job)


def check(job: Job, fd: int | None = None) -> None:
    """:func:`still_ours`, or :class:`SourceGone` saying what happened."""
    problem = _problem(Path(job.source_path), job.size, job.mtime_ns, fd)
    if problem is not None:
        raise SourceGone(problem)


def _problem(path: Path, size: int, mtime_ns: int, fd: int | None) -> str | None:
    try:
        found = path.lstat()
    except FileNotFoundError:
        return f"{path.name} was removed before it was uploaded"
    except OSError as exc:
        return f"{path.name} cannot be looked at ({exc.strerror or exc})"
    if stat.S_ISLNK(found.st_mode):
        return (
            f"{path.name} was replaced by a symbolic link before it was uploaded; floradrop "
            "never follows links, so nothing was sent or run"
        )
    if not _matches(found, size, mtime_ns):
        return (
            f"{path.name} changed before its run was started (superseded: nothing is run "
            "for the earlier version; the new version is a new job)"
        )
    if fd is not None:
        opened = os.fstat(fd)
        if not _same_file(opened, found) or not _matches(opened, size, mtime_ns):
            return (
                f"{path.name} was replaced before its run was started (superseded: nothing "
                "is run for the earlier version)"
            )
    return None


@contextmanager
def opened(job: Job) -> Iterator[int]:
    """The job's source, opened without following links and checked (:func:`check` with the
    descriptor): read its bytes with :func:`reader`. Raises :class:`SourceGone`, or
    :class:`JobError` when the file may not be read."""
    path = Path(job.source_path)
    try:
        fd = _open_checked(path, job.size, job.mtime_ns)
    except PermissionError as exc:
        raise unreadable(path, exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


def unreadable(path: Path, exc: OSError) -> JobError:
    """The job error for a file that may not be read (the user can fix it, then retry)."""
    return JobError(
        f"cannot read {path.name}: {exc.strerror or exc}",
        hint="give your user read access to the file, then 'floradrop retry' it",
    )


def _open_checked(path: Path, size: int, mtime_ns: int) -> int:
    """A descriptor on the file settled or journaled at ``path`` (the caller closes it)."""
    try:
        fd = os.open(path, _FLAGS)
    except FileNotFoundError:
        raise SourceGone(f"{path.name} was removed before it was uploaded") from None
    except OSError as exc:
        if exc.errno not in _NOT_A_FILE:
            raise
        raise SourceGone(
            _problem(path, size, mtime_ns, None) or f"{path.name} is not a regular file"
        ) from None
    try:
        problem = _problem(path, size, mtime_ns, fd)
    except BaseException:
        os.close(fd)
        raise
    if problem is not None:
        os.close(fd)
        raise SourceGone(problem)
    return fd


class NotAFile(Exception):  # noqa: N818 - a kind of file, not a failure of floradrop's
    """A symbolic link, fifo, folder or device where a file of its own was expected."""


def open_file(path: Path) -> int:
    """``path`` opened for reading if it is a regular file of its own (a sidecar: a file with
    no journaled identity), never through a link; the caller closes the descriptor. Raises
    :class:`NotAFile`, ``FileNotFoundError`` or another ``OSError``."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno in _NOT_A_FILE:
            raise NotAFile(path.name) from None
        raise
    try:
        opened_stat, found = os.fstat(fd), path.lstat()
    except BaseException:
        os.close(fd)
        raise
    if not stat.S_ISREG(opened_stat.st_mode) or not _same_file(opened_stat, found):
        os.close(fd)
        raise NotAFile(path.name)
    return fd


def reader(fd: int) -> BinaryIO:
    """A new binary file over ``fd``'s file, from its first byte (close it; ``fd`` stays
    open). Readers of one descriptor share its offset: use one at a time."""
    handle = open(os.dup(fd), "rb", closefd=True)  # noqa: PTH123, SIM115 - caller closes it
    handle.seek(0)
    return handle


def settled_hash(path: Path, size: int, mtime_ns: int) -> str:
    """The SHA-256 of the file that settled at ``path`` (``size`` bytes, modified at
    ``mtime_ns``), read without following links. Raises ``FileNotFoundError`` when something
    else is there now (changed, replaced by a link): the watcher reports its new state."""
    try:
        fd = _open_checked(path, size, mtime_ns)
    except SourceGone as exc:
        raise FileNotFoundError(errno.ENOENT, str(exc), str(path)) from None
    try:
        return sha256_fd(fd)
    finally:
        os.close(fd)


def sha256_fd(fd: int) -> str:
    """The SHA-256 of the file open on ``fd``, from its first byte."""
    digest = hashlib.sha256()
    with reader(fd) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
