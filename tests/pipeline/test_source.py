"""Is the source still the dropped file? One check that never follows a link, and uploads that
read the descriptor that was checked (a link swapped in at any instant is never read).

Real files, links and fifos in a temp dir, a real journal; the end-to-end tests run a real
engine against the emulator over loopback and look at the bytes the emulator received.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal
from floradrop.pipeline import source, upload
from floradrop.pipeline.source import SourceGone

from ..engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="symbolic links and fifos")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    j = Journal(tmp_path / "journal.sqlite3")
    try:
        yield j
    finally:
        j.close()


def job_for(journal: Journal, path: Path) -> Job:
    """A job as admission journals it: the file's path, size and modification time."""
    found = path.lstat()
    return journal.add_job(
        job_key=f"key-{path.name}",
        attempt=0,
        folder=str(path.parent),
        rel_path=path.name,
        source_path=str(path),
        size=found.st_size,
        mtime_ns=found.st_mtime_ns,
        content_hash="0" * 64,
        rule_index=0,
        technique="cctv-cam",
        state=JobState.WAITING,
    )


def swap_in_link(path: Path, target: Path) -> None:
    """Replace ``path`` by a symbolic link to ``target`` in one atomic rename."""
    link = path.with_name(f".{path.name}.link")
    link.symlink_to(target)
    os.replace(link, path)


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every watched folder that must never be read or sent: a private picture
    (an image, so that FLORA would take it if it were ever sent)."""
    path = tmp_path / "outside" / "private.png"
    path.parent.mkdir()
    path.write_bytes(png_bytes(99, (80, 60)))
    return path


def test_the_dropped_file_is_still_ours(tmp_path: Path, journal: Journal) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"pixels")
    job = job_for(journal, path)
    assert source.still_ours(job) and not source.superseded(job)
    source.check(job)
    with source.opened(job) as fd, source.reader(fd) as handle:
        assert handle.read() == b"pixels"
        assert source.still_ours(job, fd)


def test_a_file_saved_again_is_not_ours(tmp_path: Path, journal: Journal) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"pixels")
    job = job_for(journal, path)
    path.write_bytes(b"other pixels")
    assert not source.still_ours(job) and source.superseded(job)
    with pytest.raises(SourceGone, match="changed before its run was started"):
        source.check(job)
    with pytest.raises(SourceGone, match="changed"), source.opened(job):
        pass


def test_a_removed_file_is_gone_not_superseded(tmp_path: Path, journal: Journal) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"pixels")
    job = job_for(journal, path)
    path.unlink()
    assert not source.still_ours(job) and not source.superseded(job)
    with pytest.raises(SourceGone, match="removed"), source.opened(job):
        pass


@posix_only
def test_a_link_in_its_place_is_never_followed(
    tmp_path: Path, journal: Journal, secret: Path
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(secret.read_bytes())  # same size as the secret
    os.utime(path, ns=(secret.stat().st_atime_ns, secret.stat().st_mtime_ns))
    job = job_for(journal, path)
    swap_in_link(path, secret)  # the link's target has the journaled size and mtime
    assert path.stat().st_size == job.size and path.stat().st_mtime_ns == job.mtime_ns
    assert not source.still_ours(job) and source.superseded(job)
    with pytest.raises(SourceGone, match="symbolic link"):
        source.check(job)
    with pytest.raises(SourceGone, match="symbolic link"), source.opened(job):
        pass
    with pytest.raises(FileNotFoundError):
        source.settled_hash(path, job.size, job.mtime_ns)


@posix_only
def test_a_fifo_in_its_place_is_refused_without_blocking(tmp_path: Path, journal: Journal) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"video")
    job = job_for(journal, path)
    path.unlink()
    os.mkfifo(path)  # opening it for reading would block until a writer came
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            with source.opened(job):
                outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "opening the fifo blocked"
    assert len(outcome) == 1 and isinstance(outcome[0], SourceGone)


@posix_only
def test_a_link_swapped_in_after_the_open_is_not_read(
    tmp_path: Path, journal: Journal, secret: Path
) -> None:
    """The bytes come from the descriptor that was checked; the check after reading sees the
    swap, so nothing made from them is used."""
    path = tmp_path / "photo.png"
    path.write_bytes(b"the dropped bytes")
    job = job_for(journal, path)
    with source.opened(job) as fd:
        swap_in_link(path, secret)
        with source.reader(fd) as handle:
            assert handle.read() == b"the dropped bytes"
        with pytest.raises(SourceGone):
            source.check(job, fd)
    with pytest.raises(SourceGone, match="symbolic link"):
        source.check(job)


def test_a_file_replaced_by_another_with_the_same_size_and_time_is_caught_by_its_inode(
    tmp_path: Path, journal: Journal
) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(b"aaaa")
    job = job_for(journal, path)
    with source.opened(job) as fd:
        other = tmp_path / "other.png"
        other.write_bytes(b"bbbb")
        os.utime(other, ns=(job.mtime_ns, job.mtime_ns))
        os.replace(other, path)  # same size and mtime, another file
        assert source.still_ours(job)  # by name alone it looks the same ...
        assert not source.still_ours(job, fd)  # ... but it is not the file that is open
        with pytest.raises(SourceGone, match="replaced"):
            source.check(job, fd)


# -- end to end: a real engine, the emulator's received bytes -------------------------------


def received(emulator: Emulator) -> list[bytes]:
    """Every asset's bytes that reached the emulator."""
    return [a.file.read_bytes() for a in emulator.state.assets.values() if a.file is not None]


