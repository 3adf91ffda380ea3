"""Bad input: everything a person (or their tools) may drop gets a clear outcome.

Real parts throughout: the daemon's engine (``tests/engine/harness.py``), the emulator over
loopback, a real observer on a temporary folder, a real journal. Each test checks that the
person's bytes are still somewhere (the inbox, the done folder or the failed folder, with a
report) and that the daemon keeps going: a normal file dropped after the bad ones completes.
RELIABILITY.md ("Bad input") records what each test showed.
"""

from __future__ import annotations

import io
import os
import random
import shlex
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from loguru import logger
from PIL import Image

from flora_emulator import Emulator
from floradrop.jobs import JobState
from floradrop.journal import Job
from floradrop.pipeline import precheck

from ..engine.harness import Daemon, drop, folder_toml, png_bytes, running, wait_for, write_config

NAME_MAX = 255  # bytes in one file name (ext4, APFS, NTFS in UTF-16 units)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log message (INFO and up) while the test runs."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    yield lines
    logger.remove(sink)


def drop_old(inbox: Path, name: str, data: bytes, age: float = 3600.0) -> Path:
    """Drop a file last modified ``age`` seconds ago (copied with its date, or saved earlier)."""
    staging = inbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    temp = staging / name
    temp.write_bytes(data)
    past = time.time() - age
    os.utime(temp, (past, past))
    target = inbox / name
    os.replace(temp, target)
    return target


