"""The PyInstaller one-folder build: scripts/build.py builds it and smoke-tests the binary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_bundle_builds_and_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=840,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "ok    floradrop --version" in report
    assert "ok    floradrop service install --print" in report
    assert (ROOT / "dist" / "floradrop" / "floradrop").is_file()
