"""One daemon per config, and a clean stop: real ``floradrop run`` processes over the emulator.

* A second ``run`` on the same config (or on another config with the same state dir) does not
  start: it says where the first one is and exits 6, and the first one keeps working.
* SIGTERM, SIGINT and SIGHUP (logout) during work stop the daemon with exit 0, leave no
  half-written output and a sound journal, and the next start finishes every file exactly once
  without paying for a second run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.errors import ExitCode
from floradrop.instance import DaemonInfo
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

FILES = 20
IN_FLIGHT = ("uploading", "submitting", "running", "fetching", "filing")


def daemon_env(emu: Emulator) -> dict[str, str]:
    return dict(
        os.environ, FLORA_API_KEY=emu.api_key, FLORA_BASE_URL=emu.base_url, PYTHONUNBUFFERED="1"
    )


def run_argv(config: Path) -> list[str]:
    return [sys.executable, "-m", "floradrop", "run", "--headless", "--config", str(config)]


@pytest.fixture
def start_daemon(tmp_path: Path) -> Iterator[Callable[[Path, Emulator], subprocess.Popen[bytes]]]:
    """Start ``floradrop run`` processes (output in tmp_path/daemon.log); each one still
    running after the test is stopped by SIGKILL to its process group."""
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path, emu: Emulator) -> subprocess.Popen[bytes]:
        with (tmp_path / "daemon.log").open("ab") as log:
            proc = subprocess.Popen(
                run_argv(config),
                env=daemon_env(emu),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_up(state_dir: Path, proc: subprocess.Popen[bytes]) -> DaemonInfo:
    """Until ``daemon.json`` names this very process (its signal handlers are in place then)."""

    def up() -> DaemonInfo | None:
        assert proc.poll() is None, f"the daemon exited early with {proc.returncode}"
        info = DaemonInfo.read(state_dir)
        return info if info is not None and info.pid == proc.pid else None

    info: DaemonInfo = wait_for(up, 60, "the daemon to publish daemon.json")
    return info


def journal_states(state_dir: Path) -> dict[str, int]:
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=10) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


def integrity(state_dir: Path) -> str:
    with sqlite3.connect(state_dir / "journal.sqlite3", timeout=10) as db:
        result: str = db.execute("PRAGMA integrity_check").fetchone()[0]
    return result


def log_tail(tmp_path: Path) -> str:
    path = tmp_path / "daemon.log"
    return path.read_text("utf-8", errors="replace")[-4000:] if path.exists() else ""


def test_a_second_run_on_the_same_config_or_state_dir_refuses_to_start(
    tmp_path: Path,
    emulator: Emulator,
    start_daemon: Callable[[Path, Emulator], subprocess.Popen[bytes]],
) -> None:
    state = tmp_path / "state"
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    first = start_daemon(config, emulator)
    wait_up(state, first)

    second = subprocess.run(
        run_argv(config),
        env=daemon_env(emulator),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert second.returncode == ExitCode.ALREADY_RUNNING, second.stderr
    assert "already running" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert f"config {config}" in second.stderr
    assert "tray: headless" in second.stderr  # where its tray is: it has none
    assert "floradrop status" in second.stderr  # what to do instead

    # Another config file, same state dir: the same journal, so also refused.
    other = tmp_path / "other.toml"
    other.write_text(
        f"[daemon]\nstate_dir = {str(state)!r}\nlog_dir = {str(tmp_path / 'logs2')!r}\n\n"
        + folder_toml(tmp_path, "elsewhere", "cctv-cam"),
        encoding="utf-8",
    )
    third = subprocess.run(
        run_argv(other),
        env=daemon_env(emulator),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert third.returncode == ExitCode.ALREADY_RUNNING, third.stderr
    assert f"pid {first.pid}" in third.stderr
    assert not (tmp_path / "elsewhere").exists(), "the refused daemon created no folder"

    # The first one was not disturbed: it is still the one in daemon.json, and it works.
    assert first.poll() is None
    info = DaemonInfo.read(state)
    assert info is not None and info.pid == first.pid
    drop(tmp_path / "in", "photo.png", png_bytes(1))
    wait_for(lambda: journal_states(state).get("done") == 1, 60, "the dropped file to be done")
    first.send_signal(signal.SIGTERM)
    assert first.wait(30) == 0, log_tail(tmp_path)
    assert DaemonInfo.read(state) is None, "daemon.json is removed at a clean stop"
    assert emulator.stats.runs_created == 1


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_during_work_stops_cleanly_and_the_next_start_finishes_every_file_once(
    signum: signal.Signals,
    tmp_path: Path,
    emulator_factory: Callable[..., Emulator],
    start_daemon: Callable[[Path, Emulator], subprocess.Popen[bytes]],
) -> None:
    emu = emulator_factory(run_seconds=1.5, seed=11)
    state = tmp_path / "state"
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon="max_concurrent_runs = 8\nmax_concurrent_uploads = 4",
    )
    inbox = tmp_path / "in"
    inbox.mkdir()
    for n in range(FILES):
        drop(inbox, f"photo {n:02d}.png", png_bytes(n))

    proc = start_daemon(config, emu)
    wait_up(state, proc)
    wait_for(
        lambda: sum(journal_states(state).get(s, 0) for s in ("submitting", "running")) >= 3,
        60,
        f"runs in progress (now {journal_states(state)})",
    )
    began = time.monotonic()
    proc.send_signal(signum)
    code = proc.wait(30)
    took = time.monotonic() - began
    print(f"\n{signum.name}: the daemon exited {code} after {took:.2f} s")
    assert code == 0, log_tail(tmp_path)

    after_stop = journal_states(state)
    assert integrity(state) == "ok"
    assert sum(after_stop.get(s, 0) for s in ("submitting", "running")) >= 1, (
        f"runs were in flight at the stop, to be resumed: {after_stop}"
    )
    assert after_stop.get("done", 0) < FILES
    assert DaemonInfo.read(state) is None
    outputs = tmp_path / "in-outputs"
    leftovers = (
        [p.name for p in outputs.iterdir() if p.name.startswith(".")] if outputs.exists() else []
    )
    assert not leftovers, f"half-written outputs were left behind: {leftovers}"
    runs_before_restart = emu.stats.runs_created

    proc = start_daemon(config, emu)
    wait_up(state, proc)
    wait_for(
        lambda: journal_states(state).get("done", 0) >= FILES,
        120,
        f"{FILES} done jobs (now {journal_states(state)})",
    )
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_tail(tmp_path)

    names = sorted(p.name for p in outputs.iterdir() if p.suffix == ".png")
    assert names == sorted(f"photo {n:02d}.cctv-cam.png" for n in range(FILES)), (
        "exactly one output per file"
    )
    assert sorted(p.name for p in (tmp_path / "in-done").iterdir()) == sorted(
        f"photo {n:02d}.png" for n in range(FILES)
    )
    assert not list(inbox.iterdir())
    assert emu.stats.runs_created == FILES, "one run per file: none started twice"
    assert runs_before_restart <= FILES
    assert journal_states(state) == {"done": FILES}
    assert integrity(state) == "ok"


def test_a_stop_during_a_slow_upload_does_not_wait_for_the_upload(
    tmp_path: Path,
    emulator_factory: Callable[..., Emulator],
    start_daemon: Callable[[Path, Emulator], subprocess.Popen[bytes]],
) -> None:
    # Above 4 MiB a file goes to storage (a signed upload), which here pauses 2 s before each
    # 256 KiB it reads: a 5 MiB upload takes about 40 s.
    emu = emulator_factory(upload_slow_ms=2000)
    state = tmp_path / "state"
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    inbox = tmp_path / "in"
    inbox.mkdir()
    drop(
        inbox, "big.png", png_bytes(5) + os.urandom(5 * 1024 * 1024)
    )  # trailing bytes: still a PNG
    proc = start_daemon(config, emu)
    wait_up(state, proc)
    wait_for(lambda: journal_states(state).get("uploading"), 60, "the upload to start")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0, log_tail(tmp_path)  # well before the upload could finish
    assert integrity(state) == "ok"

    emu.upload_slow_ms = 0
    proc = start_daemon(config, emu)
    wait_up(state, proc)
    wait_for(lambda: journal_states(state) == {"done": 1}, 60, "the file to be done")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_tail(tmp_path)
    assert emu.stats.runs_created == 1
