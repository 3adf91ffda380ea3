"""A full disk while outputs are written: retried until they fit, never half-written, one run.

The outputs (or failed) folder is a small disk (``smalldisk.py``): a real tmpfs where mounting
is permitted (root), and always a fault hook that fails writes with ENOSPC once a byte budget
is spent. It is filled so that a run's output does not fit.
"""

from __future__ import annotations

import hashlib
import io
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger
from PIL import Image

from flora_emulator import Emulator
from floradrop import policy
from floradrop.jobs import JobState
from floradrop.status import AttentionKind
from tests.engine.harness import Daemon, drop, folder_toml, running, wait_for, write_config

from .smalldisk import SmallDisk


def noise_png(seed: int, side: int = 300) -> bytes:
    """An image that compresses badly, so its output is some 100 KiB."""
    image = Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def quick_disk_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Try a full disk again within a fraction of a second (10 s doubling to 60 s in use)."""
    monkeypatch.setattr(policy, "DISK_RETRY_SECONDS", 0.1)
    monkeypatch.setattr(policy, "DISK_RETRY_MAX_SECONDS", 0.3)


@pytest.fixture(params=["tmpfs", "hook"])
def disk_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def small_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, disk_kind: str
) -> Iterator[SmallDisk]:
    with SmallDisk(tmp_path / "in-outputs", monkeypatch, disk_kind) as disk:
        yield disk


def attempts_of(daemon: Daemon, job_id: int) -> int:
    return daemon.engine.backoff.attempts(job_id)


def temp_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.startswith(".floradrop-")]


def test_output_that_does_not_fit_waits_for_space_then_is_written_once(
    tmp_path: Path,
    small_outputs: SmallDisk,
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory(seed=3)
    disk = small_outputs
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    disk.fill(leave=8 * 1024)
    with running(config, emu) as daemon:
        drop(tmp_path / "in", "street.png", noise_png(1))
        [job] = daemon.wait_state(1, JobState.FETCHING)
        # 1. Nothing fits: the job stays FETCHING (its run is paid), the status says why.
        wait_for(lambda: attempts_of(daemon, job.id) >= 3, 30, f"three tries ({disk.kind})")
        snapshot = daemon.engine.snapshot()
        assert snapshot.attention is not None
        assert snapshot.attention.kind is AttentionKind.DISK
        assert str(disk.path) in snapshot.attention.message
        assert "No space left" in snapshot.attention.message
        assert "without a new run" in snapshot.attention.hint
        assert daemon.jobs()[0].state is JobState.FETCHING
        assert disk.listing() == [], "no output, not even a temporary file, is left"

        # 2. The output fits but its sidecar does not: the output is complete under its name.
        [media] = emu.media_dir.rglob("output_image.png")
        output_size = media.stat().st_size
        tries = attempts_of(daemon, job.id)
        disk.fill(leave=output_size)
        wait_for(lambda: attempts_of(daemon, job.id) > tries + 1, 30, "a try with some room")
        [record] = daemon.jobs()[0].outputs
        assert record["status"] == "written"
        assert disk.listing() == ["street.cctv-cam.png"], "no sidecar, no temporary file"
        written = disk.path / "street.cctv-cam.png"
        assert hashlib.sha256(written.read_bytes()).hexdigest() == record["sha256"]
        with Image.open(written) as image:
            image.load()
        assert daemon.jobs()[0].state is JobState.FETCHING

        # 3. Space is back: the job finishes by itself, with the same run, once.
        disk.release()
        [done] = daemon.wait_state(1, JobState.DONE)
        # The worker clears the problem just after the job's last transition: wait for it.
        wait_for(lambda: daemon.engine.snapshot().attention is None, 10, "the disk to be ok")
    assert done.run_id == job.run_id
    assert emu.stats.runs_created == 1
    assert disk.listing() == ["street.cctv-cam.png", "street.cctv-cam.png.json"]
    assert (tmp_path / "in-done" / "street.png").exists()
    assert not (tmp_path / "in-failed").exists() or not list((tmp_path / "in-failed").iterdir())


def test_failure_report_on_a_full_disk_is_in_the_journal_and_status(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    disk_kind: str,
    emulator_factory: Callable[..., Emulator],
) -> None:
    """A run fails while the failed folder's disk is full: the report cannot be written, so
    the journal and the status carry it; the original is never lost, nor run again."""
    emu = emulator_factory(seed=4, fail_rate=1.0)
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    with SmallDisk(tmp_path / "in-failed", monkeypatch, disk_kind) as disk:
        disk.fill(leave=0)
        with running(config, emu) as daemon:
            drop(tmp_path / "in", "portrait.png", noise_png(2, side=64))
            daemon.wait_state(1, JobState.FAILED)
            # FAILED comes first, then the move of the original (journaled with a second
            # FAILED -> FAILED): wait for that, the original's last word.
            wait_for(
                lambda: daemon.jobs()[0].filed_path or daemon.jobs()[0].note,
                10,
                "the original filed or left in place",
            )
            [job] = daemon.jobs()
            snapshot = daemon.engine.snapshot()
        assert job.error_message and "the run failed" in job.error_message
        assert job.report_path is None, "the report did not fit"
        [failure] = snapshot.recent_failures
        assert "portrait.png" in failure.label and "the run failed" in failure.label
        assert snapshot.attention is not None
        assert snapshot.attention.kind is AttentionKind.FAILED_JOB
        # The original is where the journal says it is, complete; nothing half-written.
        original = Path(job.source_path)
        assert original.read_bytes() == noise_png(2, side=64)
        assert [p for p in disk.listing() if p != original.name] == []
        assert emu.stats.runs_created == 1
        # It stayed in the inbox: the next start does not run it again ('floradrop retry' does).
        with running(config, emu) as daemon:
            wait_for(lambda: daemon.engine.cycles > 10 and daemon.engine.idle(), 20, "idle")
            assert [j.state for j in daemon.jobs()] == [JobState.FAILED]
        assert emu.stats.runs_created == 1


def test_a_failed_file_left_in_its_inbox_is_not_run_again_at_the_next_start(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    """As when its move to a full failed folder failed, or with ``after = "keep"``."""
    emu = emulator_factory(seed=5, fail_rate=1.0)
    folder = folder_toml(tmp_path, "in", "cctv-cam", 'after = "keep"')
    config = write_config(tmp_path, folder)
    (tmp_path / "in").mkdir()
    with running(config, emu) as daemon:
        drop(tmp_path / "in", "kept.png", noise_png(3, side=64))
        daemon.wait_state(1, JobState.FAILED)
    for _ in range(2):
        with running(config, emu) as daemon:
            wait_for(lambda: daemon.engine.cycles > 10 and daemon.engine.idle(), 20, "idle")
            assert [j.state for j in daemon.jobs()] == [JobState.FAILED]
    assert emu.stats.runs_created == 1
    assert (tmp_path / "in" / "kept.png").exists()


def test_files_dropped_while_the_journal_disk_is_full_are_taken_once_it_has_room(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    emulator_factory: Callable[..., Emulator],
) -> None:
    """The journal (SQLite) cannot record new jobs: nothing is uploaded or paid for, and the
    files are admitted by the next rescan once the disk has room (they used to be missed
    until a restart)."""
    emu = emulator_factory(seed=6)
    config = write_config(
        tmp_path, folder_toml(tmp_path, "in", "cctv-cam"), daemon="rescan_seconds = 10"
    )
    (tmp_path / "in").mkdir()
    refused: list[str] = []
    sink = logger.add(
        refused.append,
        level="ERROR",
        filter=lambda r: "could not admit" in r["message"],
    )
    try:
        with (
            SmallDisk(tmp_path / "state", monkeypatch, "tmpfs") as disk,
            running(config, emu) as daemon,
        ):
            drop(tmp_path / "in", "first.png", noise_png(6, side=32))
            daemon.wait_state(1, JobState.DONE)
            disk.fill(leave=0)
            drop(tmp_path / "in", "while full 1.png", noise_png(7, side=32))
            drop(tmp_path / "in", "while full 2.png", noise_png(8, side=32))
            wait_for(lambda: len(refused) >= 2, 20, "the journal to refuse both")
            assert emu.stats.runs_created == 1
            disk.release()
            daemon.wait_state(3, JobState.DONE, timeout=40)
    finally:
        logger.remove(sink)
    assert emu.stats.runs_created == 3
    assert not list((tmp_path / "in").iterdir())
