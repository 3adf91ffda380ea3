"""Actions when outputs land, through a real ``floradrop run`` process and the emulator.

A command and a webhook per done file, with a loopback receiver that checks the HMAC
signature: a hanging command is cut at its limit (its whole process group), a receiver that is
down for a while loses nothing and holds nothing up (every file is done while it is down), and
nothing that ran or was delivered runs again after a restart (SIGTERM or SIGKILL). A daemon
that dies by SIGKILL just after a job finished, before its actions were queued, queues them at
its next start: each runs once.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flora_emulator import Emulator
from floradrop import failpoints
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config
from tests.reliability.daemonproc import DaemonProcess, write_key
from tests.workflows.helpers import Receiver

pytestmark = pytest.mark.slow

SECRET = "a shared secret for the receiver"
FILES = 3

RECORDER = """
import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as handle:
    handle.write(json.dumps({"files": sys.argv[2:], "job": os.environ["FLORADROP_JOB_ID"],
                             "event": os.environ["FLORADROP_EVENT"]}) + "\\n")
"""

# Starts a child of its own, writes both process ids down, then hangs.
HANGER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(os.path.join(sys.argv[1], str(os.getpid())), "w") as handle:
    handle.write(f"{os.getpid()} {child.pid}")
time.sleep(600)
"""


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver(SECRET)
    yield made
    made.down()


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def _recorder(tmp_path: Path) -> tuple[str, Path]:
    script = tmp_path / "record.py"
    script.write_text(RECORDER, encoding="utf-8")
    log = tmp_path / "calls.jsonl"
    return _toml_list([sys.executable, str(script), str(log)]), log


def _calls(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text("utf-8").splitlines()]


