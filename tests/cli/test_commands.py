"""The daemon's verbs end to end: a real daemon process, the emulator over loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.cli import main
from floradrop.instance import DaemonInfo

from ..engine.harness import drop, folder_toml, png_bytes, wait_for, write_config


@pytest.fixture
def env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("FLORA_API_KEY", emulator.api_key)
    monkeypatch.setenv("FLORA_BASE_URL", emulator.base_url)
    return emulator


@contextmanager
def daemon(config: Path, state: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = config.with_name("daemon.err")
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "floradrop", "run", "--headless", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )

    def up() -> bool:
        info = DaemonInfo.read(state)
        # ("watching": its folders exist; it answers the control channel a moment before)
        mine = info is not None and info.pid == proc.pid and b"watching" in log.read_bytes()
        return mine or proc.poll() is not None

    try:
        wait_for(up, 60, "the daemon to start")
        assert proc.poll() is None, log.read_text()
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
        assert code == 0, log.read_text()[-2000:]


def status(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", "--json", "--config", str(config)]) == 0
    data: dict[str, object] = json.loads(capsys.readouterr().out)
    return data


def counts(data: dict[str, object]) -> dict[str, int]:
    folders = data["folders"]
    assert isinstance(folders, list)
    return folders[0]["counts"]  # type: ignore[no-any-return]


def test_status_works_with_and_without_a_daemon(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    data = status(config, capsys)
    assert data["daemon"] is None and data["paused"] is False
    assert data["folders"][0]["path"] == str(tmp_path / "in")  # type: ignore[index]
    with daemon(config, tmp_path / "state"):
        drop(tmp_path / "in", "a.png", png_bytes(1))
        wait_for(lambda: counts(status(config, capsys))["done"] == 1, 30, "done")
        data = status(config, capsys)
        assert data["daemon"] is not None
        assert data["spend_today_usd"] == pytest.approx(0.05)
        capsys.readouterr()
        assert main(["status", "--config", str(config)]) == 0
        text = capsys.readouterr().out
        assert "running (pid" in text and "done 1" in text
    assert counts(status(config, capsys))["done"] == 1  # from the journal, daemon stopped


def test_pause_and_resume_reach_the_running_daemon(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with daemon(config, tmp_path / "state"):
        assert main(["pause", "--config", str(config)]) == 0
        assert status(config, capsys)["paused"] is True
        drop(tmp_path / "in", "p.png", png_bytes(2))
        wait_for(lambda: counts(status(config, capsys))["waiting"] == 1, 30, "queued")
        assert env.stats.runs_created == 0
        assert main(["resume", "--config", str(config)]) == 0
        wait_for(lambda: counts(status(config, capsys))["done"] == 1, 30, "done")
        assert status(config, capsys)["paused"] is False
    # pause persists in the journal when no daemon runs
    assert main(["pause", "--config", str(config)]) == 0
    assert status(config, capsys)["paused"] is True


def test_run_once_exit_codes_and_summary(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = folder_toml(tmp_path, "ok", "cctv-cam") + folder_toml(tmp_path, "bad", "sigil")
    config = write_config(tmp_path, folders)
    for name in ("ok", "bad"):
        (tmp_path / name).mkdir()
    (tmp_path / "ok" / "a.png").write_bytes(png_bytes(3))
    assert main(["run", "--once", "--headless", "--config", str(config)]) == 0
    assert "1 done, 0 failed" in capsys.readouterr().err
    (tmp_path / "bad" / "b.png").write_bytes(png_bytes(4))
    assert main(["run", "--once", "--headless", "--config", str(config)]) == 1
    assert (tmp_path / "bad-failed" / "b.png.error.txt").exists()


def test_dry_run_uploads_nothing(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam", 'match = "*.png"'))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(png_bytes(5))
    (tmp_path / "in" / "b.png").write_bytes(png_bytes(6))
    (tmp_path / "in" / "notes.doc").write_bytes(b"x")
    (tmp_path / "in" / "x.part").write_bytes(b"x")
    assert main(["run", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "a.png: cctv-cam" in out and "$0.05" in out
    assert "notes.doc: skipped (no rule matches)" in out
    assert "x.part: skipped" in out
    assert "2 file(s) would run, $0.10 in all" in out
    assert env.stats.runs_created == 0 and env.stats.uploads_received == 0
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == [
        "a.png",
        "b.png",
        "notes.doc",
        "x.part",
    ]


def test_check_accepts_good_and_refuses_bad_config(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    assert main(["check", "--config", str(good)]) == 0
    assert "check passed" in capsys.readouterr().out
    bad_root = tmp_path / "bad"
    bad_root.mkdir()
    bad = write_config(bad_root, folder_toml(bad_root, "in", "cctv-camm"))
    assert main(["check", "--config", str(bad)]) == 3
    err = capsys.readouterr().err
    assert "cctv-camm" in err and "cctv-cam" in err


def test_retry_runs_a_failed_file_again(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    env.fail_rate = 1.0  # every run fails (transient provider error)
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.png").write_bytes(png_bytes(7))
    assert main(["run", "--once", "--headless", "--config", str(config)]) == 1
    failed = tmp_path / "in-failed" / "r.png"
    assert failed.exists()
    assert "retry later" in (tmp_path / "in-failed" / "r.png.error.txt").read_text()
    env.fail_rate = 0.0
    assert main(["retry", "--config", str(config), str(failed)]) == 0
    assert (tmp_path / "in" / "r.png").exists() and not failed.exists()
    assert main(["run", "--once", "--headless", "--config", str(config)]) == 0
    assert (tmp_path / "in-outputs" / "r.cctv-cam.png").exists()
    assert env.stats.runs_created == 2


def test_no_api_key_is_a_clear_error(
    tmp_path: Path, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ.pop("FLORA_API_KEY", None)
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    assert main(["check", "--config", str(config)]) == 4
    assert "floradrop init" in capsys.readouterr().err


def test_reload_and_stop_reach_the_running_daemon(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    assert main(["stop", "--config", str(config)]) == 5  # nothing runs yet: exit 5
    with daemon(config, tmp_path / "state") as proc:
        config.write_text(config.read_text() + folder_toml(tmp_path, "more", "palette-pull"))
        assert main(["reload", "--config", str(config)]) == 0
        assert len(status(config, capsys)["folders"]) == 2  # type: ignore[arg-type]
        assert main(["stop", "--config", str(config)]) == 0
        assert "stopped" in capsys.readouterr().out
        assert proc.wait(5) == 0
