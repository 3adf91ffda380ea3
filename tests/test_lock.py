"""requirements/lock.txt: exact pins for every platform, used by every install script."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)(\s*;\s*.+)?$")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in LOCK.read_text("utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = PIN.match(line)
        assert match, f"not an exact pin: {line!r}"
        found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def test_the_lock_pins_exact_versions_for_every_platform() -> None:
    locked = pins()
    assert len(locked) > 50
    for name in ("pystray", "watchdog", "httpx", "shtab", "desktop-notifier", "pyinstaller"):
        assert name in locked, name
    major, minor = (int(p) for p in locked["pystray"].split(".")[:2])
    assert (major, minor) < (0, 20)  # the cap in pyproject.toml
    text = LOCK.read_text("utf-8")
    assert "sys_platform == 'win32'" in text and "sys_platform == 'darwin'" in text


def test_installs_use_the_lock() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import _venv
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    assert _venv.LOCK == LOCK
    assert _venv.lock_args() == ["--constraint", str(LOCK)]
    build = (ROOT / "scripts" / "build.py").read_text("utf-8")
    assert 'LOCK = ROOT / "requirements" / "lock.txt"' in build
    assert '["--constraint", str(LOCK)]' in build
