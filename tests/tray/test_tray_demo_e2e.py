"""The real tray under Xvfb, over a scripted status (``tests/tray/scripted_tray.py``).

The same adapter as ``floradrop run`` uses, on pystray's gtk backend docked in trayer, driven
with xdotool: the icon docks, shows each state in its colour, has a tooltip, opens its menu on
a right click, Pause/Resume/Quit reach the daemon's actions, and notifications appear through
a real notification daemon (dunst). The engine-backed run is in test_tray_e2e.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from floradrop.status import Attention, AttentionKind, RecentItem, Snapshot, TrayState

from .conftest import folder, publish
from .xsession import Rect, XSession, requirement_marks, wait_for

pytestmark = requirement_marks()


class Demo:
    """The demo tray process, its status file and its record of actions."""

    def __init__(self, x: XSession, workdir: Path, backend: str = "gtk") -> None:
        self.x = x
        self.status = workdir / "status.json"
        self.actions = workdir / "actions.jsonl"
        self.log = x.workdir / "demo.log"
        self.backend = backend
        self.process: subprocess.Popen[bytes] | None = None

    def show(self, snapshot: Snapshot, **extra: Any) -> None:
        data = snapshot.to_json() | extra
        temp = self.status.with_suffix(".tmp")
        temp.write_text(json.dumps(data))
        temp.replace(self.status)

    def start(self) -> None:
        argv = [sys.executable, str(Path(__file__).with_name("scripted_tray.py"))]
        argv += ["--snapshot", str(self.status), "--actions", str(self.actions)]
        self.process = self.x.spawn(
            argv, log=self.log.name, dbus=True, env={"PYSTRAY_BACKEND": self.backend}
        )

    def chosen(self) -> list[str]:
        if not self.actions.exists():
            return []
        return [json.loads(line)["action"] for line in self.actions.read_text().splitlines()]


def wait_state(x: XSession, icon: Rect, state: TrayState, shot: Path) -> Image.Image:
    wait_for(f"the icon to show {state}", lambda: x.icon_state(icon, shot) is state)
    with Image.open(shot) as image:
        return image.crop(icon.box()).copy()


def test_tray_over_a_scripted_status(root: Path, artifacts: Path, tmp_path: Path) -> None:
    cam = folder(root, "CCTV Cam", done=12)
    idle = Snapshot(
        daemon_running=True,
        folders=(cam, folder(root, "Scans", done=3)),
        done_today=15,
        spend_today_usd=0.48,
        recent_results=(RecentItem(cam.outputs / "frame01.png", "frame01.png", 1.0),),
        config_file=root / "config.toml",
        log_file=root / "floradrop.log",
    )
    with XSession(tmp_path / "x") as x:
        demo = Demo(x, tmp_path)
        demo.show(idle, service_installed=False)
        demo.start()
        icon = x.wait_icon()
        states = {TrayState.IDLE: wait_state(x, icon, TrayState.IDLE, artifacts / "idle.png")}

        # The tooltip says the state in words.
        before = x.popups()
        x.run(["xdotool", "mousemove", *map(str, icon.centre)])
        tip = wait_for("the tooltip", lambda: x.new_popup(before)).rect
        tooltip = x.screenshot(artifacts / "tooltip.png").crop(
            (tip.x - 8, 0, x.screen_width, tip.y + tip.height + 8)
        )

        # The menu opens; Pause reaches the daemon and the icon turns to paused.
        menu = x.open_menu_checked(icon, [False, False], artifacts / "menu.png")
        assert menu.rect.height > 200, "the menu has all its entries"
        x.keys("Down", "Return")  # the first enabled entry is Pause
        wait_for("pause to be chosen", lambda: demo.chosen() == ["pause"])
        states[TrayState.PAUSED] = wait_state(x, icon, TrayState.PAUSED, artifacts / "paused.png")
        x.open_menu_checked(icon, [True, False], artifacts / "menu-paused.png")
        x.keys("Down", "Return")  # the same entry, now checked, resumes
        wait_for("resume to be chosen", lambda: demo.chosen() == ["pause", "resume"])
        wait_state(x, icon, TrayState.IDLE, artifacts / "resumed.png")

        # Work arrives and finishes: working, then idle again, with a notification.
        busy = dict(folders=(folder(root, "CCTV Cam", done=12, running=2, waiting=1),))
        demo.show(Snapshot(**{**idle.__dict__, **busy, "running": 2, "queued": 1}))
        states[TrayState.WORKING] = wait_state(
            x, icon, TrayState.WORKING, artifacts / "working.png"
        )
        finished = dict(folders=(folder(root, "CCTV Cam", done=15), idle.folders[1]))
        demo.show(Snapshot(**{**idle.__dict__, **finished, "done_today": 18}))
        wait_state(x, icon, TrayState.IDLE, artifacts / "idle-again.png")
        done_note = wait_for("the batch notification", lambda: notification(x))

        # A rejected key: the icon asks for attention and a notification says what to do.
        rejected = Attention(
            AttentionKind.AUTH, "FLORA rejected the API key.", "run 'floradrop init'"
        )
        demo.show(Snapshot(**{**idle.__dict__, "attention": rejected}))
        states[TrayState.ATTENTION] = wait_state(
            x, icon, TrayState.ATTENTION, artifacts / "attention.png"
        )
        note = wait_for("the attention notification", lambda: notification(x, not_rect=done_note))
        shot = x.screenshot(artifacts / "notification.png")

        # Quit (the last entry) stops the tray and the process ends cleanly.
        x.open_menu(icon)
        x.keys("Up", "Return")
        assert demo.process is not None
        assert demo.process.wait(20) == 0
        assert demo.chosen() == ["pause", "resume", "quit"]

    publish(legend(states), "tray-states.png")
    publish(tooltip, "tray-tooltip.png")
    publish(shot.crop(note.box(pad=8)), "tray-notification.png")


def notification(x: XSession, not_rect: Rect | None = None) -> Rect | None:
    """The rect of dunst's notification window while one is shown (a new one if asked)."""
    window = x.find_window("Dunst")
    if window is None or window.rect.height < 20 or window.rect == not_rect:
        return None
    return window.rect


