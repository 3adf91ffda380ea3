"""Shared test set-up: every test is isolated from the real home, config, state and key.

Area fixtures live in each folder's own conftest.py; the emulator fixtures are here because
every area uses them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from flora_emulator import Emulator

# No test may touch a real tray, and importing pystray must not need a display.
os.environ["PYSTRAY_BACKEND"] = "dummy"

_ISOLATED_VARS = (
    "FLORA_API_KEY",
    "FLORA_BASE_URL",
    "FLORA_CUSTOM_HEADERS",
    "FLORADROP_CONFIG",
)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh HOME and XDG dirs for every test; FLORA_/FLORADROP_ variables cleared."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    for name in list(os.environ):
        if name in _ISOLATED_VARS or name.startswith("FLORADROP_"):
            monkeypatch.delenv(name, raising=False)
    # Daemons started by tests serve their dashboard on a free port, never on the default one
    # (tests run side by side, and a real floradrop may be using it).
    monkeypatch.setenv("FLORADROP_UI__PORT", "0")
    return home


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running, daemon threads included: every thread
    floradrop starts (the engine's admit and scheduler threads, watchdog's observers, the
    control server …) must be stopped and joined by whatever started it."""
    before = set(threading.enumerate())
    yield
    deadline = threading.Event()
    leaked: list[threading.Thread] = []
    for _ in range(100):
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            break
        deadline.wait(0.1)
    assert not leaked, f"threads leaked: {[(t.name, t.daemon) for t in leaked]}"


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start FLORA emulators with knobs, e.g. ``emulator_factory(run_seconds=1, seed=3)``.

    Every emulator made here is stopped (threads joined, temp data removed) after the test.
    """
    from flora_emulator import Emulator

    started: list[Emulator] = []

    def make(**knobs: Any) -> Emulator:
        emulator = Emulator(**knobs).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in reversed(started):
        emulator.stop()
    crashed = [e.base_url for e in started if e.stats.internal_errors]
    assert not crashed, f"the emulator crashed inside (see the log): {crashed}"


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A running FLORA emulator on a free port, with default knobs (fast runs, no faults)."""
    return emulator_factory()
