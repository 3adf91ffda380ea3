"""The notify action: a notice in the snapshot, a notification with an "Open" button for the
output, sent over a real D-Bus session bus to a real notification server (dunst)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.jobs import JobState
from floradrop.tray.notify import Notifier
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config
from tests.tray.xsession import XSession, requirement_marks


def test_notify_actions_give_notifications_that_open_the_output(
    tmp_path: Path, emulator: Emulator
) -> None:
    extra = "[[folders.on_done]]\nnotify = true\n[[folders.on_failed]]\nnotify = true\n"
    folders = folder_toml(tmp_path, "cam", "cctv-cam", extra) + folder_toml(
        tmp_path, "sigil", "sigil", "[[folders.on_failed]]\nnotify = true\n"
    )
    notifier = Notifier()
    with running(write_config(tmp_path, folders), emulator) as daemon:
        assert notifier.update(daemon.engine.snapshot(), time.monotonic()) == []
        drop(tmp_path / "cam", "street.png", png_bytes(1))
        drop(tmp_path / "sigil", "mark.png", png_bytes(2))
        daemon.wait_state(1, JobState.DONE)
        daemon.wait_state(1, JobState.FAILED)
        wait_for(lambda: len(daemon.engine.snapshot().notices) == 2, 10, "two notices")
        shown = [
            n for n in notifier.update(daemon.engine.snapshot(), time.monotonic()) if n.open_path
        ]
        again = [
            n for n in notifier.update(daemon.engine.snapshot(), time.monotonic()) if n.open_path
        ]
    by_title = {n.title: n for n in shown}
    ready = by_title["street.cctv-cam.png is ready"]
    assert ready.open_path == tmp_path / "cam-outputs" / "street.cctv-cam.png"
    assert "cam: street.png through cctv-cam" in ready.message
    failed = by_title["mark.png failed"]
    assert failed.open_path == tmp_path / "sigil-failed" / "mark.png.error.txt"
    assert again == []  # each notice once


SCRIPT = r"""
import json, pathlib, subprocess, sys, time
from floradrop.tray.desktop import DesktopNotifications

log = open(sys.argv[1], "w")
monitor = subprocess.Popen(
    ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
    stdout=log, stderr=subprocess.STDOUT,
)
time.sleep(0.5)
notes = DesktopNotifications()
sent = notes.send("street.cctv-cam.png is ready", "CCTV Cam", open_path=pathlib.Path(sys.argv[2]))
deadline = time.monotonic() + 10
while time.monotonic() < deadline and "member=Notify" not in open(sys.argv[1]).read():
    time.sleep(0.1)
monitor.terminate()
monitor.wait(10)
print(json.dumps({"sent": sent, "broken": notes.broken}))
"""


@pytest.mark.parametrize("_marks", [pytest.param(None, marks=requirement_marks())])
def test_the_notification_has_an_open_button(tmp_path: Path, _marks: None) -> None:
    output = tmp_path / "street.cctv-cam.png"
    output.write_bytes(png_bytes(1))
    with XSession(tmp_path / "x", tray_host=False) as x:
        monitor_log = tmp_path / "monitor.txt"
        done = subprocess.run(
            ["dbus-run-session", "--", sys.executable, "-c", SCRIPT, str(monitor_log), str(output)],
            env=x.env({"PYTHONPATH": os.pathsep.join(sys.path)}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"sent": True, "broken": None}
    bus = monitor_log.read_text("utf-8", errors="replace")
    assert 'string "street.cctv-cam.png is ready"' in bus
    assert 'string "Open"' in bus  # the action button, in the Notify call's actions
