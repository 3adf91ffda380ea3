#!/usr/bin/env python3
"""Build the one-folder PyInstaller bundle in dist/floradrop/ and smoke-test it.

    python3 scripts/build.py            # build venv + PyInstaller + smoke checks
    python3 scripts/build.py --check    # only the smoke checks, on the existing dist/floradrop
    python3 scripts/build.py --tray     # bundle PyGObject too (the tray's menu on Linux)

The build has its own venv, build/venv (build/venv-tray with --tray; build/ and dist/ are
git-ignored), with floradrop installed from this checkout plus the `build` extra (PyInstaller).
The smoke checks run the built executable the way a person would, in a throw-away HOME with no
display: --version, --help, emulator --help, `service install --print` (the login entry must
name the bundle's own executable) and `demo --once` (the whole loop, offline, against the
emulator).

Standard library only: it runs on a machine that has nothing but Python 3.11+.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_VENVS = ROOT / "build"  # venv/ for the plain build, venv-tray/ with PyGObject
WORK = ROOT / "build" / "pyinstaller"
DIST = ROOT / "dist"
BUNDLE = DIST / "floradrop"
SPEC = ROOT / "packaging" / "floradrop.spec"
LOCK = ROOT / "requirements" / "lock.txt"  # pinned versions (scripts/lock.py)
SMOKE_TIMEOUT = 300


def venv_bin(build_venv: Path, name: str) -> Path:
    if os.name == "nt":
        return build_venv / "Scripts" / f"{name}.exe"
    return build_venv / "bin" / name


def bundle_executable() -> Path:
    return BUNDLE / ("floradrop.exe" if os.name == "nt" else "floradrop")


def ensure_build_venv(*, tray: bool) -> Path:
    """Create the build venv and install floradrop[build(,tray)] (again when pyproject changes).

    The tray build has a venv of its own: PyInstaller bundles whatever the venv can import.
    """
    build_venv = BUILD_VENVS / ("venv-tray" if tray else "venv")
    extras = ["build", "tray"] if tray else ["build"]
    python = venv_bin(build_venv, "python")
    if not python.exists():
        print(f"Creating {build_venv} ...", flush=True)
        venv.EnvBuilder(with_pip=True, clear=build_venv.exists()).create(build_venv)
    spec = f".[{','.join(extras)}]"
    lock = LOCK.read_bytes() if LOCK.is_file() else b""
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject + lock + spec.encode()).hexdigest()
    stamp = build_venv / ".floradrop-installed"
    if stamp.exists() and stamp.read_text() == digest:
        return build_venv
    print(f"Installing floradrop{spec[1:]} into {build_venv} ...", flush=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    # Editable: the build always bundles this checkout's current source; every dependency at
    # the version requirements/lock.txt pins (a reproducible bundle).
    constraints = ["--constraint", str(LOCK)] if LOCK.is_file() else []
    subprocess.run([*pip, *constraints, "-e", spec], cwd=ROOT, check=True)
    stamp.write_text(digest)
    return build_venv


def build(build_venv: Path) -> float:
    """Run PyInstaller on packaging/floradrop.spec; return the seconds it took."""
    env = {**os.environ, "PYSTRAY_BACKEND": "dummy"}
    command = [
        str(venv_bin(build_venv, "pyinstaller")),
        "--noconfirm",
        "--clean",
        "--log-level",
        "WARN",
        "--distpath",
        str(DIST),
        "--workpath",
        str(WORK),
        str(SPEC),
    ]
    print("$ pyinstaller --noconfirm --clean packaging/floradrop.spec", flush=True)
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    return time.monotonic() - started


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def isolated_env(home: Path) -> dict[str, str]:
    """A fresh HOME and XDG dirs, no display, no floradrop or FLORA settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLORADROP_", "FLORA_", "XDG_"))
        and k not in {"DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "PYSTRAY_BACKEND"}
    }
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        APPDATA=str(home / "AppData" / "Roaming"),
        LOCALAPPDATA=str(home / "AppData" / "Local"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        XDG_CACHE_HOME=str(home / ".cache"),
    )
    return env


class Smoke:
    """Runs the bundle's executable and records what passed."""

    def __init__(self, executable: Path, env: dict[str, str]) -> None:
        self.executable = executable
        self.env = env
        self.failures: list[str] = []

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.executable), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=SMOKE_TIMEOUT,
            check=False,
        )

    def check(self, args: list[str], expect: str) -> subprocess.CompletedProcess[str]:
        started = time.monotonic()
        done = self.run(*args)
        took = time.monotonic() - started
        label = "floradrop " + " ".join(args)
        if done.returncode == 0 and expect in done.stdout:
            print(f"  ok    {label}  ({took:.1f} s)", flush=True)
        else:
            print(f"  FAIL  {label}  (exit {done.returncode}, {took:.1f} s)", flush=True)
            print(_indent(done.stdout + done.stderr), flush=True)
            self.failures.append(label)
        return done


def smoke_checks() -> int:
    executable = bundle_executable()
    if not executable.exists():
        print(f"No build at {executable}; run 'python3 scripts/build.py' first.", file=sys.stderr)
        return 1
    version = re.search(
        r'__version__ = "([^"]+)"', (ROOT / "src" / "floradrop" / "__init__.py").read_text()
    )
    assert version, "src/floradrop/__init__.py has no __version__"
    print(f"Smoke checks of {executable}:", flush=True)
    with tempfile.TemporaryDirectory(prefix="floradrop-smoke-") as temp:
        home = Path(temp)
        smoke = Smoke(executable, isolated_env(home))
        smoke.check(["--version"], f"floradrop {version.group(1)}")
        smoke.check(["--help"], "service")
        smoke.check(["emulator", "--help"], "emulator")
        config = home / "config.toml"
        config.write_text("# smoke test\n")
        smoke.check(
            ["service", "install", "--print", "--config", str(config)],
            f"{executable} run --config {config}",
        )
        if "--once" in smoke.run("demo", "--help").stdout:
            smoke.check(["demo", "--once", "--headless"], "")
        else:
            print("  skip  floradrop demo --once  (this checkout's demo has no --once yet)")
    if smoke.failures:
        print(f"{len(smoke.failures)} smoke check(s) failed: {', '.join(smoke.failures)}")
        return 1
    return 0


def _indent(text: str) -> str:
    return "\n".join(f"        {line}" for line in text.strip().splitlines()[-40:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only smoke-test dist/floradrop")
    parser.add_argument("--tray", action="store_true", help="bundle the tray extra (PyGObject)")
    args = parser.parse_args()
    if sys.version_info < (3, 11):
        sys.exit(f"floradrop needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not args.check:
        build_venv = ensure_build_venv(tray=args.tray)
        if BUNDLE.exists():
            shutil.rmtree(BUNDLE)
        seconds = build(build_venv)
        size = folder_size(BUNDLE)
        print(f"Built {BUNDLE} in {seconds:.0f} s: {size / 1e6:.0f} MB.", flush=True)
    return smoke_checks()


if __name__ == "__main__":
    sys.exit(main())