def legend(states: dict[TrayState, Image.Image]) -> Image.Image:
    """The docked icon in each state, side by side, as the panel showed it."""
    order = [TrayState.IDLE, TrayState.WORKING, TrayState.PAUSED, TrayState.ATTENTION]
    tiles = [states[s] for s in order]
    scale = 2
    width = sum(t.width for t in tiles) * scale + 8 * (len(tiles) + 1)
    height = max(t.height for t in tiles) * scale + 16
    sheet = Image.new("RGB", (width, height), (222, 221, 218))
    x = 8
    for tile in tiles:
        sheet.paste(tile.resize((tile.width * scale, tile.height * scale)), (x, 8))
        x += tile.width * scale + 8
    return sheet


def test_xorg_fallback_docks_a_menu_less_icon_and_says_so(tmp_path: Path) -> None:
    with XSession(tmp_path / "x") as x:
        demo = Demo(x, tmp_path, backend="xorg")
        demo.show(Snapshot(daemon_running=True))
        demo.start()
        icon = x.wait_icon()
        wait_for(  # generous: the first paint can be slow on a loaded 2-core machine
            "idle", lambda: x.icon_state(icon, tmp_path / "xorg.png") is TrayState.IDLE, timeout=60
        )
        log = wait_for(
            "the warning", lambda: "menu-less tray" in demo.log.read_text() and demo.log.read_text()
        )
        assert "pystray xorg backend" in log and "floradrop[tray]" in log


@pytest.mark.parametrize(
    ("backend", "dbus", "expected"),
    [
        ("gtk", True, "pystray gtk backend"),
        ("appindicator", True, "pystray appindicator backend"),
        ("xorg", False, "menu-less tray (pystray xorg backend): "),
    ],
)
def test_tray_available_names_the_backend(
    tmp_path: Path, backend: str, dbus: bool, expected: str
) -> None:
    code = (
        "import json; from floradrop.tray import tray_available as t; print(json.dumps(t(False)))"
    )
    with XSession(tmp_path / "x") as x:
        out = x.workdir / "probe.log"
        proc = x.spawn(
            [sys.executable, "-c", code], log=out.name, dbus=dbus, env={"PYSTRAY_BACKEND": backend}
        )
        assert proc.wait(60) == 0, out.read_text()
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("[")]
    assert lines, out.read_text()
    available, reason = lines[0]
    assert available is True
    assert reason.startswith(expected)


@pytest.mark.parametrize("backend", ["gtk", "xorg"])
def test_icon_docks_when_the_tray_host_starts_later(tmp_path: Path, backend: str) -> None:
    """At login floradrop may start before the panel: the icon docks once the panel is up."""
    with XSession(tmp_path / "x", tray_host=False) as x:
        demo = Demo(x, tmp_path, backend=backend)
        demo.show(Snapshot(daemon_running=True, paused=True))
        demo.start()
        wait_for("the tray to start", lambda: "tray: icon shown" in demo.log.read_text())
        x.start_tray_host()
        icon = x.wait_icon()
        wait_for("paused", lambda: x.icon_state(icon, tmp_path / "late.png") is TrayState.PAUSED)
