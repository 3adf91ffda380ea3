#!/usr/bin/env python3
"""Regenerate requirements/lock.txt: every dependency of floradrop and its extras, pinned.

    python3 scripts/lock.py             # re-resolve with the newest versions PyPI has
    python3 scripts/lock.py --keep      # keep the versions installed in .venv where they fit

uv (installed into .venv from PyPI if missing) resolves once for every platform and Python
3.11+ (``--universal``), so the one file serves Linux, macOS and Windows. scripts/test.py,
scripts/demo.py, scripts/build.py and CI install with it as constraints.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from _venv import LOCK, ROOT, ensure_venv, venv_bin

EXTRAS = ("build", "dev", "hosting", "tray")


def main() -> int:
    python = ensure_venv(extras=["dev"])
    uv = venv_bin("uv")
    if not uv.exists():
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "uv"], check=True)
    command = [str(uv), "pip", "compile", "pyproject.toml", "--universal"]
    command += ["--python-version", "3.11", "--no-header", "--no-annotate", "-o", str(LOCK)]
    for extra in EXTRAS:
        command += ["--extra", extra]
    with tempfile.TemporaryDirectory() as tmp:
        if "--keep" in sys.argv[1:]:
            frozen = subprocess.run(
                [str(python), "-m", "pip", "freeze", "--exclude-editable"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.splitlines()
            keep = Path(tmp) / "installed.txt"
            keep.write_text("\n".join(line for line in frozen if not line.startswith("uv==")))
            command += ["--constraint", str(keep)]
        LOCK.parent.mkdir(exist_ok=True)
        subprocess.run(command, cwd=ROOT, check=True)
    text = LOCK.read_text("utf-8")
    header = (
        "# Pinned versions of floradrop's dependencies and extras, for reproducible installs\n"
        "# and builds (scripts/test.py, demo.py, build.py and CI install with it as constraints).\n"
        "# Regenerate with: python3 scripts/lock.py [--keep]\n"
    )
    LOCK.write_text(header + text, "utf-8")
    print(f"wrote {LOCK.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
