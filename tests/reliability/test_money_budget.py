"""Budgets and the big-drop guard on a real daemon process, counted at the emulator.

* A daily budget that allows 4 runs, 12 files at once, then 6 more queued while paused, then a
  restart: 4 runs, the rest waiting for budget, nothing lost; raising the budget runs the rest.
* The big-drop guard: a burst above ``confirm_above_files`` is held and asked about once (in
  ``status``); nothing runs until ``floradrop approve``; ``floradrop cancel`` sends a file to the
  failed folder with a report, and ``floradrop retry`` brings it back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flora_emulator import Emulator
from tests.engine.harness import drop, png_bytes, wait_for

from .daemonproc import DaemonProcess, write_key

pytestmark = pytest.mark.slow


@pytest.fixture
def started() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


def write_config(tmp_path: Path, emu: Emulator, daemon: str) -> Path:
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    (tmp_path / "in").mkdir(exist_ok=True)
    config = tmp_path / "floradrop.toml"
    config.write_text(
        "[daemon]\n"
        f"state_dir = {str(tmp_path / 'state')!r}\n"
        f"log_dir = {str(tmp_path / 'logs')!r}\n"
        "settle_seconds = 0.3\n"
        "poll_interval_seconds = 2\n"
        f"{daemon}\n\n"
        f"[flora]\napi_key_file = {str(key)!r}\n\n"
        f"[[folders]]\npath = {str(tmp_path / 'in')!r}\nname = 'CCTV Cam'\n"
        "technique = 'cctv-cam'\n",
        encoding="utf-8",
    )
    return config


def new_daemon(
    tmp_path: Path, config: Path, emu: Emulator, started: list[DaemonProcess]
) -> DaemonProcess:
    d = DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.out")
    started.append(d.start())
    return d


def inbox_files(tmp_path: Path) -> set[str]:
    return {p.name for p in (tmp_path / "in").iterdir() if p.is_file()}


def test_a_budget_for_four_runs_holds_across_a_burst_a_paused_queue_and_a_restart(
    tmp_path: Path, started: list[DaemonProcess]
) -> None:
    # cctv-cam costs $0.05: $0.20 allows exactly 4 runs.
    guard_off = "confirm_above_files = 1000\nconfirm_above_usd = 1000.0"
    with Emulator(seed=31, run_seconds=0.2) as emu:
        config = write_config(tmp_path, emu, f"daily_budget_usd = 0.20\n{guard_off}")
        d = new_daemon(tmp_path, config, emu, started)
        for n in range(12):  # at once
            drop(tmp_path / "in", f"first {n:02d}.png", png_bytes(3000 + n))
        wait_for(lambda: d.states() == {"done": 4, "held": 8}, 60, f"4 done, 8 held ({d.states()})")
        assert emu.stats.runs_created == 4

        assert d.cli("pause").returncode == 0
        for n in range(6):
            drop(tmp_path / "in", f"paused {n:02d}.png", png_bytes(3100 + n))
        wait_for(lambda: sum(d.states().values()) == 18, 30, f"18 journaled ({d.states()})")
        assert d.cli("resume").returncode == 0
        status = wait_for(
            lambda: (s := d.status())["held"] == 14 and s["queued"] == 0 and s, 30, "14 held"
        )
        assert status["attention"]["kind"] == "budget"
        assert status["money"]["waiting_for_budget"] == 14
        assert status["money"]["spend"]["today"]["total_usd"] == pytest.approx(0.20)
        assert status["money"]["reserved"]["total_usd"] == 0
        text = d.cli("status").stdout
        assert "14 waiting for budget" in text and "$0.20 today" in text

        assert d.stop() == 0, d.tail()
        d = new_daemon(tmp_path, config, emu, started)  # a restart changes nothing
        wait_for(lambda: d.status()["held"] == 14, 30, "still 14 held after a restart")
        assert emu.stats.runs_created == 4
        assert d.states() == {"done": 4, "held": 14}
        assert len(inbox_files(tmp_path)) == 14  # nothing lost: the originals wait in place
        assert not list((tmp_path / "in-failed").iterdir())

        # The budget raised while running (hot reload): everything runs, once.
        config.write_text(
            config.read_text().replace("daily_budget_usd = 0.20", "daily_budget_usd = 0.90")
        )
        wait_for(lambda: d.states() == {"done": 18}, 90, f"all 18 done ({d.states()})")
        assert emu.stats.runs_created == 18
        assert d.stop() == 0, d.tail()


def test_the_big_drop_guard_asks_once_and_spends_nothing_until_approved(
    tmp_path: Path, started: list[DaemonProcess]
) -> None:
    with Emulator(seed=32, run_seconds=0.2) as emu:
        config = write_config(tmp_path, emu, "confirm_above_files = 5\nconfirm_above_usd = 5.0")
        d = new_daemon(tmp_path, config, emu, started)
        for n in range(8):
            drop(tmp_path / "in", f"cam {n}.png", png_bytes(3200 + n))
        status = wait_for(
            lambda: (s := d.status())["questions"] and s["questions"][0]["files"] == 8 and s,
            60,
            "the big-drop question for all 8 files",
        )
        question = status["questions"][0]
        assert question["text"] == "Start 8 files in CCTV Cam for $0.40?"
        assert status["attention"]["kind"] == "confirm"
        assert "floradrop approve" in status["attention"]["hint"]
        assert "Start 8 files in CCTV Cam for $0.40?" in d.cli("status").stdout
        assert emu.stats.runs_created == 0
        assert emu.stats.requests.get(("POST", "/assets"), 0) == 0  # nothing uploaded either

        # Cancel one: to the failed folder with a report saying so; nothing charged.
        one = tmp_path / "in" / "cam 3.png"
        done = d.cli("cancel", str(one))
        assert done.returncode == 0, done.stdout + done.stderr
        assert "cancelled 1 file" in done.stdout
        failed = tmp_path / "in-failed"
        wait_for((failed / "cam 3.png").exists, 10, "the cancelled file filed away")
        report = (failed / "cam 3.png.error.txt").read_text()
        assert "cancelled by you" in report and "floradrop retry" in report

        done = d.cli("approve")
        assert done.returncode == 0 and "approved 7 file(s)" in done.stdout, done.stdout
        wait_for(lambda: d.states().get("done") == 7, 60, f"7 done ({d.states()})")
        assert emu.stats.runs_created == 7

        # retry brings the cancelled one back: one file, below the threshold: runs at once.
        assert d.cli("retry", str(failed / "cam 3.png")).returncode == 0
        wait_for(lambda: d.states().get("done") == 8, 60, f"8 done ({d.states()})")
        assert emu.stats.runs_created == 8
        assert d.status()["questions"] == []
        assert d.stop() == 0, d.tail()
