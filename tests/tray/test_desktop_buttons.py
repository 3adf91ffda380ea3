"""The big-drop question's buttons over D-Bus: a real private session bus, a real notification
server (dunst, on Xvfb) whose context menu is driven through ``dunstctl context`` (its dmenu is a
script that picks one action), and dbus-monitor watching the Notify call's actions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .xsession import XSession, requirement_marks

SCRIPT = r"""
import json, subprocess, sys, threading, time
from floradrop.tray.desktop import DesktopNotifications

log = open(sys.argv[1], "w")
monitor = subprocess.Popen(
    ["dbus-monitor", "--session", "interface='org.freedesktop.Notifications'"],
    stdout=log, stderr=subprocess.STDOUT,
)
time.sleep(0.5)  # dbus-monitor registers its match rule
pressed = []
answered = threading.Event()

def press(label):
    def call():
        pressed.append(label)
        answered.set()
    return call

notes = DesktopNotifications()
sent = notes.send(
    "Start 480 files in CCTV Cam for $24.00?",
    "Nothing is spent until you answer.",
    [("Start", press("Start")), ("Cancel", press("Cancel"))],
)
deadline = time.monotonic() + 20
while not answered.is_set() and time.monotonic() < deadline:
    subprocess.run(["dunstctl", "context"], check=False, timeout=10)
    answered.wait(1)
time.sleep(0.5)  # a second press (there must be none) would land here
monitor.terminate()
monitor.wait(10)
print(json.dumps({"sent": sent, "pressed": pressed, "broken": notes.broken}))
"""


@pytest.mark.parametrize("_marks", [pytest.param(None, marks=requirement_marks())])
@pytest.mark.parametrize("choice", ["Start", "Cancel"])
def test_question_buttons_travel_as_actions_and_pressing_one_runs_its_callback(
    tmp_path: Path, _marks: None, choice: str
) -> None:
    with XSession(tmp_path / "x", tray_host=False) as x:
        dmenu = tmp_path / "dmenu"  # dunst's context menu: pick the action labelled `choice`
        dmenu.write_text(f"#!/bin/sh\ngrep -m1 '^#{choice}'\n")
        dmenu.chmod(0o755)
        dunstrc = tmp_path / "x" / "xdg-config" / "dunst" / "dunstrc"
        dunstrc.write_text(dunstrc.read_text() + f"    dmenu = {dmenu}\n")
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
    bus = monitor_log.read_text("utf-8", errors="replace")
    assert result == {"sent": True, "pressed": [choice], "broken": None}, (done.stderr, bus)
    notify = bus[bus.index("member=Notify") :]
    actions = notify[notify.index("array [") : notify.index("]")]
    assert 'string "Start"' in actions and 'string "Cancel"' in actions, notify
    assert "member=ActionInvoked" in bus  # dunst said which one, over the bus
