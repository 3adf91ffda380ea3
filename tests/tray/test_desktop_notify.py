"""Notifications over D-Bus without PyGObject (desktop-notifier): a real private session bus
(dbus-run-session), a real notification server (dunst, on Xvfb) and dbus-monitor watching
what goes over the bus. The grouping itself is tested in test_notify.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from floradrop.tray.desktop import DesktopNotifications

from .xsession import XSession, requirement_marks

SCRIPT = r"""
import json, subprocess, sys, time
from floradrop.tray.desktop import DesktopNotifications

log = open(sys.argv[1], "w")
monitor = subprocess.Popen(
    ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
    stdout=log, stderr=subprocess.STDOUT,
)
time.sleep(0.5)  # dbus-monitor registers its match rule
notes = DesktopNotifications()
sent = [
    notes.send("Files done", "57 images done in CCTV Cam, 443 to go"),
    notes.send("3 files failed", "3 files failed in CCTV Cam."),
]
deadline = time.monotonic() + 10
while time.monotonic() < deadline and open(sys.argv[1]).read().count("member=Notify") < 2:
    time.sleep(0.1)
monitor.terminate()
monitor.wait(10)
print(json.dumps({"sent": sent, "broken": notes.broken}))
"""


@pytest.mark.parametrize("_marks", [pytest.param(None, marks=requirement_marks())])
def test_notifications_reach_the_notification_server_over_dbus(
    tmp_path: Path, _marks: None
) -> None:
    with XSession(tmp_path / "x", tray_host=False) as x:
        monitor_log = tmp_path / "monitor.txt"
        done = subprocess.run(
            ["dbus-run-session", "--", sys.executable, "-c", SCRIPT, str(monitor_log)],
            env=x.env({"PYTHONPATH": os.pathsep.join(sys.path)}),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"sent": [True, True], "broken": None}, done.stderr
    bus = monitor_log.read_text("utf-8", errors="replace")
    assert bus.count("member=Notify") == 2
    for text in ("Files done", "57 images done in CCTV Cam, 443 to go", "3 files failed"):
        assert f'string "{text}"' in bus
    assert 'string "floradrop"' in bus  # the app name the server shows
    # (sent is True only once the server answered the call with the notification's id)


def test_without_a_session_bus_it_says_so_once_and_lets_the_tray_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")
    notes = DesktopNotifications()
    assert notes.send("Files done", "1 image done in CCTV Cam") is False
    assert notes.broken
    assert notes.send("Files done", "again") is False  # not tried again


def test_only_linux_sends_over_dbus() -> None:
    assert DesktopNotifications.for_platform("darwin") is None
    assert DesktopNotifications.for_platform("win32") is None
    assert isinstance(DesktopNotifications.for_platform("linux"), DesktopNotifications)