def image_bytes(fmt: str, seed: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """A real picture with noisy pixels (so it does not compress to nothing)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def assets_at(emu: Emulator) -> list[tuple[str, str | None]]:
    """(name, content type) of every asset the emulator holds."""
    with emu.state.lock:
        return [(a.name, a.content_type) for a in emu.state.assets.values()]


def by_name(daemon: Daemon) -> dict[str, Job]:
    return {job.name: job for job in daemon.jobs()}


def assert_failed_with_report(
    job: Job, failed_dir: Path, data: bytes, *words: str, run: bool = False
) -> str:
    """The original is in the failed folder, byte for byte, next to a report saying why."""
    assert job.state is JobState.FAILED, (job.name, job.state, job.note)
    original = failed_dir / job.name
    assert original.read_bytes() == data
    assert job.report_path == str(failed_dir / f"{job.name}.error.txt")
    report = Path(job.report_path).read_text(encoding="utf-8")
    assert "What happened:" in report and "What to do:" in report
    for word in words:
        assert word in report, (word, report)
    assert (job.run_id is not None) is run, "a run was started only where FLORA had to decide"
    return report


def test_zero_byte_files_are_left_in_place_until_they_have_content(
    tmp_path: Path, emulator: Emulator, log_lines: list[str]
) -> None:
    folders = folder_toml(tmp_path, "img", "cctv-cam") + folder_toml(tmp_path, "txt", "icon-pack")
    with running(write_config(tmp_path, folders), emulator) as daemon:
        drop(tmp_path / "img", "placeholder.png", b"")
        drop(tmp_path / "txt", "empty.txt", b"")
        wait_for(
            lambda: sum("is empty (0 bytes)" in line for line in log_lines) == 2,
            20,
            "both empty files to be looked at",
        )
        drop(tmp_path / "img", "after.png", png_bytes(1))
        daemon.wait_state(1, JobState.DONE)
        assert [j.name for j in daemon.jobs()] == ["after.png"], "no job, no upload, no run"
        assert (tmp_path / "img" / "placeholder.png").read_bytes() == b""
        assert (tmp_path / "txt" / "empty.txt").read_bytes() == b""
        assert [name for name, _ in assets_at(emulator)] == ["after.png"]
        # An app fills its placeholder: now it is a job like any other.
        (tmp_path / "img" / "placeholder.png").write_bytes(png_bytes(2))
        daemon.wait_state(2, JobState.DONE)
    assert (tmp_path / "img-outputs" / "placeholder.cctv-cam.png").exists()
    assert emulator.stats.runs_created == 2


def test_corrupt_images_fail_with_a_report_before_any_upload(
    tmp_path: Path, emulator: Emulator
) -> None:
    good = png_bytes(3, (200, 150))
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF  # one damaged byte: the chunk's CRC no longer matches
    jpeg = image_bytes("JPEG", 4, (320, 240))
    bad = {
        "truncated.png": good[: len(good) // 2],
        "flipped.png": bytes(flipped),
        "noise.jpg": random.Random(5).randbytes(4000),
        "bitmap.bmp": image_bytes("BMP", 6),
    }
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emulator) as daemon:
        for name, data in bad.items():
            drop_old(tmp_path / "in", name, data)
        drop_old(tmp_path / "in", "cut.jpg", jpeg[: len(jpeg) // 2])
        jobs = daemon.wait_state(5, JobState.FAILED)
        drop(tmp_path / "in", "fine.png", png_bytes(7))
        daemon.wait_state(1, JobState.DONE)
        jobs = by_name(daemon)
    failed = tmp_path / "in-failed"
    assert_failed_with_report(jobs["truncated.png"], failed, bad["truncated.png"], "damaged")
    assert_failed_with_report(jobs["flipped.png"], failed, bad["flipped.png"], "damaged")
    assert_failed_with_report(jobs["noise.jpg"], failed, bad["noise.jpg"], "not an image")
    assert_failed_with_report(jobs["bitmap.bmp"], failed, bad["bitmap.bmp"], "BMP", "PNG")
    # A JPEG cut short keeps an intact header, but has no end marker (issue 9): it fails here,
    # before any upload, instead of making a failed run at FLORA.
    assert_failed_with_report(jobs["cut.jpg"], failed, jpeg[: len(jpeg) // 2], "incomplete image")
    assert not jobs["cut.jpg"].cost and not jobs["cut.jpg"].run_id
    assert sorted(name for name, _ in assets_at(emulator)) == ["fine.png"]
    assert emulator.stats.runs_created == 1
    assert [p.name for p in (tmp_path / "in-outputs").iterdir() if p.suffix != ".json"] == [
        "fine.cctv-cam.png"
    ]


def test_a_writer_pausing_longer_than_settle_seconds_is_waited_for_not_failed(
    tmp_path: Path, emulator: Emulator
) -> None:
    """A writer that pauses longer than the settle time used to look like a finished, damaged
    file. Its bytes say otherwise (a PNG without its IEND): it is not settled yet, so no job
    is made for the first half (issue 9), and the whole file runs once."""
    data = png_bytes(8, (300, 200))
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))  # settle 0.2 s
    with running(config, emulator) as daemon:
        target = tmp_path / "in" / "slow.png"
        with target.open("wb") as handle:
            handle.write(data[:100])
            handle.flush()
            # The writer's own pause: ten times settle_seconds (part of the scenario).
            time.sleep(2.0)
            assert daemon.jobs() == [], "no job for a PNG cut short"
            handle.write(data[100:])  # the writer goes on
        [done] = daemon.wait_state(1, JobState.DONE)
        states = sorted(j.state.value for j in daemon.jobs())
    assert done.size == len(data)
    assert states == ["done"]
    assert not list((tmp_path / "in-failed").iterdir())
    assert emulator.stats.runs_created == 1


def test_extensions_that_lie_about_the_content(tmp_path: Path, emulator: Emulator) -> None:
    folders = folder_toml(tmp_path, "img", "cctv-cam") + folder_toml(tmp_path, "txt", "icon-pack")
    png = png_bytes(9)
    text = b"this is not a picture, it only has a picture's name\n"
    with running(write_config(tmp_path, folders), emulator) as daemon:
        drop_old(tmp_path / "img", "really-a-png.jpg", png)
        drop_old(tmp_path / "img", "really-text.png", text)
        drop_old(tmp_path / "txt", "really-a-png.txt", png)
        daemon.wait_state(1, JobState.DONE)
        daemon.wait_state(2, JobState.FAILED)
        drop(tmp_path / "img", "after.png", png_bytes(10))
        daemon.wait_state(2, JobState.DONE)
        jobs = by_name(daemon)
    # A PNG named .jpg is a fine picture: uploaded as what it is, processed.
    assert ("really-a-png.jpg", "image/png") in assets_at(emulator)
    assert (tmp_path / "img-outputs" / "really-a-png.cctv-cam.png").exists()
    assert (tmp_path / "img-done" / "really-a-png.jpg").read_bytes() == png
    assert_failed_with_report(jobs["really-text.png"], tmp_path / "img-failed", text, ".png")
    assert_failed_with_report(jobs["really-a-png.txt"], tmp_path / "txt-failed", png, "UTF-8")
    assert sorted(n for n, _ in assets_at(emulator)) == ["after.png", "really-a-png.jpg"]
    assert emulator.stats.runs_created == 2


def big_picture() -> bytes:
    """A real 151-megapixel PNG (one bit per pixel, so it is small on disk)."""
    buffer = io.BytesIO()
    Image.new("1", (12_500, 12_100), 1).save(buffer, "PNG")
    return buffer.getvalue()


def test_files_larger_than_flora_takes_fail_before_upload(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = big_picture()
    heavy = image_bytes("PNG", 11, (200, 200))  # ~120 KB of noise
    monkeypatch.setattr(precheck, "MAX_UPLOAD_BYTES", 64 * 1024)  # the real cap is 2 GiB
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emulator) as daemon:
        drop_old(tmp_path / "in", "poster.png", huge)
        drop_old(tmp_path / "in", "heavy.png", heavy)
        daemon.wait_state(2, JobState.FAILED)
        drop(tmp_path / "in", "after.png", png_bytes(12))
        daemon.wait_state(1, JobState.DONE)
        jobs = by_name(daemon)
    failed = tmp_path / "in-failed"
    assert_failed_with_report(jobs["poster.png"], failed, huge, "12500 x 12100", "150 megapixels")
    assert_failed_with_report(jobs["heavy.png"], failed, heavy, "up to 64 KiB")
    assert [name for name, _ in assets_at(emulator)] == ["after.png"]


def test_the_emulator_refuses_pictures_over_flora_s_documented_limit(
    tmp_path: Path, emulator: Emulator
) -> None:
    """FLORA documents 150 megapixels as the maximum; the emulator holds to it (a client that
    skipped the local check meets a failed asset, which fails the file, not a retry loop)."""
    from floradrop.errors import JobError
    from floradrop.flora import FloraClient

    path = tmp_path / "poster.png"
    path.write_bytes(big_picture())
    with (
        FloraClient(emulator.api_key, base_url=emulator.base_url) as client,
        pytest.raises(JobError, match="more than 150 megapixels"),
    ):
        client.upload_file(path, workspace_id=emulator.workspace_id, idempotency_key="big-1")
    small = tmp_path / "small.png"
    small.write_bytes(png_bytes(13))
    with FloraClient(emulator.api_key, base_url=emulator.base_url) as client:
        assert client.upload_file(
            small, workspace_id=emulator.workspace_id, idempotency_key="small-1"
        ).ready


UNUSUAL_NAMES = (
    "two  spaces and a trailing one .png",
    "naïve café 写真.png",
    "emoji 🎨🖼️ art.png",
    "line\nbreak.png",
    "tab\there.png",
    "-rf --help.png",
    "-.png",
    "--.png",
    "CON.png",
    "nul.png",
    "trailing dot..png",
    "$(touch pwned) `id`;.png",
    "a" * (NAME_MAX - 4) + ".png",  # 255 bytes
    "é" * ((NAME_MAX - 4) // 2) + "x.png",  # 255 bytes, two per character
    "🎨" * ((NAME_MAX - 6) // 4) + "xx.png",  # 255 bytes, four per character
)


def test_unusual_names_are_processed_and_every_name_written_fits(
    tmp_path: Path, emulator: Emulator
) -> None:
    assert all(len(name.encode()) <= NAME_MAX for name in UNUSUAL_NAMES)
    long_name = UNUSUAL_NAMES[-3]
    sent = {name: png_bytes(100 + i) for i, name in enumerate(UNUSUAL_NAMES)}
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emulator) as daemon:
        for name, data in sent.items():
            drop(tmp_path / "in", name, data)
        daemon.wait_state(len(sent), JobState.DONE, timeout=60)
        drop(tmp_path / "in", long_name, png_bytes(99))  # the same long name again
        daemon.wait_state(len(sent) + 1, JobState.DONE)
        jobs = daemon.jobs()
        named = by_name(daemon)
    assert not (tmp_path / "pwned").exists() and not (Path.cwd() / "pwned").exists()
    outputs = tmp_path / "in-outputs"
    for job in jobs:
        [output] = job.outputs
        written = Path(output["path"])
        assert written.parent == outputs
        assert written.exists() and Path(f"{written}.json").exists()
        assert len(f"{written.name}.json".encode()) <= NAME_MAX
        assert not written.name.startswith((".", "-")), written.name
        assert "\n" not in written.name and "/" not in written.name
    for name, data in sent.items():
        assert (tmp_path / "in-done" / name).read_bytes() == data  # filed under its own name
    again = [p for p in (tmp_path / "in-done").iterdir() if p.name.endswith(" (2).png")]
    assert len(again) == 1 and len(again[0].name.encode()) <= NAME_MAX
    assert again[0].read_bytes() == png_bytes(99)
    for name in ("-.png", "--.png"):  # nothing left of the stem: a plain name, not ".x"
        assert Path(named[name].outputs[0]["path"]).name.startswith("output.cctv-cam")
    assert emulator.stats.runs_created == len(sent) + 1


def test_a_failure_report_fits_next_to_a_name_at_the_length_limit(
    tmp_path: Path, emulator: Emulator
) -> None:
    names = [UNUSUAL_NAMES[-3], UNUSUAL_NAMES[-1], "line\nbreak.png", "-rf --help.png"]
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "sigil"))  # its runs fail
    with running(config, emulator) as daemon:
        for i, name in enumerate(names):
            drop(tmp_path / "in", name, png_bytes(200 + i))
        daemon.wait_state(len(names), JobState.FAILED)
        jobs = wait_for(
            lambda: (jobs := daemon.jobs()) and all(j.report_path for j in jobs) and jobs,
            20,
            "every report to be written",
        )
    for job in jobs:
        assert job.report_path is not None, f"no report for {job.name!r}"
        report = Path(job.report_path)
        assert report.parent == tmp_path / "in-failed"
        assert report.name.endswith(".error.txt") and len(report.name.encode()) <= NAME_MAX
        text = report.read_text(encoding="utf-8")
        retry = text.split("To try again: ", 1)[1].split("  (", 1)[0]
        command = shlex.split(retry)  # quoted: a name with a newline stays one argument
        assert command == ["floradrop", "retry", str(tmp_path / "in-failed" / job.name)]
        assert (tmp_path / "in-failed" / job.name).exists()


REPO = Path(__file__).resolve().parents[2]


def unreadable_scenario(root: Path) -> None:
    """As an ordinary user (root reads every file): a file that cannot be read is reported
    and left in place, and picked up once it can be read; one that becomes unreadable after
    it was admitted fails with a report. Runs in a process of that user when tests run as
    root (see the test below)."""
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        with Emulator(seed=21) as emu:
            config = write_config(root, folder_toml(root, "in", "cctv-cam"))
            with running(config, emu) as daemon:
                inbox = root / "in"
                staging = root / "staging"
                staging.mkdir()
                (staging / "locked.png").write_bytes(png_bytes(40))
                (staging / "locked.png").chmod(0)
                os.replace(staging / "locked.png", inbox / "locked.png")
                wait_for(
                    lambda: any("locked.png" in x and "permission denied" in x for x in lines),
                    20,
                    "a log line about the unreadable file",
                )
                drop(inbox, "after.png", png_bytes(41))
                daemon.wait_state(1, JobState.DONE)
                assert [j.name for j in daemon.jobs()] == ["after.png"]
                assert (inbox / "locked.png").stat().st_mode & 0o777 == 0  # left as it was
                (inbox / "locked.png").chmod(0o644)  # fixed: picked up by itself
                daemon.wait_state(2, JobState.DONE)
                daemon.engine.pause()
                later = drop_old(inbox, "later.png", png_bytes(42))
                daemon.wait_state(1, JobState.WAITING)
                later.chmod(0)  # unreadable between admission and upload
                daemon.engine.resume()
                [failed] = daemon.wait_state(1, JobState.FAILED)
            assert failed.name == "later.png"
            report = (root / "in-failed" / "later.png.error.txt").read_text()
            assert "cannot read later.png: Permission denied" in report
            assert "read access" in report
            moved = root / "in-failed" / "later.png"
            moved.chmod(0o644)
            assert moved.read_bytes() == png_bytes(42), "filed away intact"
            assert emu.stats.runs_created == 2
    finally:
        logger.remove(sink)


def _without_dac_override() -> None:
    """In a child process of root, before it runs Python: drop the capabilities that let root
    read any file, so that file permissions apply to it as to anyone (Linux)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_unreadable_files_are_reported_left_alone_and_never_lost(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        unreadable_scenario(tmp_path)
        return
    # Root reads every file: the scenario runs in a child process of root without the
    # capabilities that bypass file permissions.
    import subprocess
    import sys

    def python(*code: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "\n".join(code), str(tmp_path)],
            check=False,
            preexec_fn=_without_dac_override,  # no threads run in this process yet
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=240,
        )

    locked = tmp_path / "probe"
    locked.write_bytes(b"x")
    locked.chmod(0)
    try:
        probe = python("import sys, pathlib", "pathlib.Path(sys.argv[1], 'probe').read_bytes()")
    except OSError as exc:
        pytest.skip(f"cannot drop root's file-permission capabilities here: {exc}")
    if "PermissionError" not in probe.stderr:
        pytest.skip(f"root still reads unreadable files in a child: {probe.stderr[-300:]}")
    locked.unlink()
    done = python(
        "import sys",
        "from pathlib import Path",
        "from tests.reliability.test_bad_input import unreadable_scenario",
        "unreadable_scenario(Path(sys.argv[1]))",
    )
    assert done.returncode == 0, done.stderr[-4000:]


def test_symlinks_are_never_followed(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    record: list[object] = []
    emu = emulator_factory(record=record)
    outside = tmp_path / "outside"
    outside.mkdir()
    secret_png = png_bytes(50)
    (outside / "secret.png").write_bytes(secret_png)
    (outside / "deep.png").write_bytes(png_bytes(51))
    secret_text = "PRIVATE NOTES 7f3a9c, never to leave this machine"
    (outside / "secret.txt").write_text(secret_text)
    inbox, cams = tmp_path / "in", tmp_path / "cams"
    inbox.mkdir()
    cams.mkdir()
    (inbox / "inside.png").write_bytes(png_bytes(52))
    links = {
        "link-inside.png": inbox / "inside.png",
        "link-outside.png": outside / "secret.png",
        "dir-outside": outside,
        "loop": inbox,
        "self.png": inbox / "self.png",
        "dangling.png": tmp_path / "nowhere.png",
    }
    for name, target in links.items():
        (inbox / name).symlink_to(target, target_is_directory=target.is_dir())
    folders = folder_toml(tmp_path, "in", "cctv-cam", "recursive = true") + folder_toml(
        tmp_path, "cams", "cctv-cam", 'inputs = { input_image = "file", prompt = "sidecar" }'
    )
    with running(write_config(tmp_path, folders), emu) as daemon:
        (inbox / "new-link.png").symlink_to(outside / "secret.png")  # made while running
        links["new-link.png"] = outside / "secret.png"
        (cams / "cam.txt").symlink_to(outside / "secret.txt")  # a sidecar that is a link
        drop(cams, "cam.png", png_bytes(53))
        [failed] = daemon.wait_state(1, JobState.FAILED)
        drop(inbox, "after.png", png_bytes(54))
        done = daemon.wait_state(2, JobState.DONE)
        jobs = daemon.jobs()
    assert sorted(j.name for j in done) == ["after.png", "inside.png"]
    assert len(jobs) == 3, [j.name for j in jobs]
    assert failed.name == "cam.png" and "symbolic link" in (failed.error_message or "")
    for name, target in links.items():
        assert (inbox / name).is_symlink() and (inbox / name).readlink() == target
    assert (outside / "secret.png").read_bytes() == secret_png
    assert (outside / "secret.txt").read_text() == secret_text
    sent = b"".join(x.request_body or b"" for x in record)  # type: ignore[attr-defined]
    assert secret_text.encode() not in sent and secret_png not in sent
    assert sorted(name for name, _ in assets_at(emu)) == ["after.png", "inside.png"]
    assert emu.stats.runs_created == 2


def test_a_file_deleted_renamed_or_rewritten_before_its_upload(
    tmp_path: Path, emulator: Emulator
) -> None:
    import hashlib

    inbox = tmp_path / "in"
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emulator) as daemon:
        daemon.engine.pause()  # every job waits between admission and upload
        deleted = drop(inbox, "deleted.png", png_bytes(60))
        renamed = drop(inbox, "renamed.png", png_bytes(61))
        rewritten = drop(inbox, "rewritten.png", png_bytes(62))
        daemon.wait_state(3, JobState.WAITING)
        deleted.unlink()
        renamed.rename(inbox / "new name.png")
        rewritten.write_bytes(png_bytes(63))
        wait_for(lambda: len(daemon.jobs()) == 5, 20, "the new name and new content as jobs")
        daemon.engine.resume()
        daemon.wait_state(2, JobState.DONE)
        daemon.wait_state(3, JobState.CANCELLED)
        drop(inbox, "after.png", png_bytes(64))
        daemon.wait_state(3, JobState.DONE)
        jobs = daemon.jobs()
    outcome = [(j.name, j.state.value, j.note or "") for j in jobs]
    assert sorted(o[:2] for o in outcome) == [
        ("after.png", "done"),
        ("deleted.png", "cancelled"),
        ("new name.png", "done"),
        ("renamed.png", "cancelled"),
        ("rewritten.png", "cancelled"),
        ("rewritten.png", "done"),
    ]
    notes = {(name, state): note for name, state, note in outcome}
    assert "removed" in notes["deleted.png", "cancelled"]
    assert "renamed or moved away" in notes["renamed.png", "cancelled"]
    assert "changed" in notes["rewritten.png", "cancelled"]
    provenance = (tmp_path / "in-outputs" / "rewritten.cctv-cam.png.json").read_text()
    assert hashlib.sha256(png_bytes(63)).hexdigest() in provenance, "the new content ran"
    assert (tmp_path / "in-done" / "new name.png").read_bytes() == png_bytes(61)
    assert emulator.stats.runs_created == 3


def test_a_file_deleted_or_rewritten_during_its_upload(
    tmp_path: Path, emulator_factory: Callable[..., Emulator]
) -> None:
    emu = emulator_factory(upload_slow_ms=150)  # storage reads 256 KiB every 0.15 s
    big = [image_bytes("PNG", 70 + i, (1400, 1100)) for i in range(2)]  # > 4 MiB: signed
    assert all(len(data) > 4 * 1024 * 1024 for data in big)
    inbox = tmp_path / "in"
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emu) as daemon:
        gone = drop(inbox, "gone.png", big[0])
        changed = drop(inbox, "changed.png", big[1])
        wait_for(
            lambda: (
                len(daemon.jobs(JobState.UPLOADING)) == 2
                and emu.stats.requests[("POST", "/assets")] == 2
            ),
            30,
            "both uploads under way",
        )
        gone.unlink()
        changed.write_bytes(png_bytes(72))  # rewritten in place, while being read
        daemon.wait_state(2, JobState.CANCELLED, timeout=60)
        [done] = daemon.wait_state(1, JobState.DONE)
    assert done.name == "changed.png" and done.size == len(png_bytes(72))
    assert emu.stats.runs_created == 1, "no run for a file that went or changed mid-upload"
    assert (tmp_path / "in-done" / "changed.png").read_bytes() == png_bytes(72)


