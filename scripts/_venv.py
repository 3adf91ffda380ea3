"""Shared set-up for scripts/demo.py and scripts/test.py: a project .venv, installed once.

Standard library only: it runs on a machine that has nothing but Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
# Every dependency pinned (scripts/lock.py writes it): installs use it as constraints, so CI,
# developers and builds get the same versions. A dependency added to pyproject.toml but not yet
# locked still installs (unpinned) until the lock is regenerated.
LOCK = ROOT / "requirements" / "lock.txt"


def lock_args() -> list[str]:
    """pip's arguments for installing with the lock's versions (none without a lock)."""
    return ["--constraint", str(LOCK)] if LOCK.is_file() else []


def lock_bytes() -> bytes:
    return LOCK.read_bytes() if LOCK.is_file() else b""


def venv_python() -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / "python.exe"
    return VENV / "bin" / "python"


def venv_bin(name: str) -> Path:
    if os.name == "nt":
        return VENV / "Scripts" / f"{name}.exe"
    return VENV / "bin" / name


def ensure_venv(extras: list[str]) -> Path:
    """Create .venv if missing and (re)install the project when pyproject or extras change."""
    if sys.version_info < (3, 11):
        sys.exit(f"floradrop needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    python = venv_python()
    if not python.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=VENV.exists()).create(VENV)
    spec = "." + (f"[{','.join(sorted(extras))}]" if extras else "")
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject + lock_bytes() + spec.encode()).hexdigest()
    stamp = VENV / ".floradrop-installed"
    if not stamp.exists() or stamp.read_text() != digest:
        print(f"Installing floradrop{spec[1:]} into {VENV} ...", flush=True)
        quiet = [] if os.environ.get("FLORADROP_VERBOSE_INSTALL") else ["--quiet"]
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                *quiet,
                "--disable-pip-version-check",
                "--upgrade",
                "pip",
            ],
            check=True,
        )
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                *quiet,
                "--disable-pip-version-check",
                *lock_args(),
                "-e",
                spec,
            ],
            cwd=ROOT,
            check=True,
        )
        stamp.write_text(digest)
    return python
