"""Intake end to end: real watchdog observers on tmp_path, waiting on conditions."""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path, PurePath

import pytest

from floradrop.pipeline import watch
from floradrop.pipeline.watch import Intake, ReadyFile, WatchSpec
from tests.engine.test_settle import png

SETTLE = 0.3


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


class Recorder:
    """Collects what the intake reports, from its settle thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ready: list[ReadyFile] = []
        self.problems: list[tuple[str, Path | None]] = []

    def __call__(self, ready: ReadyFile) -> None:
        with self._lock:
            self.ready.append(ready)

    def problem(self, message: str, path: Path | None) -> None:
        with self._lock:
            self.problems.append((message, path))

    def names(self) -> list[str]:
        with self._lock:
            return [r.rel.as_posix() for r in self.ready]

    def has(self, rel: str) -> bool:
        return rel in self.names()

    def about(self, rel: str) -> list[ReadyFile]:
        with self._lock:
            return [r for r in self.ready if r.rel.as_posix() == rel]

    def problem_about(self, path: Path, word: str) -> bool:
        with self._lock:
            return any(p == path and word in m for m, p in self.problems)


JUNK = ("*.part", "*.tmp", ".*", "*~", "Thumbs.db")


def junk_or(*patterns: str) -> Callable[[PurePath], bool]:
    """An ``is_ignored`` like the engine's: junk names plus the folder's ignore patterns."""
    globs = JUNK + patterns
    return lambda rel: any(fnmatch.fnmatchcase(rel.name, g) for g in globs)


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.inbox = tmp_path / "inbox"
        self.inbox.mkdir()
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.recorder = Recorder()
        self.intakes: list[Intake] = []

    def spec(
        self,
        path: Path | None = None,
        *,
        recursive: bool = False,
        polling: bool = False,
        exclude: tuple[Path, ...] = (),
        is_ignored: Callable[[PurePath], bool] | None = None,
    ) -> WatchSpec:
        path = path or self.inbox
        return WatchSpec(
            key=str(path),
            path=path,
            recursive=recursive,
            polling=polling,
            exclude=exclude,
            is_ignored=is_ignored or junk_or(),
        )

    def start(self, *specs: WatchSpec, settle: float = SETTLE, polling: float = 5.0) -> Intake:
        intake = Intake(
            list(specs) or [self.spec()],
            self.recorder,
            settle_seconds=settle,
            polling_interval=polling,
            on_problem=self.recorder.problem,
        )
        self.intakes.append(intake)
        intake.start()
        return intake

    def barrier(self, folder: Path | None = None, name: str = "barrier.txt") -> None:
        """Drop a file and wait until it is reported: everything before it was processed."""
        (folder or self.inbox).joinpath(name).write_text(name)
        wait_for(lambda: self.recorder.has(name))

    def move_in(self, name: str, data: bytes, folder: Path | None = None) -> Path:
        """Write outside, then rename in: the watched folder sees only ``created``."""
        staged = self.outside / name
        staged.write_bytes(data)
        target = (folder or self.inbox) / name
        staged.rename(target)
        return target


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    yield harness
    for intake in harness.intakes:
        intake.stop()


def test_a_written_file_is_reported_once_with_its_final_size(h: Harness) -> None:
    intake = h.start()
    (h.inbox / "photo.png").write_bytes(b"x" * 1234)
    wait_for(lambda: h.recorder.has("photo.png"))
    (ready,) = h.recorder.about("photo.png")
    assert ready.key == str(h.inbox)
    assert ready.path == h.inbox / "photo.png"
    assert ready.size == 1234
    st = os.stat(ready.path)
    assert (ready.mtime_ns, ready.inode) == (st.st_mtime_ns, st.st_ino)
    intake.rescan()  # unchanged: not reported again
    h.barrier()
    assert len(h.recorder.about("photo.png")) == 1
    assert intake.pending == 0


def test_a_slow_writer_is_never_reported_with_a_partial_size(h: Harness) -> None:
    h.start(settle=1.0)
    chunk, chunks = b"y" * 4096, 25

    def slow_writer() -> None:
        with (h.inbox / "video.mp4").open("wb") as handle:
            for _ in range(chunks):
                handle.write(chunk)
                handle.flush()
                time.sleep(0.1)  # simulates a slow copy (~2.5 s), not test pacing

    writer = threading.Thread(target=slow_writer)
    writer.start()
    wait_for(lambda: h.recorder.has("video.mp4"))
    writer.join()
    h.barrier()
    assert [r.size for r in h.recorder.about("video.mp4")] == [len(chunk) * chunks]


def test_a_file_renamed_in_from_another_folder_is_reported(h: Harness) -> None:
    h.start()
    h.move_in("moved.png", b"moved")
    wait_for(lambda: h.recorder.has("moved.png"))
    assert [r.size for r in h.recorder.about("moved.png")] == [5]


def test_a_part_file_renamed_to_its_final_name_is_reported_under_that_name(h: Harness) -> None:
    h.start()
    part = h.inbox / "download.png.part"
    with part.open("wb") as handle:
        handle.write(b"z" * 500)
    part.rename(h.inbox / "download.png")
    wait_for(lambda: h.recorder.has("download.png"))
    h.barrier()
    assert h.recorder.names().count("download.png") == 1
    assert "download.png.part" not in h.recorder.names()
    assert h.recorder.about("download.png")[0].size == 500


def test_junk_and_ignored_names_are_never_reported(h: Harness) -> None:
    h.start(h.spec(is_ignored=junk_or("*.psd", "draft-*")))
    for name in (".DS_Store", "a.tmp", "b.part", "backup~", "Thumbs.db", "art.psd", "draft-1.png"):
        (h.inbox / name).write_bytes(b"junk")
    h.barrier()
    assert h.recorder.names() == ["barrier.txt"]


def test_the_startup_scan_picks_up_existing_files(h: Harness) -> None:
    for i in range(20):
        (h.inbox / f"old-{i}.png").write_bytes(b"o" * i)
    (h.inbox / ".hidden.png").write_bytes(b"h")
    intake = h.start()
    wait_for(lambda: len(h.recorder.ready) == 20)
    assert sorted(h.recorder.names()) == sorted(f"old-{i}.png" for i in range(20))
    wait_for(lambda: intake.pending == 0)


def test_a_file_deleted_while_settling_is_not_reported(h: Harness) -> None:
    intake = h.start(settle=0.5)
    h.barrier()
    target = h.move_in("fleeting.png", b"gone soon")  # no close-write: settles slowly
    wait_for(lambda: intake.pending == 1)
    target.unlink()
    h.move_in("after.png", b"later")  # settles after fleeting.png would have
    wait_for(lambda: h.recorder.has("after.png"))
    assert "fleeting.png" not in h.recorder.names()
    assert h.recorder.problems == []
    wait_for(lambda: intake.pending == 0)


def test_a_rescan_finds_files_whose_events_were_lost(h: Harness) -> None:
    intake = h.start()
    h.barrier(name="first.txt")
    intake._events_suppressed = True  # as after sleep/wake: the kernel's events never arrive
    (h.inbox / "missed.png").write_bytes(b"missed")
    h.move_in("missed-too.png", b"missed")
    assert intake.pending == 0
    intake._events_suppressed = False
    intake.rescan()
    wait_for(lambda: h.recorder.has("missed.png") and h.recorder.has("missed-too.png"))


def test_a_queue_overflow_logged_by_watchdog_triggers_a_rescan(h: Harness) -> None:
    intake = h.start()
    h.barrier(name="first.txt")
    intake._events_suppressed = True
    (h.inbox / "lost.png").write_bytes(b"lost")
    intake._events_suppressed = False
    # the line watchdog's inotify reader logs when the kernel queue overflowed
    logging.getLogger("watchdog.observers.inotify_c").warning(
        "Inotify queue overflowed; filesystem events were lost"
    )
    wait_for(lambda: h.recorder.has("lost.png"))


def test_polling_mode_reports_new_files(h: Harness) -> None:
    intake = h.start(h.spec(polling=True), polling=0.2)
    names = {t.name for t in threading.enumerate()}
    assert "floradrop-poll" in names and "floradrop-watch" not in names
    (h.inbox / "share.png").write_bytes(b"s" * 10)
    h.move_in("share-moved.png", b"m")
    wait_for(lambda: h.recorder.has("share.png") and h.recorder.has("share-moved.png"))
    assert [r.size for r in h.recorder.about("share.png")] == [10]
    wait_for(lambda: intake.pending == 0)


def test_recursive_mode_reports_a_folder_moved_in(h: Harness) -> None:
    done = h.tmp_path / "done"
    done.mkdir()
    h.start(h.spec(recursive=True, exclude=(h.inbox / "skip",)))
    tree = h.outside / "album"
    (tree / "deep").mkdir(parents=True)
    (tree / ".git").mkdir()
    (tree / "a.png").write_bytes(b"a")
    (tree / "deep" / "b.png").write_bytes(b"bb")
    (tree / ".git" / "c.png").write_bytes(b"c")
    tree.rename(h.inbox / "album")
    (h.inbox / "skip").mkdir()
    (h.inbox / "skip" / "never.png").write_bytes(b"n")
    (h.inbox / "new").mkdir()
    (h.inbox / "new" / "later.png").write_bytes(b"later")
    wait_for(
        lambda: {"album/a.png", "album/deep/b.png", "new/later.png"} <= set(h.recorder.names())
    )
    h.barrier()
    assert sorted(h.recorder.names()) == sorted(
        ["album/a.png", "album/deep/b.png", "new/later.png", "barrier.txt"]
    )
    assert h.recorder.about("album/deep/b.png")[0].rel == PurePath("album", "deep", "b.png")


def test_a_non_recursive_folder_ignores_subfolders(h: Harness) -> None:
    h.start()
    (h.inbox / "sub").mkdir()
    (h.inbox / "sub" / "inner.png").write_bytes(b"i")
    h.barrier()
    assert h.recorder.names() == ["barrier.txt"]


@pytest.fixture
def fast_root_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check the watched folders every 0.1 s instead of every 2 s, to keep the suite fast."""
    monkeypatch.setattr(watch, "ROOT_CHECK_SECONDS", 0.1)


