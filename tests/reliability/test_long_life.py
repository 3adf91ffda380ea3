"""Weeks of running: a finished job leaves no state behind (the back-off arithmetic after
thousands of tries is tested in tests/test_policy.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from flora_emulator import Emulator
from floradrop.jobs import JobState
from floradrop.pipeline.fileaway import Failure
from tests.engine.harness import drop, folder_toml, png_bytes, running, write_config


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
            for _ in range(3):
                engine.backoff.retry(job.id, 20.0)
            engine.live.progress[job.id] = 40.0
            assert job.id in engine.backoff and not engine.backoff.ready(job.id, time.monotonic())
        engine.work.fail(failing.id, Failure("the run failed"))
        engine.work.cancel(cancelled.id, "removed")
        assert [j.state for j in daemon.jobs()] == [JobState.FAILED, JobState.CANCELLED]
        for job in (failing, cancelled):
            assert job.id not in engine.backoff
            assert engine.backoff.attempts(job.id) == 0
            assert job.id not in engine.live.progress
