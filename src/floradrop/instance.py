"""One daemon per state directory.

``floradrop run`` holds an exclusive OS lock on ``<state_dir>/daemon.lock`` for its whole life;
the OS drops it when the process ends, however it ends (SIGKILL included), so there is never a
stale lock to clean up. Next to it, ``daemon.json`` says who holds it (pid, control address,
config) so a second ``run`` can say where the first one is and ``status`` can reach it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from floradrop.errors import AlreadyRunningError
from floradrop.paths import ensure_private_dir

LOCK_NAME = "daemon.lock"
INFO_NAME = "daemon.json"


@dataclass(frozen=True)
class DaemonInfo:
    pid: int
    started_at: float
    version: str
    config_file: str | None
    control_address: str | None
    tray: str | None  # e.g. "gtk", "headless: no display"

    @classmethod
    def read(cls, state_dir: Path) -> DaemonInfo | None:
        try:
            data: dict[str, Any] = json.loads((state_dir / INFO_NAME).read_text("utf-8"))
            return cls(**data)
        except (OSError, ValueError, TypeError):
            return None


def _try_lock(handle: IO[bytes]) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class InstanceLock:
    """The exclusive lock of one daemon; :meth:`acquire` raises if another daemon holds it."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._handle: IO[bytes] | None = None

    def acquire(self) -> None:
        ensure_private_dir(self.state_dir)
        handle = (self.state_dir / LOCK_NAME).open("a+b")
        if not _try_lock(handle):
            handle.close()
            other = DaemonInfo.read(self.state_dir)
            where = f" (pid {other.pid}, config {other.config_file}" if other else ""
            if other:
                where += f", tray: {other.tray})" if other.tray else ")"
            raise AlreadyRunningError(
                f"another floradrop daemon is already running on {self.state_dir}{where}.",
                hint="use 'floradrop status', 'floradrop pause' or its tray icon; "
                "stop it before starting another",
            )
        self._handle = handle

    def publish(self, info: DaemonInfo) -> None:
        """Write ``daemon.json`` (atomically) while holding the lock."""
        target = self.state_dir / INFO_NAME
        temp = target.with_suffix(".json.tmp")
        temp.write_text(json.dumps(asdict(info), indent=2), "utf-8")
        temp.chmod(0o600)
        temp.replace(target)

    def release(self) -> None:
        if self._handle is None:
            return
        (self.state_dir / INFO_NAME).unlink(missing_ok=True)
        self._handle.close()
        self._handle = None


def is_running(state_dir: Path) -> bool:
    """True when some process holds the daemon lock of ``state_dir``."""
    path = state_dir / LOCK_NAME
    if not path.exists():
        return False
    with path.open("a+b") as handle:
        if _try_lock(handle):
            return False
    return True


def new_info(config_file: Path | None, control_address: str | None, tray: str | None) -> DaemonInfo:
    from floradrop import __version__

    return DaemonInfo(
        pid=os.getpid(),
        started_at=time.time(),
        version=__version__,
        config_file=str(config_file) if config_file else None,
        control_address=control_address,
        tray=tray,
    )