def test_the_watched_folder_deleted_and_recreated_while_running(
    tmp_path: Path, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]
) -> None:
    import shutil

    from floradrop.pipeline import watch

    monkeypatch.setattr(watch, "ROOT_CHECK_SECONDS", 0.1)  # look every 0.1 s, not 2 s
    inbox = tmp_path / "in"
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emulator) as daemon:
        drop(inbox, "before.png", png_bytes(80))
        daemon.wait_state(1, JobState.DONE)
        daemon.engine.pause()
        drop(inbox, "waiting.png", png_bytes(81))
        daemon.wait_state(1, JobState.WAITING)
        for folder in ("in", "in-outputs", "in-done"):
            shutil.rmtree(tmp_path / folder)
        wait_for(lambda: any("does not exist" in line for line in log_lines), 20, "noticed")
        inbox.mkdir()
        daemon.engine.resume()
        daemon.wait_state(1, JobState.CANCELLED)  # its file went with the folder
        drop(inbox, "after.png", png_bytes(82))
        daemon.wait_state(2, JobState.DONE)
    assert (tmp_path / "in-outputs" / "after.cctv-cam.png").exists()
    assert (tmp_path / "in-done" / "after.png").read_bytes() == png_bytes(82)
    assert emulator.stats.runs_created == 2


