"""The watched folders' data: what the engine asks to watch (:class:`WatchSpec`) and each
folder's live state while :class:`floradrop.pipeline.watch.Intake` watches it."""

# String paths, not pathlib, on purpose (as in pipeline.watch).
# ruff: noqa: PTH100, PTH118

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from floradrop.pipeline.settle import all_under

if TYPE_CHECKING:
    from watchdog.observers.api import BaseObserver, ObservedWatch


def _never(rel: PurePath) -> bool:
    return False


@dataclass(frozen=True)
class WatchSpec:
    """One folder to watch, as the engine sees it."""

    key: str
    """The folder's key (the engine uses the folder's index or path string)."""
    path: Path
    """Absolute path of the inbox."""
    recursive: bool = False
    polling: bool = False
    """Use a polling observer (network shares); interval ``Intake(polling_interval=...)``."""
    exclude: tuple[Path, ...] = ()
    """Paths never reported, even inside the folder (outputs, done, failed)."""
    is_ignored: Callable[[PurePath], bool] = _never
    """Pure predicate on the path relative to ``path``: junk and the folder's ignore patterns."""
    settle_seconds: float | None = None
    """Quiet period for this folder; None: the Intake's ``settle_seconds``."""


class WatchedFolder:
    """A watched folder's live state (owned by the settle thread once started)."""

    def __init__(
        self, spec: WatchSpec, quiet: float, sink: Callable[[WatchedFolder, FileSystemEvent], None]
    ) -> None:
        self.handler = _Handler(self, sink)
        self.watch: ObservedWatch | None = None
        self.observer: BaseObserver | None = None
        self.identity: tuple[int, int] | None = None
        self.missing = False  # reported missing; cleared when watched again
        self.watch_root: str | None = None  # the target, when the folder itself is a link
        self.configure(spec, quiet)

    def configure(self, spec: WatchSpec, quiet: float) -> None:
        self.spec = spec
        self.key = spec.key
        self.root = os.path.abspath(spec.path)
        self.prefix = os.path.join(self.root, "")
        self.quiet = spec.settle_seconds if spec.settle_seconds is not None else quiet
        excludes = [os.path.abspath(p) for p in spec.exclude]
        self.excluded: Callable[[str], bool] = all_under(excludes) if excludes else _never_str
        self.ignored: set[str] = set()

    def local(self, path: str) -> str:
        """An event path under the watched target, as a path under the configured folder."""
        if self.watch_root is None:
            return path
        if path == self.watch_root:
            return self.root
        target = os.path.join(self.watch_root, "")
        return self.prefix + path[len(target) :] if path.startswith(target) else path

    def same_watch(self, spec: WatchSpec) -> bool:
        return (
            os.path.abspath(spec.path) == self.root
            and spec.recursive == self.spec.recursive
            and spec.polling == self.spec.polling
        )


def _never_str(path: str) -> bool:
    return False


class _Handler(FileSystemEventHandler):
    """Runs on watchdog's dispatch thread: enqueue, nothing else."""

    def __init__(
        self, folder: WatchedFolder, sink: Callable[[WatchedFolder, FileSystemEvent], None]
    ) -> None:
        self._folder = folder
        self._sink = sink

    def dispatch(self, event: FileSystemEvent) -> None:
        self._sink(self._folder, event)


class OverflowListener(logging.Handler):
    """Watchdog says so in a log line when the kernel dropped events: rescan then."""

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            if "overflow" in record.getMessage().lower():
                self._on_overflow()


def unique_specs(specs: Sequence[WatchSpec]) -> list[WatchSpec]:
    keys = [spec.key for spec in specs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise ValueError(f"duplicate watch keys: {duplicates}")
    return list(specs)