@posix_only
def test_a_link_swapped_in_between_admission_and_upload_is_never_uploaded(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dropped file is replaced by a link to a secret file outside the folder at the worst
    instant: just after the upload opened the file and checked it. The upload sends the bytes
    of the descriptor it checked (the dropped file's), the check after it sees the link, so no
    run is made (nothing is paid) and the job is cancelled; nothing of the secret reaches
    FLORA, the secret is untouched."""
    secret_bytes = secret.read_bytes()
    swapped = threading.Event()
    original = source.opened

    @contextlib.contextmanager
    def open_then_swap(job: Job) -> Iterator[int]:
        with original(job) as fd:  # opened without following links, and checked
            if not swapped.is_set():
                swap_in_link(Path(job.source_path), secret)  # the instant after the check
                swapped.set()
            yield fd

    monkeypatch.setattr(upload, "opened", open_then_swap)
    with Emulator(run_seconds=0.2) as emulator:
        config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
        with running(config, emulator) as daemon:
            drop(tmp_path / "in", "street.png", png_bytes(7))
            [job] = daemon.wait_state(1, JobState.CANCELLED, timeout=60)
            assert swapped.is_set()
            assert "symbolic link" in (job.note or "")
            assert emulator.stats.runs_created == 0
            sent = received(emulator)
            assert sent == [png_bytes(7)]  # the dropped bytes, read from the checked descriptor
            assert not any(secret_bytes in data for data in sent)
    assert secret.read_bytes() == secret_bytes
    assert (tmp_path / "in" / "street.png").is_symlink()  # left alone, not moved or followed


@posix_only
def test_a_link_in_place_before_the_upload_is_never_opened(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Swapped in after admission, before the upload opens the file: the open refuses the
    link (O_NOFOLLOW), so not a byte of the secret is read."""
    secret_bytes = secret.read_bytes()
    swapped = threading.Event()
    original = source.opened

    def swap_then_open(job: Job) -> object:
        if not swapped.is_set():
            swap_in_link(Path(job.source_path), secret)
            swapped.set()
        return original(job)

    monkeypatch.setattr(upload, "opened", swap_then_open)
    with Emulator(run_seconds=0.2) as emulator:
        config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
        with running(config, emulator) as daemon:
            drop(tmp_path / "in", "street.png", png_bytes(8))
            [job] = daemon.wait_state(1, JobState.CANCELLED, timeout=60)
            assert swapped.is_set() and "symbolic link" in (job.note or "")
            assert emulator.stats.runs_created == 0
            assert received(emulator) == []  # nothing was uploaded at all
            wait_for(lambda: not daemon.jobs(JobState.WAITING, JobState.UPLOADING), 10, "idle")
    assert secret.read_bytes() == secret_bytes


@posix_only
def test_a_sidecar_is_opened_only_if_it_is_a_file_of_its_own(tmp_path: Path, secret: Path) -> None:
    prompt = tmp_path / "photo.txt"
    prompt.write_text("a quiet street")
    fd = source.open_file(prompt)
    try:
        with source.reader(fd) as handle:
            assert handle.read() == b"a quiet street"
    finally:
        os.close(fd)
    swap_in_link(prompt, secret)
    with pytest.raises(source.NotAFile):
        source.open_file(prompt)
    prompt.unlink()
    os.mkfifo(prompt)
    with pytest.raises(source.NotAFile):  # at once: O_NONBLOCK, then not a regular file
        source.open_file(prompt)
    prompt.unlink()
    with pytest.raises(FileNotFoundError):
        source.open_file(prompt)


@posix_only
def test_a_sidecar_swapped_for_a_link_after_its_open_gives_the_run_its_own_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prompt sidecar is read from the descriptor that was checked: a link to a private
    text swapped in just after the open never reaches FLORA."""
    private = tmp_path / "outside" / "diary.txt"
    private.parent.mkdir()
    private.write_text("PRIVATE DIARY", encoding="utf-8")
    swapped = threading.Event()
    original = source.open_file

    def open_then_swap(path: Path) -> int:
        fd = original(path)
        if path.suffix == ".txt" and not swapped.is_set():
            swap_in_link(path, private)
            swapped.set()
        return fd

    monkeypatch.setattr(source, "open_file", open_then_swap)
    folder = folder_toml(tmp_path, "in", "cctv-cam", 'inputs = { prompt = "sidecar" }')
    with Emulator(run_seconds=0.2) as emulator:
        config = write_config(tmp_path, folder)
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "street.txt").write_text("a quiet street", encoding="utf-8")
        with running(config, emulator) as daemon:
            drop(tmp_path / "in", "street.png", png_bytes(9))
            [job] = daemon.wait_state(1, JobState.DONE, JobState.FAILED, timeout=60)
            assert swapped.is_set()
            [run] = emulator.runs()
            assert run.inputs["prompt"] == "a quiet street"
            assert job.state is JobState.DONE
    assert "PRIVATE" not in json.dumps([r.inputs for r in emulator.runs()])
