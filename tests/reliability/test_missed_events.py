"""Network shares and lost events, end to end through the engine.

A folder with ``observer = "polling"`` (network shares, where inotify sees nothing) processes
drops. Events that never arrive (``Intake._events_suppressed``, as after sleep/wake or a lost
inotify queue) are made up for by the periodic rescan, by a rescan on request, and by the
rescan the scheduler starts when the wall clock jumps ahead of the monotonic one (a wake-up).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop import engine as engine_module
from floradrop.jobs import JobState
from tests.engine.harness import (
    Daemon,
    drop,
    folder_toml,
    png_bytes,
    running,
    wait_for,
    write_config,
)


def lose_events(daemon: Daemon) -> None:
    intake = daemon.engine._intake
    assert intake is not None
    intake._events_suppressed = True  # the kernel's events for what follows never arrive


def outputs(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "in-outputs").glob("*.png"))


def test_a_polling_folder_processes_drops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator_factory: Callable[..., Emulator]
) -> None:
    monkeypatch.setattr(engine_module, "POLLING_INTERVAL", 0.5)  # 5 s in use
    emu = emulator_factory(seed=11)
    folder = folder_toml(tmp_path, "in", "cctv-cam", 'observer = "polling"')
    (tmp_path / "in").mkdir()
    with running(write_config(tmp_path, folder), emu) as daemon:
        names = {t.name for t in threading.enumerate()}
        assert "floradrop-poll" in names and "floradrop-watch" not in names
        drop(tmp_path / "in", "moved in.png", png_bytes(1))
        with (tmp_path / "in" / "written in place.png").open("wb") as handle:
            data = png_bytes(2)
            handle.write(data[:100])
            handle.flush()
            handle.write(data[100:])
        daemon.wait_state(2, JobState.DONE)
    assert outputs(tmp_path) == ["moved in.cctv-cam.png", "written in place.cctv-cam.png"]
    assert emu.stats.runs_created == 2


def test_lost_events_are_made_up_for_by_the_periodic_rescan(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(seed=12)
    folder = folder_toml(tmp_path, "in", "cctv-cam")
    config = write_config(tmp_path, folder, daemon="rescan_seconds = 10")  # the minimum
    (tmp_path / "in").mkdir()
    with running(config, emu) as daemon:
        lose_events(daemon)
        drop(tmp_path / "in", "lost one.png", png_bytes(3))
        (tmp_path / "in" / "lost two.png").write_bytes(png_bytes(4))
        daemon.wait_state(2, JobState.DONE, timeout=45)
    assert outputs(tmp_path) == ["lost one.cctv-cam.png", "lost two.cctv-cam.png"]
    assert emu.stats.runs_created == 2


def test_a_wake_from_sleep_or_a_rescan_request_finds_what_events_missed(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(seed=13)
    (tmp_path / "in").mkdir()
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))  # rescan: 300 s
    with running(config, emu) as daemon:
        lose_events(daemon)
        drop(tmp_path / "in", "before sleep.png", png_bytes(5))
        # The machine slept for two hours: the wall clock jumps, the monotonic one does not.
        wait_for(lambda: daemon.engine.cycles > 1, 10, "a scheduler round before the sleep")
        daemon.engine.health.wall_clock = lambda: time.time() + 7200
        daemon.wait_state(1, JobState.DONE)
        drop(tmp_path / "in", "asked for.png", png_bytes(6))
        daemon.engine.request_rescan()  # what 'floradrop retry' and the control channel do
        daemon.wait_state(2, JobState.DONE)
    assert outputs(tmp_path) == ["asked for.cctv-cam.png", "before sleep.cctv-cam.png"]
    assert emu.stats.runs_created == 2
