"""Schedule windows in a real engine over the emulator, with an injected clock."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flora_emulator import Emulator
from floradrop.cli.status_cmd import render
from floradrop.jobs import JobState
from floradrop.tray.menu import status_lines
from floradrop.workflows.schedule import NOTE
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config

NOON = datetime(2026, 12, 7, 12, 0)  # a Monday
NIGHT = datetime(2026, 12, 7, 22, 0)


def asset_posts(emulator: Emulator) -> int:
    return sum(
        n
        for (method, route), n in emulator.stats.requests.items()
        if method == "POST" and route.endswith("/assets")
    )


def test_outside_the_window_a_file_is_uploaded_and_held_then_runs_when_it_opens(
    tmp_path: Path, emulator: Emulator
) -> None:
    now = [NOON]
    folders = folder_toml(tmp_path, "cam", "cctv-cam", 'schedule = "22:00-07:00"')
    with running(write_config(tmp_path, folders), emulator) as daemon:
        daemon.engine.schedule.clock = lambda: now[0]
        drop(tmp_path / "cam", "street.png", png_bytes(1))
        [held] = daemon.wait_state(1, JobState.HELD)
        assert held.note is not None and held.note.startswith(NOTE)
        assert "starts at 22:00" in held.note
        assert held.assets  # taken, journaled and uploaded
        uploads = asset_posts(emulator)
        assert uploads == 1
        assert emulator.runs() == []

        snapshot = daemon.engine.snapshot()
        assert snapshot.scheduled == 1 and snapshot.held == 0
        assert snapshot.attention is None  # a schedule is no problem
        [folder] = snapshot.folders
        assert folder.schedule is not None
        assert (folder.schedule.open, folder.schedule.opens, folder.schedule.held) == (
            False,
            "at 22:00",
            1,
        )
        assert "1 held by schedule (starts at 22:00)" in status_lines(snapshot)[0]
        text = render(snapshot.to_json() | {"daemon": None})
        assert "schedule 22:00-07:00 (closed, runs start at 22:00); 1 held by schedule" in text

        now[0] = NIGHT  # the window opens: the run starts at once, with the uploaded asset
        [done] = daemon.wait_state(1, JobState.DONE)
        assert done.assets == held.assets
        assert asset_posts(emulator) == uploads
        assert [r.technique for r in emulator.runs()] == ["cctv-cam"]
        assert daemon.engine.snapshot().scheduled == 0
    assert (tmp_path / "cam-outputs" / "street.cctv-cam.png").exists()


def test_budgets_still_apply_when_the_window_opens(tmp_path: Path, emulator: Emulator) -> None:
    now = [NOON]
    folders = folder_toml(tmp_path, "cam", "cctv-cam", 'schedule = "Mon-Fri 20:00-23:00"')
    config = write_config(tmp_path, folders, daemon="daily_budget_usd = 0.05")  # one run
    with running(config, emulator) as daemon:
        daemon.engine.schedule.clock = lambda: now[0]
        drop(tmp_path / "cam", "a.png", png_bytes(1))
        drop(tmp_path / "cam", "b.png", png_bytes(2))
        # (the second may wait for budget a moment, while the first is uploading)
        wait_for(lambda: daemon.engine.snapshot().scheduled == 2, 20, "both held by schedule")
        now[0] = NIGHT
        daemon.wait_state(1, JobState.DONE)
        [waiting] = wait_for(
            lambda: [j for j in daemon.jobs(JobState.HELD) if not j.note.startswith(NOTE)],
            20,
            "the second file to wait for budget",
        )
        assert "budget" in (waiting.note or "")
        snapshot = daemon.engine.snapshot()
        assert (snapshot.scheduled, snapshot.held) == (0, 1)
    assert len(emulator.runs()) == 1


def test_a_folder_may_ignore_the_global_window(tmp_path: Path, emulator: Emulator) -> None:
    folders = folder_toml(tmp_path, "cam", "cctv-cam", 'schedule = "always"')
    config = write_config(tmp_path, folders, daemon='schedule = "Sat,Sun"')
    with running(config, emulator) as daemon:
        daemon.engine.schedule.clock = lambda: NOON  # a Monday
        drop(tmp_path / "cam", "street.png", png_bytes(1))
        daemon.wait_state(1, JobState.DONE)