@pytest.mark.usefixtures("fast_root_checks")
def test_a_watched_folder_deleted_and_recreated_is_watched_again(h: Harness) -> None:
    h.start()
    h.barrier(name="before.txt")
    shutil.rmtree(h.inbox)
    wait_for(lambda: h.recorder.problem_about(h.inbox, "does not exist"))
    h.inbox.mkdir()
    (h.inbox / "after.png").write_bytes(b"after")  # event or scan, whichever comes first
    wait_for(lambda: h.recorder.has("after.png"))
    h.barrier(name="later.txt")  # and events flow again on the new watch
    assert len(h.recorder.problems) == 1


@pytest.mark.usefixtures("fast_root_checks")
def test_a_folder_missing_at_start_is_watched_once_it_appears(h: Harness) -> None:
    later = h.tmp_path / "later"
    h.start(h.spec(later))
    assert h.recorder.problem_about(later, "does not exist")
    later.mkdir()
    (later / "first.png").write_bytes(b"first")
    wait_for(lambda: h.recorder.has("first.png"))
    h.barrier(later, "second.txt")


@pytest.mark.usefixtures("fast_root_checks")
def test_a_watched_folder_renamed_away_and_replaced_is_watched_again(h: Harness) -> None:
    h.start()
    h.barrier(name="before.txt")
    h.inbox.rename(h.tmp_path / "renamed")
    h.inbox.mkdir()
    (h.tmp_path / "renamed" / "old-place.png").write_bytes(b"old")
    (h.inbox / "new-place.png").write_bytes(b"new")
    wait_for(lambda: h.recorder.has("new-place.png"))
    h.barrier(name="after.txt")
    assert "old-place.png" not in h.recorder.names()
    assert all(r.path.parent == h.inbox for r in h.recorder.ready)


