"""Hold points: a folder with ``review = true`` keeps its outputs for a person to look at.

Each output (with its provenance sidecar ``{output}.json``) is written into the folder's
``review_folder`` instead of ``outputs``. A person then moves it:

* into ``approved``: when the folder is chained (its ``outputs`` is the next folder's inbox),
  the output and its sidecar are passed on to that inbox the way chains do it (linked into
  the hidden staging folder next to the inbox, then linked in under their final name, the
  sidecar first, so the next folder never sees a partial file and finds the provenance of the
  earlier step); the next folder files both away with its done originals. When the folder is
  not chained, the output simply stays in ``approved``;
* into ``rejected``: it stays there and nothing more happens.

Nothing is ever deleted: a passed-on output lives on in the next inbox (then in the next
folder's done folder). :class:`Reviewer` rescans the ``approved`` folders of chained review
folders every ``interval`` seconds; a file counts once it is unchanged across two scans, and
floradrop's own temporary files, hidden files and sidecars are never taken as approvals.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final

from loguru import logger

from floradrop import failpoints
from floradrop.config.folders import FolderConfig
from floradrop.files import TEMP_PREFIX, TEMP_SUFFIX, fsync_dir, fsync_file, numbered, temp_path
from floradrop.workflows import chains

RESCAN_SECONDS: Final = 1.0


def outputs_dir(folder: FolderConfig) -> Path:
    """Where a folder's outputs are written: its review folder when it has a hold point."""
    return folder.review_folder if folder.review else folder.outputs


def staging_for(folder: FolderConfig, folders: Sequence[FolderConfig]) -> Path | None:
    """The chain's staging folder, unless outputs wait for review (they are not in an inbox)."""
    return None if folder.review else chains.staging_dir(folder, folders)


def folders_to_create(folder: FolderConfig) -> tuple[Path, ...]:
    return (folder.review_folder, folder.approved, folder.rejected) if folder.review else ()