CONFIG_CASES = {
    "a typo in a key": (
        lambda t: folder_toml(t, "in", "cctv-cam").replace("technique =", "technqiue ="),
        ["folders[0].technqiue", "is not a known key", "Did you mean `technique`"],
    ),
    "an unknown key": (
        lambda t: folder_toml(t, "in", "cctv-cam") + '\n[daemon2]\ncolour = "red"\n',
        ["daemon2", "is not a known key", "Did you mean `daemon`"],
    ),
    "a wrong type": (
        lambda t: folder_toml(t, "in", "cctv-cam", 'recursive = "yes please"'),
        ["folders[0].recursive", "must be true or false", "without quotes"],
    ),
    "a number where a slug goes": (
        lambda t: f"[[folders]]\npath = {str(t / 'in')!r}\ntechnique = 5\n",
        ["folders[0].technique", "is not a technique slug", 'technique = "cctv-cam"'],
    ),
    "broken TOML": (
        lambda t: folder_toml(t, "in", "cctv-cam") + "\n[[folders]\n",
        ["TOML syntax error", "line", "close every quote and bracket"],
    ),
    "a folder without its path": (
        lambda t: "[[folders]]\ntechnique = 'cctv-cam'\n",
        ["folders[0].path", "is required but missing"],
    ),
    "a folder whose parent is missing": (
        lambda t: folder_toml(t, "no/such/parent/in", "cctv-cam"),
        ["folders[0].path", "cannot be created", "does not exist", "fix: create "],
    ),
    "a file where the folder should be": (
        lambda t: (t / "in").write_text("a file") and folder_toml(t, "in", "cctv-cam"),
        ["folders[0].path", "is a file, not a folder", "fix: move that file away"],
    ),
    "a file where the outputs should go": (
        lambda t: (
            (t / "out").write_text("a file")
            and folder_toml(t, "in", "cctv-cam", f"outputs = {str(t / 'out')!r}")
        ),
        ["folders[0].outputs", "is a file, not a folder"],
    ),
    "a technique that does not exist": (
        lambda t: folder_toml(t, "in", "cctv-camm"),
        ["technique: technique 'cctv-camm' does not exist", "fix: `floradrop techniques list`"],
    ),
    "an input binding that does not fit": (
        lambda t: folder_toml(t, "in", "cctv-cam", 'inputs = { input_image = "literal:hi" }'),
        ["input 'input_image' (image)", "takes an image, not text", 'fix: "file" binds'],
    ),
    "a binding to an input that does not exist": (
        lambda t: folder_toml(t, "in", "cctv-cam", 'inputs = { input_imag = "file" }'),
        ["inputs.input_imag", "has no input 'input_imag'", "fix: did you mean 'input_image'"],
    ),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_a_bad_config_stops_check_and_run_with_exit_3_naming_file_key_and_fix(
    case: str,
    tmp_path: Path,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from floradrop.cli import main

    monkeypatch.setenv("FLORA_API_KEY", emulator.api_key)
    monkeypatch.setenv("FLORA_BASE_URL", emulator.base_url)
    folders, expected = CONFIG_CASES[case]
    config = write_config(tmp_path, folders(tmp_path))
    for verb in (["check"], ["run", "--once", "--headless"]):
        capsys.readouterr()
        assert main([*verb, "--config", str(config)]) == 3, verb
        err = capsys.readouterr().err
        assert "Configuration error" in err and "What to do:" in err, err
        assert str(config) in err, (verb, err)  # the file
        for words in expected:  # the key, the problem, the fix
            assert words in err, (verb, words, err)
    assert emulator.stats.runs_created == 0


BULK_FILES = int(os.environ.get("FLORADROP_BULK_FILES", "2000"))  # RELIABILITY.md: 10,000
BULK_REPORT = os.environ.get("FLORADROP_BULK_REPORT")  # a JSON file for the figures


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RSS from /proc")
def test_thousands_of_files_dropped_at_once_all_complete(tmp_path: Path) -> None:
    """A real ``floradrop run`` process; BULK_FILES files renamed into its inbox in one go.
    Every one ends done with its output, one run each; the figures go to RELIABILITY.md."""
    import json
    import signal
    import sqlite3
    import subprocess
    import sys

    inbox, staging = tmp_path / "in", tmp_path / "staging"
    staging.mkdir()
    for i in range(BULK_FILES):
        (staging / f"shot-{i:05}.png").write_bytes(png_bytes(10_000 + i))
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon="max_concurrent_runs = 100\nmax_concurrent_uploads = 8",
    )
    with Emulator(seed=31) as emu:
        env = dict(os.environ, FLORA_API_KEY=emu.api_key, FLORA_BASE_URL=emu.base_url)
        log = tmp_path / "daemon.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "floradrop", "run", "--headless", "--config", str(config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(inbox.is_dir, 60, "the daemon to create its inbox")
            wait_for(lambda: "watching 1 folder" in log.read_text(errors="replace"), 60, "up")
            rss_before = int(proc_status(proc.pid)["VmRSS"].split()[0]) // 1024
            started = time.monotonic()
            for path in staging.iterdir():
                os.replace(path, inbox / path.name)
            dropped = time.monotonic() - started
            journal = sqlite3.connect(
                f"file:{tmp_path / 'state' / 'journal.sqlite3'}?mode=ro", uri=True
            )

            def done() -> int:
                (count,) = journal.execute(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'done'"
                ).fetchone()
                return int(count)

            peak_fds = peak_threads = 0

            def finished() -> bool:
                nonlocal peak_fds, peak_threads
                assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
                peak_fds = max(peak_fds, len(os.listdir(f"/proc/{proc.pid}/fd")))
                peak_threads = max(peak_threads, int(proc_status(proc.pid)["Threads"]))
                return done() == BULK_FILES

            wait_for(finished, 60 + BULK_FILES * 0.25, f"{BULK_FILES} files done")
            elapsed = time.monotonic() - started
            status = proc_status(proc.pid)
            states = dict(journal.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"))
            journal.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
        assert code == 0, log.read_text(errors="replace")[-3000:]
        runs = emu.stats.runs_created
    figures = {
        "files": BULK_FILES,
        "seconds": round(elapsed, 1),
        "files_per_second": round(BULK_FILES / elapsed, 1),
        "rename_seconds": round(dropped, 2),
        "rss_mb_before": rss_before,
        "rss_mb_peak": int(status["VmHWM"].split()[0]) // 1024,
        "rss_mb_end": int(status["VmRSS"].split()[0]) // 1024,
        "peak_threads": peak_threads,
        "peak_fds": peak_fds,
    }
    print("bulk drop:", json.dumps(figures))
    if BULK_REPORT:
        Path(BULK_REPORT).write_text(json.dumps(figures, indent=2) + "\n")
    assert states == {"done": BULK_FILES}
    assert runs == BULK_FILES
    assert not list(inbox.iterdir())
    outputs = [p for p in (tmp_path / "in-outputs").iterdir() if p.suffix == ".png"]
    assert len(outputs) == BULK_FILES
    assert len(list((tmp_path / "in-done").iterdir())) == BULK_FILES
