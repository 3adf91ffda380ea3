"""The settle rules with a hand-driven clock over real files: no threads, no sleeps."""

from __future__ import annotations

import os
from pathlib import Path, PurePath

import pytest

from floradrop.pipeline.settle import FAST_PROBE, ReadyFile, Settler, Signature

QUIET = 1.0


class Problems:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __call__(self, kind: str, message: str, path: str) -> None:
        self.seen.append((kind, path))


@pytest.fixture
def problems() -> Problems:
    return Problems()


@pytest.fixture
def settler(problems: Problems) -> Settler:
    return Settler(problem=problems)


PNG_HEAD = b"\x89PNG\r\n\x1a\n"
PNG_END = b"\x00\x00\x00\x00IEND\xae\x42\x60\x82"


def png(size: int = 100) -> bytes:
    """Bytes that a PNG completeness check takes as whole: signature ... IEND."""
    return PNG_HEAD + b"x" * max(0, size - len(PNG_HEAD) - len(PNG_END)) + PNG_END


def write(path: Path, data: bytes | None = None) -> str:
    path.write_bytes(png() if data is None else data)
    return str(path)


def event(settler: Settler, path: str, now: float, *, closed: bool = False) -> None:
    settler.activity("k", path, Path(path).name, now, quiet=QUIET, closed=closed)


def run(settler: Settler, *times: float) -> list[ReadyFile]:
    """Advance the clock through ``times`` (each must pass due work); collect ready files."""
    ready: list[ReadyFile] = []
    for now in times:
        ready += settler.run_due(now)
    return ready


def run_until(settler: Settler, end: float, step: float = 0.01) -> list[tuple[float, ReadyFile]]:
    """Step the clock from 0 to ``end`` and note when each file became ready."""
    out: list[tuple[float, ReadyFile]] = []
    for i in range(round(end / step) + 1):
        now = i * step
        out += [(now, r) for r in settler.run_due(now)]
    return out


def test_close_write_takes_the_fast_path(settler: Settler, tmp_path: Path) -> None:
    path = write(tmp_path / "photo.png", png(100))
    event(settler, path, 0.0, closed=True)
    assert settler.next_due() == 0.0
    ready = run_until(settler, 0.5)
    assert len(ready) == 1
    at, file = ready[0]
    assert FAST_PROBE <= at < 0.1  # two stats FAST_PROBE apart, not the quiet period
    assert (file.key, file.path, file.rel, file.size) == (
        "k",
        Path(path),
        PurePath("photo.png"),
        100,
    )
    assert file.inode == os.stat(path).st_ino
    assert len(settler) == 0


def test_without_close_it_waits_for_the_quiet_period(settler: Settler, tmp_path: Path) -> None:
    path = write(tmp_path / "moved-in.png")
    event(settler, path, 0.0)
    ready = run_until(settler, 2.0)
    assert [at for at, _ in ready] == [pytest.approx(QUIET)]


def test_every_event_restarts_the_quiet_period(settler: Settler, tmp_path: Path) -> None:
    path = write(tmp_path / "a.png")
    event(settler, path, 0.0)
    assert run(settler, 0.5, 0.9) == []
    event(settler, path, 0.9)
    ready = run_until(settler, 3.0)
    assert [at for at, _ in ready] == [pytest.approx(1.9)]


def test_an_event_after_close_cancels_the_fast_path(settler: Settler, tmp_path: Path) -> None:
    path = write(tmp_path / "a.png")
    event(settler, path, 0.0, closed=True)
    assert run(settler, 0.0) == []
    event(settler, path, 0.01)  # reopened and written again
    assert run(settler, 0.06, 0.5) == []
    assert [at for at, _ in run_until(settler, 2.0)] == [pytest.approx(1.01)]


