"""Weeks of running: back-off arithmetic that keeps working after thousands of tries."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from pathlib import Path

from floradrop.emulator import Emulator
from floradrop.status import JobState
from tests.engine.harness import drop, folder_toml, png_bytes, running, write_config


def test_back_off_after_thousands_of_tries_stays_capped(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    """A server error every 5 minutes for a week, or a full disk for a day: the delay stays at
    its cap (the doubling once overflowed a float and the job was tried every second)."""
    emu = emulator_factory(seed=21)
    (tmp_path / "in").mkdir()
    with running(write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam")), emu) as daemon:
        drop(tmp_path / "in", "a.png", png_bytes(1))
        [job] = daemon.wait_state(1, JobState.DONE)
        engine = daemon.engine
        engine._attempts[job.id] = 5000
        engine._back_off(job.id, 5.0, "HTTP 503", quiet=True)
        assert 299 < engine._not_before[job.id] - time.monotonic() <= 300
        engine._attempts[job.id] = 5000
        engine._disk_trouble(job, OSError(errno.ENOSPC, "No space left on device"))
        assert 59 < engine._not_before[job.id] - time.monotonic() <= 60
