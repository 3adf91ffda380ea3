"""Weeks of running: back-off arithmetic that keeps working after thousands of tries."""

from __future__ import annotations

import dataclasses
import errno
import time
from collections.abc import Callable
from pathlib import Path

from flora_emulator import Emulator
from floradrop.pipeline.fileaway import Failure
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
        [done] = daemon.wait_state(1, JobState.DONE)
        job = dataclasses.replace(done, id=done.id + 1000)  # one no worker touches meanwhile
        engine = daemon.engine
        engine._attempts[job.id] = 5000
        engine._back_off(job.id, 5.0, "HTTP 503", quiet=True)
        assert 290 < engine._not_before[job.id] - time.monotonic() <= 300
        engine._attempts[job.id] = 5000
        engine._disk_trouble(job, OSError(errno.ENOSPC, "No space left on device"))
        assert 50 < engine._not_before[job.id] - time.monotonic() <= 60


def test_a_finished_job_leaves_no_retry_or_progress_state_behind(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(seed=22)
    (tmp_path / "in").mkdir()
    with running(write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam")), emu) as daemon:
        engine = daemon.engine
        engine.pause()
        drop(tmp_path / "in", "b.png", png_bytes(2))
        drop(tmp_path / "in", "c.png", png_bytes(3))
        failing, cancelled = daemon.wait_state(2, JobState.WAITING)
        for job in (failing, cancelled):  # as after a few failed tries of a running job
            engine._attempts[job.id] = 3
            engine._not_before[job.id] = time.monotonic() + 60
            engine.live.progress[job.id] = 40.0
        engine._fail(failing.id, Failure("the run failed"))
        engine._cancel(cancelled.id, "removed")
        assert [j.state for j in daemon.jobs()] == [JobState.FAILED, JobState.CANCELLED]
        for job in (failing, cancelled):
            assert job.id not in engine._attempts
            assert job.id not in engine._not_before
            assert job.id not in engine.live.progress
