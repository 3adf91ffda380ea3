"""A small disk for disk-full tests: a real tmpfs, or a fault hook.

``SmallDisk(path, kind="tmpfs")`` mounts a tmpfs over the directory ``path`` (needs root with
CAP_SYS_ADMIN, as on CI machines and this one; the test is skipped where mounting is refused).
``kind="hook"`` needs no privilege: a hook on :func:`io.open` (which ``open``, ``Path.open``
and ``os.fdopen`` all call) gives every file opened for writing directly in ``path`` a shared
byte budget, and the write that exceeds it writes what fits and fails with
``OSError(ENOSPC)``, as a full disk does. Moving an original in from another filesystem is
only exercised by the tmpfs kind (the hook's folder is on the same filesystem).
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

PAGE = 4096


def _mount(path: Path, size: int) -> bool:
    if os.name != "posix" or os.geteuid() != 0:
        return False
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


class _Budget:
    def __init__(self, free: int) -> None:
        self.free = free


class _LimitedFile:
    """A file opened for writing on the simulated small disk (binary or text)."""

    def __init__(self, handle: Any, budget: _Budget) -> None:
        self._handle = handle
        self._budget = budget

    def write(self, data: Any) -> int:
        size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
        if size > self._budget.free:
            self._handle.write(data[: self._budget.free])  # what fits, as a real disk does
            self._budget.free = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._budget.free -= size
        written: int = self._handle.write(data)
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _LimitedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


class SmallDisk:
    """A few MiB at ``path`` (see the module docstring); use as a context manager."""

    def __init__(
        self, path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, size: int = 4 << 20
    ) -> None:
        self.path = path
        self.size = size
        self.kind = kind
        self._monkeypatch = monkeypatch
        self._budget: _Budget | None = None
        self.real = False
        self._filler = path / "filler.bin"

    def __enter__(self) -> SmallDisk:
        self.path.mkdir(parents=True, exist_ok=True)
        if self.kind == "hook":
            self._hook()
        elif _mount(self.path, self.size):
            self.real = True
        else:
            pytest.skip("mounting a tmpfs is not permitted here (the 'hook' variant runs)")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.real:
            subprocess.run(["umount", "-l", str(self.path)], check=False, timeout=30)

    def _hook(self) -> None:
        budget = self._budget = _Budget(self.size)
        root = os.path.realpath(self.path)
        real_open = io.open

        def on_small_disk(file: Any) -> bool:
            if isinstance(file, int):  # os.fdopen(os.open(...))
                try:
                    file = os.readlink(f"/proc/self/fd/{file}")
                except OSError:
                    return False
            if not isinstance(file, (str, os.PathLike)):
                return False
            return os.path.dirname(os.path.realpath(os.fspath(file))) == root

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            handle = real_open(file, mode, *args, **kwargs)
            if any(m in mode for m in "wax+") and on_small_disk(file):
                return _LimitedFile(handle, budget)
            return handle

        # Path.open, os.fdopen and open() all end in io.open.
        self._monkeypatch.setattr(io, "open", open_)
        self._monkeypatch.setattr(builtins, "open", open_)

    def free_bytes(self) -> int:
        if self._budget is not None:
            return self._budget.free
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave: int) -> None:
        """Fill the disk so that only ``leave`` bytes (tmpfs: rounded up to a page) stay free."""
        if self._budget is not None:
            self._budget.free = leave
            return
        leave = -(-leave // PAGE) * PAGE
        self._filler.unlink(missing_ok=True)
        with self._filler.open("wb") as handle:
            handle.write(b"\0" * (self.free_bytes() - leave))

    def release(self) -> None:
        """Free the space again."""
        if self._budget is not None:
            self._budget.free = self.size
            return
        self._filler.unlink(missing_ok=True)

    def listing(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir() if p != self._filler)
