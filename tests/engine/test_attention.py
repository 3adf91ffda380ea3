"""What ``status`` calls the last error goes once it is no longer true, and ``ack`` clears the
attention a failure raised: a real engine over the emulator (stopped and started again)."""

from __future__ import annotations

from pathlib import Path

from flora_emulator import Emulator
from floradrop.jobs import JobState
from floradrop.status import AttentionKind
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config


def test_a_connection_error_leaves_status_once_the_connection_is_back(
    tmp_path: Path, emu: Emulator
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    with running(config, emu) as d:
        emu.stop()  # connections are refused from now on
        drop(tmp_path / "in", "photo.png", png_bytes(1))
        snap = wait_for(
            lambda: (s := d.engine.snapshot()).last_error and s, 60, "a last error while offline"
        )
        assert snap.offline
        emu.start()  # back on the same port
        d.wait_state(1, JobState.DONE, timeout=90)
        snap = wait_for(lambda: (s := d.engine.snapshot()) and not s.offline and s, 30, "online")
        assert snap.last_error is None, snap.last_error
        assert snap.attention is None


def test_ack_clears_a_failure_and_the_last_error_and_a_new_failure_raises_it_again(
    tmp_path: Path, emu: Emulator
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "sigil"))
    (tmp_path / "in").mkdir()
    with running(config, emu) as d:
        drop(tmp_path / "in", "one.png", png_bytes(1))
        d.wait_state(1, JobState.FAILED, timeout=60)
        attention = wait_for(lambda: d.engine.snapshot().attention, 10, "attention")
        assert attention.kind is AttentionKind.FAILED_JOB
        d.engine.live.last_error = "something that was wrong"
        d.engine.acknowledge()
        snap = d.engine.snapshot()
        assert snap.attention is None and snap.last_error is None
        assert snap.failed_today == 1
        drop(tmp_path / "in", "two.png", png_bytes(2))
        d.wait_state(2, JobState.FAILED, timeout=60)
        again = wait_for(lambda: d.engine.snapshot().attention, 10, "attention again")
        assert again.kind is AttentionKind.FAILED_JOB
