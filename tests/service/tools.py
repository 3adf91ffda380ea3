"""The real validators the tests run: systemd-analyze and desktop-file-validate."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def tool(name: str) -> str:
    """The path of a validator; skip (CI installs it: .ci/run) if this machine lacks it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed here (apt-get install desktop-file-utils systemd)")
    return path


def systemd_verify(unit: Path, runtime_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}
    return subprocess.run(
        [tool("systemd-analyze"), "verify", "--user", str(unit)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


def desktop_validate(entry: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("desktop-file-validate"), str(entry)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def files_under(root: Path) -> dict[Path, bytes]:
    """Every file (and symlink target) under ``root``: to prove a command wrote nothing."""
    found: dict[Path, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[path] = os.readlink(path).encode()
        elif path.is_file():
            found[path] = path.read_bytes()
    return found