def test_a_size_change_between_the_two_stats_is_not_ready(settler: Settler, tmp_path: Path) -> None:
    target = tmp_path / "growing.bin"
    path = write(target, b"12345")
    event(settler, path, 0.0)
    assert run(settler, 0.75) == []  # first stat: 5 bytes
    write(target, b"1234567890")  # written with no event seen (missed, network share)
    assert run(settler, 1.0) == []  # differs: counts as activity, the quiet period restarts
    ready = run_until(settler, 3.0)
    assert [(at, r.size) for at, r in ready] == [(pytest.approx(2.0), 10)]


def test_a_zero_byte_file_waits_the_full_quiet_period(settler: Settler, tmp_path: Path) -> None:
    path = write(tmp_path / "placeholder.png", b"")
    event(settler, path, 0.0, closed=True)  # touch: create + close-write
    ready = run_until(settler, 2.0)
    assert [(at, r.size) for at, r in ready] == [(pytest.approx(QUIET), 0)]


def test_a_placeholder_filled_later_is_reported_once_with_its_content(
    settler: Settler, tmp_path: Path
) -> None:
    target = tmp_path / "placeholder.png"
    path = write(target, b"")
    event(settler, path, 0.0, closed=True)
    assert run(settler, 0.0, 0.05, 0.5) == []
    write(target, b"filled")
    event(settler, path, 0.5, closed=True)
    ready = run_until(settler, 3.0)
    assert [r.size for _, r in ready] == [6]


def test_a_vanished_file_is_dropped_quietly(
    settler: Settler, problems: Problems, tmp_path: Path
) -> None:
    target = tmp_path / "gone.png"
    path = write(target)
    event(settler, path, 0.0)
    target.unlink()
    assert run_until(settler, 2.0) == []
    assert len(settler) == 0
    assert problems.seen == []


def test_the_same_file_is_reported_once(settler: Settler, tmp_path: Path) -> None:
    target = tmp_path / "a.png"
    path = write(target)
    event(settler, path, 0.0, closed=True)
    (first,) = run(settler, 0.0, 0.05)
    settler.mark_reported(path, Signature(first.size, first.mtime_ns, first.inode or 0))
    # an attribute change, or a rescan, finds it again unchanged: nothing new to report
    event(settler, path, 1.0, closed=True)
    assert run_until(settler, 3.0) == []
    # changed content is a new candidate and is reported again
    write(target, png(111))
    event(settler, path, 3.0, closed=True)
    assert [r.size for r in run(settler, 3.0, 3.05)] == [111]


def test_a_rescan_skips_reported_files(settler: Settler, tmp_path: Path) -> None:
    path = write(tmp_path / "a.png")
    sig = Signature.of(os.lstat(path))
    settler.mark_reported(path, sig)
    assert settler.is_reported(path, sig)
    assert not settler.is_reported(path, sig._replace(size=sig.size + 1))


def test_an_old_file_found_by_a_scan_needs_only_two_agreeing_stats(
    settler: Settler, tmp_path: Path
) -> None:
    path = write(tmp_path / "old.png")
    sig = Signature.of(os.lstat(path))
    settler.found("k", path, "old.png", sig=sig, age=3600, now=0.0, quiet=QUIET)
    ready = run_until(settler, 1.0)
    assert [at for at, _ in ready] == [pytest.approx(0.25)]


def test_a_fresh_file_found_by_a_scan_waits_out_its_quiet_period(
    settler: Settler, tmp_path: Path
) -> None:
    path = write(tmp_path / "fresh.png")
    sig = Signature.of(os.lstat(path))
    settler.found("k", path, "fresh.png", sig=sig, age=0.4, now=0.0, quiet=QUIET)
    ready = run_until(settler, 2.0)
    assert [at for at, _ in ready] == [pytest.approx(0.6)]