def _is_output(path: Path) -> bool:
    """A person's output file: not hidden, not a sidecar, not one of our temporary files."""
    name = path.name
    if name.startswith(".") or (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
        return False
    if name.endswith(chains.SIDECAR_SUFFIX):
        output = path.with_name(name[: -len(chains.SIDECAR_SUFFIX)])
        # a sidecar, next to its output or left behind when a person moved the output alone
        if output.exists() or chains.previous_provenance(output) is not None:
            return False
    return not path.is_symlink() and path.is_file()


def outputs_in(directory: Path) -> list[Path]:
    try:
        entries = sorted(directory.iterdir())
    except OSError:
        return []
    return [entry for entry in entries if _is_output(entry)]


def waiting(folders: Sequence[FolderConfig]) -> dict[Path, int]:
    """Each review folder's path (the inbox) -> how many outputs wait for review."""
    return {f.path: len(outputs_in(f.review_folder)) for f in folders if f.review}


def _stage(src: Path, staging: Path, label: str) -> Path:
    """A second name for ``src`` in ``staging`` (a copy when across filesystems)."""
    staging.mkdir(parents=True, exist_ok=True)
    temp = temp_path(staging, label)
    temp.unlink(missing_ok=True)
    try:
        os.link(src, temp)
    except OSError as exc:
        if exc.errno not in {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP}:
            raise
        shutil.copy2(src, temp)
        fsync_file(temp)
    return temp


def _free_name(inbox: Path, name: str) -> str:
    for n in range(1, 10_000):
        candidate = numbered(name, n)
        sidecar = candidate + chains.SIDECAR_SUFFIX
        if not (inbox / candidate).exists() and not (inbox / sidecar).exists():
            return candidate
    raise FileExistsError(f"no free name for {name} in {inbox}")


def _linked_in(path: Path, places: Sequence[Path]) -> Path | None:
    """Another name of ``path`` (the same file: a hard link) in one of ``places``, if any.

    Only a file with more than one link is looked for: after a crash between linking an
    approved output into the next inbox and unlinking it here, both names are the one file."""
    try:
        stat = path.stat()
    except OSError:
        return None
    if stat.st_nlink < 2:
        return None
    for place in places:
        try:
            entries = list(os.scandir(place))
        except OSError:
            continue
        for entry in entries:
            with contextlib.suppress(OSError):
                found = entry.stat(follow_symlinks=False)
                if (found.st_ino, found.st_dev) == (stat.st_ino, stat.st_dev):
                    return Path(entry.path)
    return None


def pass_on(
    output: Path,
    inbox: Path,
    staging: Path,
    held: Path | None = None,
    taken: Sequence[Path] = (),
) -> Path:
    """Move an approved ``output`` (and its sidecar) into the next folder's ``inbox``.

    The sidecar is taken from next to the output, else from ``held`` (the review folder: a
    person may move the output alone). Both are linked into ``staging`` first, then linked in
    under one free name (the sidecar first), and only then unlinked from where they were.
    Never overwrites anything.

    A move a crash cut short is finished, not made twice: an output already linked into the
    inbox (or into ``taken``, where the next folder files its originals) is only unlinked
    here, and a sidecar already linked in gives the output its name."""
    sidecar = output.with_name(output.name + chains.SIDECAR_SUFFIX)
    if chains.previous_provenance(output) is None and held is not None:
        sidecar = held / sidecar.name
    has_sidecar = chains.previous_provenance(sidecar.with_name(output.name)) is not None
    there = _linked_in(output, [inbox, *taken])
    if there is not None:
        output.unlink()
        if has_sidecar and _linked_in(sidecar, [inbox, *taken]) is not None:
            sidecar.unlink()
        logger.info("finished passing {} on to {} (cut short earlier)", output.name, inbox)
        return there
    linked_sidecar = _linked_in(sidecar, [inbox]) if has_sidecar else None
    name = None
    if linked_sidecar is not None:
        name = linked_sidecar.name.removesuffix(chains.SIDECAR_SUFFIX)
        if (inbox / name).exists():
            name, linked_sidecar = None, None
    name = name or _free_name(inbox, output.name)
    staged = _stage(output, staging, output.name)
    staged_sidecar = (
        _stage(sidecar, staging, sidecar.name) if has_sidecar and not linked_sidecar else None
    )
    try:
        if staged_sidecar is not None:
            os.link(staged_sidecar, inbox / (name + chains.SIDECAR_SUFFIX))
        os.link(staged, inbox / name)
        fsync_dir(inbox)
        failpoints.reached(failpoints.REVIEW_LINKED)
        output.unlink()
        if has_sidecar:
            sidecar.unlink()
    finally:
        staged.unlink(missing_ok=True)
        if staged_sidecar is not None:
            staged_sidecar.unlink(missing_ok=True)
    return inbox / name


class Reviewer:
    """Passes approved outputs of chained review folders on to the next inbox."""

    def __init__(
        self,
        folders: Callable[[], Sequence[FolderConfig]],
        *,
        interval: float = RESCAN_SECONDS,
        on_problem: Callable[[str], None] | None = None,
    ) -> None:
        self._folders = folders  # read at each pass: a reloaded config applies at once
        self._interval = interval
        self._on_problem = on_problem
        self._seen: dict[Path, tuple[int, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="floradrop-review", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.scan()

    def scan(self) -> list[Path]:
        """One pass: every approved output unchanged since the last pass is passed on."""
        passed: list[Path] = []
        seen: dict[Path, tuple[int, int]] = {}
        folders = self._folders()
        for folder in [f for f in folders if f.review and chains.feeds_inbox(f, folders)]:
            staging = folder.outputs.parent / chains.STAGING_NAME
            following = chains.next_folder(folder, folders)
            taken = [] if following is None else [following.done, following.failed]
            for output in outputs_in(folder.approved):
                try:
                    stat = output.stat()
                except OSError:
                    continue
                seen[output] = (stat.st_size, stat.st_mtime_ns)
                if self._seen.get(output) != seen[output]:
                    continue  # new or still being written: next pass
                try:
                    passed.append(
                        pass_on(
                            output,
                            folder.outputs,
                            staging,
                            folder.review_folder,
                            taken,
                        )
                    )
                except OSError as exc:
                    message = f"could not pass {output.name} on to {folder.outputs}: {exc}"
                    logger.warning(message)
                    if self._on_problem is not None:
                        with contextlib.suppress(Exception):
                            self._on_problem(message)
                    continue
                seen.pop(output, None)
                logger.info("approved {} passed on to {}", output.name, folder.outputs)
        self._seen = seen
        return passed
