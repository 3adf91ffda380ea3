"""401 (key revoked) and 402 (credits exhausted) in the middle of a batch, on a real daemon.

Submission pauses with a message that ``floradrop status`` shows and says what to do; nothing
is marked failed that was not; work resumes after the fix, with ``floradrop resume`` or by
itself (the daemon re-checks a rejected key every 30 s and exhausted credits every 60 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.jobs import JobState
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config

from .daemonproc import DaemonProcess, write_key

pytestmark = pytest.mark.slow


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


def daemon_for(tmp_path: Path, emu: Emulator, started: list[DaemonProcess]) -> DaemonProcess:
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon=f"max_concurrent_uploads = 2\n\n[flora]\napi_key_file = {str(key)!r}",
    )
    (tmp_path / "in").mkdir()
    d = DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.out")
    started.append(d.start())
    return d


def attention(d: DaemonProcess, kind: str) -> dict[str, str] | None:
    found = d.status()["attention"]
    return found if found and found["kind"] == kind else None


def test_credits_run_out_mid_batch_then_resume_after_topping_up(
    tmp_path: Path, started: list[DaemonProcess]
) -> None:
    files = 10
    with Emulator(seed=9, run_seconds=0.3, balance_usd=0.20) as emu:  # four runs at $0.05
        d = daemon_for(tmp_path, emu, started)
        for n in range(files):
            drop(tmp_path / "in", f"c{n:02d}.png", png_bytes(900 + n))
        shown = wait_for(lambda: attention(d, "credits"), 60, "the credits problem in status")
        assert "credits" in shown["message"].lower()
        assert shown["hint"], "it says what to do"
        text = d.cli("status")
        assert shown["message"] in text.stdout and "What to do:" in text.stdout
        wait_for(lambda: d.states().get("done") == 4, 60, f"the paid runs done ({d.states()})")
        states = d.states()
        # Refused runs wait (or stay 'submitting', resolved after the fix); none failed.
        assert set(states) <= {"done", "waiting", "submitting"}, states
        assert sum(states.values()) == files, states
        assert emu.stats.runs_created == 4

        emu.balance_usd = 10.0  # credits added in the FLORA app
        assert d.cli("resume").returncode == 0
        wait_for(lambda: d.states() == {"done": files}, 60, f"every file done ({d.states()})")
        assert attention(d, "credits") is None
        assert d.stop() == 0, d.tail()
    assert emu.stats.runs_created == files


def test_key_revoked_while_runs_are_in_flight_then_a_new_key_is_picked_up_by_itself(
    tmp_path: Path, started: list[DaemonProcess]
) -> None:
    with Emulator(seed=10, run_seconds=3.0) as emu:
        d = daemon_for(tmp_path, emu, started)
        for n in range(3):
            drop(tmp_path / "in", f"k{n}.png", png_bytes(950 + n))
        wait_for(lambda: d.states().get("running") == 3, 60, f"three runs ({d.states()})")
        old_key = emu.api_key
        emu.api_key = "sk_live_rotated_0123456789abcdef"  # the old key is revoked
        for n in range(3, 6):
            drop(tmp_path / "in", f"k{n}.png", png_bytes(950 + n))
        shown = wait_for(lambda: attention(d, "auth"), 60, "the key problem in status")
        assert shown["hint"]
        assert old_key not in str(shown)
        wait_for(lambda: sum(d.states().values()) == 6, 30, "the new files journaled")
        assert not d.states().get("failed")

        write_key(tmp_path / "config" / "api-key", emu.api_key)  # the fix; no 'resume'
        wait_for(lambda: d.states() == {"done": 6}, 90, f"every file done ({d.states()})")
        assert attention(d, "auth") is None
        assert d.stop() == 0, d.tail()
    assert emu.stats.runs_created == 6


def test_credits_topped_up_are_found_by_the_daemon_without_resume(tmp_path: Path) -> None:
    """The engine's own re-check (shortened from 60 s for the test) finds the credits."""
    with Emulator(seed=11, balance_usd=0.10) as emu:  # two runs
        config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
        with running(config, emu) as daemon:
            daemon.engine.health.credits_recheck_seconds = 1.0
            for n in range(5):
                drop(tmp_path / "in", f"t{n}.png", png_bytes(980 + n))
            wait_for(
                lambda: (a := daemon.engine.snapshot().attention) and a.kind.value == "credits",
                30,
                "the credits problem",
            )
            # Blocked: each re-check lets one run try, and it is refused: no run, nothing failed.
            checks = emu.stats.requests[("POST", "/techniques/{techniqueId}/runs")]
            wait_for(
                lambda: emu.stats.requests[("POST", "/techniques/{techniqueId}/runs")] > checks,
                30,
                "a re-check",
            )
            assert emu.stats.runs_created == 2
            assert not daemon.jobs(JobState.FAILED)
            emu.balance_usd = 1.0
            daemon.wait_state(5, JobState.DONE, timeout=60)
        assert emu.stats.runs_created == 5