def test_a_rename_of_a_closed_temporary_file_keeps_the_fast_path(
    settler: Settler, tmp_path: Path
) -> None:
    part = str(tmp_path / "x.part")
    settler.note_closed(part, 0.0)  # ignored name, written and closed
    final = write(tmp_path / "x.png")
    settler.activity(
        "k", final, "x.png", 0.01, quiet=QUIET, closed=settler.take_closed(part, 0.01), renamed=True
    )
    ready = run_until(settler, 0.5)
    assert len(ready) == 1
    assert ready[0][0] < 0.1  # 0.01 + FAST_PROBE, not 0.01 + QUIET
    # ...but not when it was written again after its close
    settler.note_closed(part, 1.0)
    settler.note_written(part)
    assert not settler.take_closed(part, 1.0)


def test_symlinks_are_reported_as_problems_and_never_followed(
    settler: Settler, problems: Problems, tmp_path: Path
) -> None:
    outside = write(tmp_path / "outside.png")
    link = tmp_path / "link.png"
    link.symlink_to(outside)
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    for path in (link, loop):
        event(settler, str(path), 0.0, closed=True)
    assert run_until(settler, 2.0) == []
    assert sorted(problems.seen) == [("symlink", str(link)), ("symlink", str(loop))]


def test_non_regular_files_are_dropped(settler: Settler, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    directory = tmp_path / "dir"
    directory.mkdir()
    for path in (fifo, directory):
        event(settler, str(path), 0.0, closed=True)
    assert run_until(settler, 2.0) == []
    assert len(settler) == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_a_problem_not_a_crash(
    settler: Settler, problems: Problems, tmp_path: Path
) -> None:
    target = tmp_path / "secret.png"
    path = write(target)
    target.chmod(0)
    event(settler, path, 0.0, closed=True)
    assert run_until(settler, 2.0) == []
    assert problems.seen == [("unreadable", path)]


def test_drop_where_removes_candidates_and_reports_under_a_folder(
    settler: Settler, tmp_path: Path
) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    inside, outside = write(sub / "a.png"), write(tmp_path / "b.png")
    for path in (inside, outside):
        event(settler, path, 0.0)
    settler.mark_reported(inside, Signature(1, 1, 1))
    assert settler.drop_where(lambda p: p.startswith(str(sub) + os.sep)) == 1
    assert inside not in settler and outside in settler
    assert not settler.is_reported(inside, Signature(1, 1, 1))


def test_reported_memory_is_bounded(tmp_path: Path) -> None:
    settler = Settler(max_reported=100)
    for i in range(1000):
        settler.mark_reported(str(tmp_path / f"{i}.png"), Signature(i, i, i))
    assert settler.reported_count <= 100
    assert settler.is_reported(str(tmp_path / "999.png"), Signature(999, 999, 999))


def test_many_candidates_settle_in_one_pass(settler: Settler, tmp_path: Path) -> None:
    paths = [write(tmp_path / f"{i}.png", png(100 + i)) for i in range(500)]
    for path in paths:
        event(settler, path, 0.0, closed=True)
    ready = run(settler, 0.0, FAST_PROBE)
    assert sorted(r.size for r in ready) == list(range(100, 600))
    assert len(settler) == 0


def test_a_file_moved_in_whole_with_an_old_mtime_needs_no_quiet_period(
    settler: Settler, tmp_path: Path
) -> None:
    path = write(tmp_path / "from-downloads.png", png(100))
    old = os.stat(path).st_mtime - 3600
    os.utime(path, (old, old))  # last written an hour ago, then moved in (only `created`)
    event(settler, path, 0.0)
    ready = run_until(settler, 2.0)
    assert len(ready) == 1
    at, _file = ready[0]
    assert at < 0.2, "two agreeing stats suffice for a file that is not being written"


def test_a_fresh_file_without_close_still_waits_the_quiet_period(
    settler: Settler, tmp_path: Path
) -> None:
    path = write(tmp_path / "being-written.png", png(100))  # mtime: now
    event(settler, path, 0.0)
    [(at, _file)] = run_until(settler, 2.0)
    assert at >= QUIET
