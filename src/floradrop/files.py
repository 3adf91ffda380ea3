"""Filesystem primitives that keep a person's files safe.

floradrop never deletes or overwrites a file it did not create. Everything it writes appears
under its final name only when complete (written to a temporary file in the same folder,
flushed, then linked into place), and a final name that is taken gets a " (2)" suffix instead of
replacing what is there.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import unicodedata
from pathlib import Path
from typing import IO, Any

TEMP_PREFIX = ".floradrop-"
TEMP_SUFFIX = ".part"
_CHUNK = 1 << 20

# Names Windows reserves whatever the extension (CON, NUL, COM1, ...).
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{i}" for p in ("COM", "LPT") for i in range(1, 10)}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
MAX_NAME_BYTES = 255
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sanitize_component(name: str, *, fallback: str = "output") -> str:
    """Make ``name`` safe as ONE file name on every OS: no separators, no traversal, no
    control characters, no reserved device names, no leading dots or dashes, bounded length."""
    name = unicodedata.normalize("NFC", name)
    name = _UNSAFE.sub("_", name)
    while name != (trimmed := name.strip().strip(".").lstrip("-")):  # "-.x" must not become ".x"
        name = trimmed
    if not name or name in {".", ".."}:
        name = fallback
    stem = name.split(".", 1)[0]
    if stem.upper() in _RESERVED:
        name = f"_{name}"
    return truncate_name(name)


def truncate_name(name: str, limit: int = MAX_NAME_BYTES - 40) -> str:
    """Shorten ``name`` to ``limit`` UTF-8 bytes, keeping its extension.

    The margin under the filesystem's 255 bytes leaves room for our temporary prefix and the
    " (n)" / sidecar ".json" suffixes.
    """
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or len(ext) > 16:
        stem, ext = name, ""
    budget = limit - len(ext.encode("utf-8")) - (1 if ext else 0)
    stem_bytes = stem.encode("utf-8")[:budget]
    stem = stem_bytes.decode("utf-8", errors="ignore")
    return f"{stem}.{ext}" if ext else stem


def numbered(name: str, n: int) -> str:
    """``photo.png`` -> ``photo (2).png``."""
    if n <= 1:
        return name
    name = truncate_name(name, MAX_NAME_BYTES - len(f" ({n})"))  # a 255-byte name still fits
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"


def temp_path(directory: Path, label: str) -> Path:
    """A temporary name in ``directory`` that no watcher or person mistakes for a result."""
    return directory / f"{TEMP_PREFIX}{truncate_name(label, 120)}{TEMP_SUFFIX}"


def open_fresh(path: Path, *, text: bool = False) -> IO[Any]:
    """Open ``path`` (a temporary name of ours) for writing as a new file: whatever is there is
    removed first, and a link is never followed, so a link someone planted under the name
    cannot make floradrop write to the file it points at."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o644)
    return os.fdopen(fd, "w", encoding="utf-8") if text else os.fdopen(fd, "wb")


def fsync_file(path: Path) -> None:
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _link_no_clobber(src: Path, dest: Path) -> None:
    """Make ``dest`` name the file ``src``, failing with FileExistsError if ``dest`` exists."""
    try:
        os.link(src, dest)
        return
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}:
            raise
    # No hard links here (FAT, some network shares): reserve the name exclusively, then
    # replace our own empty reservation.
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.close(fd)
    src.replace(dest)


def place(src: Path, directory: Path, name: str, *, max_tries: int = 10_000) -> Path:
    """Give the complete file ``src`` its final ``name`` in ``directory`` without overwriting.

    ``src`` must be on the same filesystem as ``directory`` (else ``OSError(EXDEV)``).
    Returns the final path; ``src`` no longer exists afterwards (its data is never absent:
    the new name is linked before the old one goes).
    """
    for n in range(1, max_tries + 1):
        dest = directory / numbered(name, n)
        try:
            _link_no_clobber(src, dest)
        except FileExistsError:
            if _same_file(src, dest):  # linked before a crash: finish the move
                src.unlink()
                return dest
            continue
        if _same_file(src, dest):
            src.unlink()
        fsync_dir(directory)
        return dest
    raise FileExistsError(f"no free name for {name} in {directory}")


def move_no_clobber(src: Path, directory: Path, name: str | None = None) -> Path:
    """Move a person's file into ``directory`` (a new name if taken); never overwrites.

    On one filesystem this links then unlinks (the file is never absent); across filesystems it
    copies to a temporary file, flushes, places it, and only then removes the original.
    """
    directory.mkdir(parents=True, exist_ok=True)
    name = name or src.name
    try:
        dest = place(src, directory, name)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        temp = temp_path(directory, src.name)
        try:
            shutil.copy2(src, temp)
            fsync_file(temp)
            dest = place(temp, directory, name)
        except BaseException:
            temp.unlink(missing_ok=True)  # the original stays where it is
            raise
        src.unlink()
    return dest


def write_text_atomic(
    directory: Path, name: str, text: str, *, staging: Path | None = None
) -> Path:
    """Write a small text file (report, sidecar) atomically under a free name (the temporary
    file in ``staging`` when given: a folder on the same filesystem that nobody watches)."""
    directory.mkdir(parents=True, exist_ok=True)
    if staging is not None:
        staging.mkdir(parents=True, exist_ok=True)
    temp = temp_path(staging or directory, name)
    try:
        with open_fresh(temp, text=True) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return place(temp, directory, name)
    except BaseException:
        temp.unlink(missing_ok=True)  # e.g. a full disk: no half-written file stays behind
        raise


def replace_text_atomic(path: Path, text: str, *, staging: Path | None = None) -> Path:
    """Write floradrop's own small text file (a report, a sidecar) atomically, replacing the
    one at ``path`` (the temporary file in ``staging`` when given: a folder on the same
    filesystem that nobody watches). Never used on a person's file."""
    if staging is not None:
        staging.mkdir(parents=True, exist_ok=True)
    temp = temp_path(staging or path.parent, path.name)
    try:
        with open_fresh(temp, text=True) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def clean_temp_files(directory: Path) -> int:
    """Remove floradrop's own leftover temporary files (from a crash) in ``directory``."""
    removed = 0
    if not directory.is_dir():
        return 0
    for entry in directory.iterdir():
        if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
            with contextlib.suppress(OSError):
                entry.unlink()
                removed += 1
    return removed