def test_symlinks_are_never_followed(h: Harness) -> None:
    (h.outside / "secret.png").write_bytes(b"secret")
    (h.inbox / "file-link.png").symlink_to(h.outside / "secret.png")
    (h.inbox / "dir-link").symlink_to(h.outside, target_is_directory=True)
    (h.inbox / "loop").symlink_to(h.inbox, target_is_directory=True)
    (h.inbox / "self.png").symlink_to(h.inbox / "self.png")
    h.start(h.spec(recursive=True))
    (h.inbox / "new-link.png").symlink_to(h.outside / "secret.png")
    h.barrier()
    assert h.recorder.names() == ["barrier.txt"]
    for name in ("file-link.png", "dir-link", "loop", "self.png", "new-link.png"):
        link = h.inbox / name
        wait_for(lambda: h.recorder.problem_about(link, "symbolic link"))  # noqa: B023
    messages = [m for m, _ in h.recorder.problems]
    assert len(messages) == len(set(messages))  # once per path


def test_a_watched_folder_that_is_itself_a_link_is_watched_at_its_target(h: Harness) -> None:
    link = h.tmp_path / "inbox-link"
    link.symlink_to(h.inbox, target_is_directory=True)
    h.start(h.spec(link))
    (h.inbox / "through-link.png").write_bytes(b"t")
    wait_for(lambda: h.recorder.has("through-link.png"))
    (ready,) = h.recorder.about("through-link.png")
    assert (ready.key, ready.path) == (str(link), link / "through-link.png")


def test_a_zero_byte_file_is_reported_after_the_quiet_period(h: Harness) -> None:
    h.start(settle=0.5)
    h.barrier()
    (h.inbox / "empty.png").touch()
    (h.inbox / "full.png").write_bytes(png(40))  # whole for its type: the fast path
    wait_for(lambda: h.recorder.has("empty.png") and h.recorder.has("full.png"))
    # the close-write fast path is for files with content; the empty one waited
    assert h.recorder.names() == ["barrier.txt", "full.png", "empty.png"]
    assert h.recorder.about("empty.png")[0].size == 0