def _outbox(state_dir: Path) -> list[dict[str, Any]]:
    """The action outbox as the journal has it (read-only)."""
    path = state_dir / "journal.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        try:
            rows = db.execute("SELECT * FROM action_outbox ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # not made yet
            return []
    return [dict(row) for row in rows]


def _jobs(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "journal.sqlite3"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY id").fetchall()]


def _gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody reaped (it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _setup(tmp_path: Path, emu: Emulator, folders: str) -> Path:
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    return write_config(tmp_path, folders, daemon=f"[flora]\napi_key_file = {str(key)!r}\n")


def _daemon(tmp_path: Path, config: Path, emu: Emulator, **env: str) -> DaemonProcess:
    out = tmp_path / "daemon.out"
    env = {"HOOK_SECRET": SECRET} | env
    return DaemonProcess(config, tmp_path / "state", emu.base_url, out, extra_env=env)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to see the hung processes gone")
@pytest.mark.timeout(300)
def test_commands_and_webhooks_in_a_real_daemon(
    tmp_path: Path, receiver: Receiver, daemons: list[DaemonProcess]
) -> None:
    record, log = _recorder(tmp_path)
    hanger = tmp_path / "hang.py"
    hanger.write_text(HANGER, encoding="utf-8")
    pids = tmp_path / "hung"
    pids.mkdir()
    hang = _toml_list([sys.executable, str(hanger), str(pids)])
    actions = (
        f"[[folders.on_done]]\ncommand = {record}\n"
        f"[[folders.on_done]]\ncommand = {hang}\ntimeout_seconds = 1\n"
        f'[[folders.on_done]]\nwebhook = "{receiver.url}"\nsecret_env = "HOOK_SECRET"\n'
    )
    emu = Emulator(seed=5, run_seconds=0.3, data_dir=tmp_path / "emu")
    config = _setup(tmp_path, emu, folder_toml(tmp_path, "cam", "cctv-cam", actions))
    (tmp_path / "cam").mkdir()
    state = tmp_path / "state"

    def rows(kind: str, status: str) -> list[dict[str, Any]]:
        return [r for r in _outbox(state) if r["kind"] == kind and r["status"] == status]

    with emu:
        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        for n in range(FILES):
            drop(tmp_path / "cam", f"f{n}.png", png_bytes(60 + n))
        # The receiver is down and every command hangs for a second: every file is done anyway.
        wait_for(lambda: d.states() == {"done": FILES}, 120, "every file done")
        wait_for(
            lambda: len([r for r in rows("webhook", "pending") if r["attempts"] >= 1]) == FILES,
            60,
            "every delivery tried once and waiting",
        )
        assert receiver.deliveries() == []
        # Each hanging command was cut at its limit, its child with it; the failure is
        # reported without failing the file.
        cut = wait_for(lambda: len(rows("command", "failed")) == FILES, 60, "the hung commands")
        assert cut
        assert all("stopped after 1 s" in r["last_error"] for r in rows("command", "failed"))
        hung = [int(p) for f in pids.iterdir() for p in f.read_text().split()]
        assert len(hung) == 2 * FILES
        wait_for(lambda: all(_gone(p) for p in hung), 30, "the hung processes to be gone")
        assert "action:" in (d.status()["last_error"] or "")
        assert len(_calls(log)) == FILES

        receiver.up()  # back: each delivery arrives once, signed
        wait_for(lambda: len(rows("webhook", "done")) == FILES, 120, "every delivery")
        got = receiver.deliveries()
        assert len(got) == FILES and all(g["ok"] for g in got)
        assert len({g["delivery"] for g in got}) == FILES
        runs = {j["run_id"] for j in _jobs(state)}
        assert {g["body"]["run_id"] for g in got} == runs
        assert all(g["event"] == "done" == g["body"]["event"] for g in got)

        # A clean restart runs nothing again: one more file, and only its actions run.
        assert d.stop() == 0
        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        drop(tmp_path / "cam", "late.png", png_bytes(70))
        wait_for(lambda: len(rows("webhook", "done")) == FILES + 1, 120, "the late delivery")
        wait_for(lambda: len(rows("command", "failed")) == FILES + 1, 60, "the late hang cut")
        wait_for(lambda: len(_calls(log)) == FILES + 1, 60, "the late command")
        assert d.stop() == 0

    assert len(receiver.deliveries()) == FILES + 1
    assert len(_calls(log)) == FILES + 1
    assert len(list(pids.iterdir())) == FILES + 1
    assert emu.stats.runs_created == FILES + 1


@pytest.mark.parametrize("event", ["done", "failed"])
@pytest.mark.timeout(240)
def test_a_crash_between_finishing_and_queueing_loses_no_action(
    tmp_path: Path, receiver: Receiver, daemons: list[DaemonProcess], event: str
) -> None:
    record, log = _recorder(tmp_path)
    actions = (
        f"[[folders.on_{event}]]\ncommand = {record}\n"
        f'[[folders.on_{event}]]\nwebhook = "{receiver.url}"\nsecret_env = "HOOK_SECRET"\n'
    )
    technique = "cctv-cam" if event == "done" else "sigil"  # sigil's runs are refused
    emu = Emulator(seed=6, run_seconds=0.2, data_dir=tmp_path / "emu")
    config = _setup(tmp_path, emu, folder_toml(tmp_path, "in", technique, actions))
    (tmp_path / "in").mkdir()
    state = tmp_path / "state"
    receiver.up()
    with emu:
        d = _daemon(tmp_path, config, emu, **{failpoints.ENV: failpoints.ACTIONS_QUEUED})
        daemons.append(d.start())
        drop(tmp_path / "in", "a.png", png_bytes(80))
        assert d.proc is not None
        proc = d.proc
        wait_for(lambda: proc.poll() is not None, 120, "the daemon to die at the fail point")
        assert proc.returncode == -signal.SIGKILL
        # It died with the job finished and its actions written down, not yet queued.
        [job] = _jobs(state)
        assert job["state"] == event
        assert sorted((r["kind"], r["status"]) for r in _outbox(state)) == [
            ("command", "armed"),
            ("webhook", "armed"),
        ]
        assert _calls(log) == [] and receiver.deliveries() == []

        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        wait_for(lambda: len(_calls(log)) == 1, 60, "the command after the restart")
        wait_for(lambda: len(receiver.deliveries()) == 1, 60, "the delivery after the restart")
        wait_for(lambda: [r["status"] for r in _outbox(state)] == ["done", "done"], 30, "both done")
        # A SIGKILL now (everything delivered) and a restart: nothing runs again.
        d.kill()
        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        drop(tmp_path / "in", "b.png", png_bytes(81))
        wait_for(lambda: len(_calls(log)) == 2, 60, "the second file's command")
        wait_for(lambda: len(receiver.deliveries()) == 2, 60, "the second file's delivery")
        assert d.stop() == 0

    [first, second] = receiver.deliveries()
    assert first["ok"] and second["ok"]
    assert first["event"] == event and first["body"]["job_id"] == job["id"]
    assert first["body"]["run_id"] == job["run_id"]
    # the payload is the finished job's: the original where it was filed
    filed = tmp_path / ("in-done" if event == "done" else "in-failed") / "a.png"
    assert first["body"]["source"]["path"] == str(filed)
    calls = _calls(log)
    assert [c["job"] for c in calls] == [str(job["id"]), str(second["body"]["job_id"])]
    if event == "done":
        assert calls[0]["files"] == [str(tmp_path / "in-outputs" / "a.cctv-cam.png")]
        assert first["body"]["outputs"][0]["provenance"]["run_id"] == job["run_id"]
    else:
        assert calls[0]["files"] == [str(filed), f"{filed}.error.txt"]
        assert first["body"]["error"]["report"] == f"{filed}.error.txt"


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc to see the hung processes")
@pytest.mark.timeout(240)
def test_a_command_a_crash_left_running_is_stopped_before_it_runs_again(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    hanger = tmp_path / "hang.py"
    hanger.write_text(HANGER, encoding="utf-8")
    pids = tmp_path / "hung"
    pids.mkdir()
    hang = _toml_list([sys.executable, str(hanger), str(pids)])
    actions = f"[[folders.on_done]]\ncommand = {hang}\ntimeout_seconds = 600\n"
    emu = Emulator(seed=9, run_seconds=0.2, data_dir=tmp_path / "emu")
    config = _setup(tmp_path, emu, folder_toml(tmp_path, "cam", "cctv-cam", actions))
    (tmp_path / "cam").mkdir()

    def started() -> list[list[int]]:
        return [[int(p) for p in f.read_text().split()] for f in sorted(pids.iterdir())]

    with emu:
        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        drop(tmp_path / "cam", "a.png", png_bytes(90))
        [first] = wait_for(lambda: [s for s in started() if len(s) == 2], 120, "the command")
        d.kill()  # the daemon dies; the command, in a session of its own, lives on
        assert not any(_gone(p) for p in first)

        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        wait_for(lambda: all(_gone(p) for p in first), 60, "the left-over command stopped")
        wait_for(lambda: len([s for s in started() if len(s) == 2]) == 2, 60, "it to run again")
        [again] = [s for s in started() if s != first]
        assert d.stop() == 0  # a stop stops it too (and it runs again at the next start)
        wait_for(lambda: all(_gone(p) for p in again), 30, "the second run stopped")
    assert "left running by a crash" in d.output.read_text("utf-8", errors="replace")
