"""Controlling a real daemon whatever the config file says, and acknowledging failures.

* With the config file broken on disk (a half-saved edit), ``status``, ``pause``, ``resume``,
  ``ack``, ``reload`` and ``stop`` still reach the daemon: they need only its state dir.
* A failed file puts the daemon in "needs attention"; ``floradrop ack`` clears it, for good
  (it is kept in the journal), and also works with no daemon running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flora_emulator import Emulator
from floradrop.errors import ExitCode
from tests.cli.test_daemon_lifecycle import daemon_env, journal_states, log_tail, wait_up
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture
def daemon(
    tmp_path: Path, emulator: Emulator
) -> Iterator[Callable[[Path], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(config: Path) -> subprocess.Popen[bytes]:
        with (tmp_path / "daemon.log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "floradrop", "run", "--headless", "--config", str(config)],
                env=daemon_env(emulator),
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


def floradrop(config: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "FLORADROP_"))}
    return subprocess.run(
        [sys.executable, "-m", "floradrop", *argv, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def status_json(config: Path) -> dict[str, Any]:
    result = floradrop(config, "status", "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_control_commands_work_while_the_config_file_is_broken(
    tmp_path: Path, daemon: Callable[[Path], subprocess.Popen[bytes]]
) -> None:
    state = tmp_path / "state"
    (tmp_path / "in").mkdir()
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    good = config.read_text("utf-8")
    proc = daemon(config)
    wait_up(state, proc)

    # A half-saved edit: the file stops in the middle of a string.
    config.write_text(good + '\n[[folders]]\npath = "/home/me/Pictures/new', encoding="utf-8")
    assert floradrop(config, "check").returncode == ExitCode.CONFIG  # the file IS broken

    status = floradrop(config, "status")
    assert status.returncode == 0, status.stderr
    assert f"running (pid {proc.pid})" in status.stdout
    assert "the config file has errors" in status.stdout
    assert "TOML syntax error" in status.stdout
    assert status_json(config)["daemon"]["pid"] == proc.pid

    paused = floradrop(config, "pause")
    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.strip() == "floradrop paused."
    assert status_json(config)["paused"] is True
    resumed = floradrop(config, "resume")
    assert resumed.returncode == 0 and status_json(config)["paused"] is False

    assert floradrop(config, "ack").returncode == 0

    # reload reaches the daemon, which refuses the broken file and keeps the last good one
    reload = floradrop(config, "reload")
    assert reload.returncode == ExitCode.CONFIG, reload.stdout + reload.stderr
    assert "Configuration error" in reload.stderr
    assert not reload.stderr.startswith("floradrop: ")  # one prefix, the error's own title
    assert proc.poll() is None

    stop = floradrop(config, "stop")
    assert stop.returncode == 0, stop.stdout + stop.stderr + log_tail(tmp_path)
    assert f"floradrop (pid {proc.pid}) stopped" in stop.stdout
    assert "fix the config file before the next start" in stop.stdout
    assert proc.wait(30) == 0

    # With no daemon, a status needs the config to read the journal: the config error, exit 3.
    after = floradrop(config, "status")
    assert after.returncode == ExitCode.CONFIG
    assert "TOML syntax error" in after.stderr
    # ... while pause still works: the flag is in the journal, in the state dir the file names.
    assert floradrop(config, "pause").returncode == 0
    config.write_text(good, encoding="utf-8")
    assert status_json(config)["paused"] is True


def test_ack_clears_the_attention_of_a_failed_file(
    tmp_path: Path, daemon: Callable[[Path], subprocess.Popen[bytes]]
) -> None:
    state = tmp_path / "state"
    inbox = tmp_path / "in"
    inbox.mkdir()
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "sigil"))  # always fails
    proc = daemon(config)
    wait_up(state, proc)
    drop(inbox, "photo.png", png_bytes(3))
    wait_for(lambda: journal_states(state).get("failed") == 1, 60, "the file to fail")

    before = status_json(config)
    assert before["state"] == "attention"
    assert before["attention"]["kind"] == "failed_job"

    ack = floradrop(config, "ack")
    assert ack.returncode == 0, ack.stderr
    assert "Acknowledged" in ack.stdout
    after = status_json(config)
    assert after["attention"] is None and after["last_error"] is None
    assert after["state"] == "idle"
    assert after["failed_today"] == 1  # acknowledged, not forgotten

    # A new failure needs attention again.
    drop(inbox, "second.png", png_bytes(4))
    wait_for(lambda: journal_states(state).get("failed") == 2, 60, "the second file to fail")
    assert status_json(config)["attention"]["kind"] == "failed_job"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0, log_tail(tmp_path)
    # No daemon: ack writes to the journal, and the next status (or daemon) honours it.
    assert status_json(config)["attention"]["kind"] == "failed_job"
    assert floradrop(config, "ack").returncode == 0
    assert status_json(config)["attention"] is None


def test_the_demo_says_at_start_how_to_reach_its_daemon(tmp_path: Path) -> None:
    import shlex

    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLORA_", "FLORADROP_"))}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "floradrop", "demo", "--headless", "--dir", str(tmp_path / "d")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        commands: list[list[str]] = []
        for line in proc.stdout:  # the daemon has not started yet: these come first
            if "floradrop status --config" in line or "floradrop stop --config" in line:
                commands.append(shlex.split(line.split(":", 1)[1] if ":" in line else line))
            if len(commands) == 2:
                break
        status_cmd, stop_cmd = commands
        assert status_cmd[:3] == ["floradrop", "status", "--config"]
        config = Path(status_cmd[3])
        assert config.is_file()

        def status() -> subprocess.CompletedProcess[str] | None:
            result = floradrop(config, "status")
            return result if f"running (pid {proc.pid})" in result.stdout else None

        wait_for(status, 60, "the demo's daemon to answer 'floradrop status'")
        stop = subprocess.run(
            [sys.executable, "-m", "floradrop", *stop_cmd[1:]],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