def test_a_placeholder_filled_within_the_quiet_period_is_reported_filled(h: Harness) -> None:
    h.start(settle=1.0)
    placeholder = h.inbox / "render.png"
    placeholder.touch()
    time.sleep(0.2)  # simulates the app that creates the placeholder, then writes it
    placeholder.write_bytes(b"rendered")
    wait_for(lambda: h.recorder.has("render.png"))
    h.barrier()
    assert [r.size for r in h.recorder.about("render.png")] == [8]


def test_a_changed_file_is_reported_again(h: Harness) -> None:
    h.start()
    target = h.inbox / "photo.png"
    target.write_bytes(b"v1")
    wait_for(lambda: h.recorder.has("photo.png"))
    target.write_bytes(b"version 2")
    wait_for(lambda: len(h.recorder.about("photo.png")) == 2)
    assert [r.size for r in h.recorder.about("photo.png")] == [2, 9]


def test_unusual_names_are_reported_as_they_are(h: Harness) -> None:
    h.start()
    names = ["-rf photo.png", "line\nbreak.png", "naïve café 写真.png", "  spaced  .png"]
    for name in names:
        (h.inbox / name).write_bytes(name.encode())
    wait_for(lambda: set(names) <= set(h.recorder.names()))
    for name in names:
        assert h.recorder.about(name)[0].path == h.inbox / name


def test_update_specs_adds_and_removes_folders_and_keeps_pending_ones(h: Harness) -> None:
    second = h.tmp_path / "second"
    second.mkdir()
    (second / "waiting.png").write_bytes(b"w")
    intake = h.start(settle=0.8)
    h.move_in("pending.png", b"p")  # settles slowly: still pending during the reload
    wait_for(lambda: intake.pending >= 1)
    intake.update_specs([h.spec(), h.spec(second)])
    wait_for(lambda: h.recorder.has("pending.png") and h.recorder.has("waiting.png"))
    assert {r.key for r in h.recorder.about("waiting.png")} == {str(second)}
    intake.update_specs([h.spec(second)])
    (h.inbox / "unwatched.png").write_bytes(b"u")
    h.barrier(second, "in-second.txt")
    h.barrier(second, "in-second-2.txt")
    assert "unwatched.png" not in h.recorder.names()


def test_forget_drops_a_pending_candidate(h: Harness) -> None:
    intake = h.start(settle=0.5)
    h.barrier()  # the startup scan is over: the only source of handled.png is its event
    target = h.move_in("handled.png", b"h")
    wait_for(lambda: intake.pending == 1)
    intake.forget(target)
    h.move_in("next.png", b"n")  # same slow path, queued after the forget
    wait_for(lambda: h.recorder.has("next.png"))
    assert "handled.png" not in h.recorder.names()
    intake.rescan()  # forgotten, so a rescan offers it again (the engine's retry)
    wait_for(lambda: h.recorder.has("handled.png"))


def test_an_on_ready_failure_is_logged_and_retried_by_the_next_rescan(h: Harness) -> None:
    failures: list[str] = []

    def flaky(ready: ReadyFile) -> None:
        if not failures:
            failures.append(ready.rel.name)
            raise RuntimeError("engine hiccup")
        h.recorder(ready)

    intake = Intake([h.spec()], flaky, settle_seconds=SETTLE)
    h.intakes.append(intake)
    intake.start()
    (h.inbox / "first.png").write_bytes(b"1")
    wait_for(lambda: failures == ["first.png"])
    h.barrier()
    intake.rescan()
    wait_for(lambda: h.recorder.has("first.png"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_reported_as_a_problem_once(h: Harness) -> None:
    secret = h.inbox / "secret.png"
    secret.write_bytes(b"s")
    secret.chmod(0)
    intake = h.start()
    wait_for(lambda: h.recorder.problem_about(secret, "permission denied"))
    intake.rescan()
    h.barrier()
    assert "secret.png" not in h.recorder.names()
    assert len(h.recorder.problems) == 1
    secret.chmod(0o644)  # fixed: the attribute change makes it a candidate again
    wait_for(lambda: h.recorder.has("secret.png"))


def test_many_files_dropped_at_once_are_all_reported(h: Harness) -> None:
    intake = h.start()
    for i in range(1000):
        (h.inbox / f"batch-{i:04}.png").write_bytes(b"b" * (i % 50 + 1))
    wait_for(lambda: len(h.recorder.ready) == 1000, timeout=30)
    assert len(set(h.recorder.names())) == 1000
    wait_for(lambda: intake.pending == 0)


def test_stop_joins_every_thread_and_is_idempotent(h: Harness) -> None:
    before = set(threading.enumerate())
    intake = h.start(h.spec(), h.spec(h.outside, polling=True), polling=0.2)
    h.barrier()
    started = set(threading.enumerate()) - before
    assert "floradrop-settle" in {t.name for t in started}
    intake.stop()
    intake.stop()
    assert [t.name for t in started if t.is_alive()] == []
    with pytest.raises(RuntimeError):
        intake.start()
