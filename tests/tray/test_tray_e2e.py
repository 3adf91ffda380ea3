"""``floradrop run`` with its tray icon, for real: Xvfb, trayer, dbus, the FLORA emulator.

The daemon docks its icon (screenshot), a right click opens the menu (screenshot), Pause in
the menu makes ``floradrop status --json`` report ``paused: true`` and Resume clears it, a
dropped file turns the icon to working and back to idle (read from the icon's pixels, and
confirmed by ``status --json``), and Quit stops the daemon cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flora_emulator import Emulator
from floradrop.status import TrayState

from .conftest import publish
from .xsession import XSession, requirement_marks, wait_for

pytestmark = requirement_marks()


def write_config(root: Path, emulator: Emulator) -> Path:
    config = root / "floradrop.toml"
    config.write_text(
        "[flora]\n"
        f"base_url = {emulator.base_url!r}\n"
        "[daemon]\n"
        f"state_dir = {str(root / 'state')!r}\n"
        f"log_dir = {str(root / 'logs')!r}\n"
        "settle_seconds = 0.2\n"
        "poll_interval_seconds = 2\n"
        "[[folders]]\n"
        f"path = {str(root / 'CCTV Cam' / 'inbox')!r}\n"
        'name = "CCTV Cam"\n'
        'technique = "cctv-cam"\n',
        encoding="utf-8",
    )
    return config


def status(config: Path, emulator: Emulator) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "floradrop", "status", "--json", "--config", str(config)],
        env=dict(os.environ, FLORA_API_KEY=emulator.api_key),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def photo(path: Path, colour: tuple[int, int, int] = (200, 120, 40)) -> None:
    from PIL import Image

    staging = path.parent.parent / ".staging"
    staging.mkdir(exist_ok=True)
    Image.new("RGB", (64, 48), colour).save(staging / path.name)
    os.replace(staging / path.name, path)  # arrives whole, as a move from elsewhere would


def test_floradrop_run_shows_and_obeys_its_tray_icon(tmp_path: Path, artifacts: Path) -> None:
    inbox = tmp_path / "CCTV Cam" / "inbox"
    inbox.mkdir(parents=True)
    # The desktop's opener, recording what it is asked to open.
    opened = tmp_path / "opened.txt"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "xdg-open").write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{opened}"\n')
    (bin_dir / "xdg-open").chmod(0o755)
    # Runs take a few seconds, so that "working" is there to be seen.
    with Emulator(run_seconds=4) as emulator, XSession(tmp_path / "x") as x:
        config = write_config(tmp_path, emulator)
        daemon = x.spawn(
            [sys.executable, "-m", "floradrop", "run", "--config", str(config)],
            log="run.log",
            dbus=True,
            env={
                "FLORA_API_KEY": emulator.api_key,
                "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            },
        )
        try:
            icon = x.wait_icon(timeout=60)
            wait_for("idle", lambda: x.icon_state(icon, artifacts / "docked.png") is TrayState.IDLE)
            first = status(config, emulator)
            assert first["state"] == "idle" and first["paused"] is False
            assert first["tray_warning"] is None

            # A dropped file: working, then idle again, with its outputs written.
            photo(inbox / "street.png")
            wait_for(
                "the icon to show working",
                lambda: x.icon_state(icon, artifacts / "working.png") is TrayState.WORKING,
            )
            assert status(config, emulator)["state"] == "working"
            wait_for(
                "the icon to be idle again",
                lambda: x.icon_state(icon, artifacts / "idle-again.png") is TrayState.IDLE,
                timeout=60,
            )
            after = status(config, emulator)
            assert after["state"] == "idle" and after["done_today"] == 1
            assert any((tmp_path / "CCTV Cam" / "inbox-outputs").iterdir())

            # The menu opens on a right click and shows the day, and the result.
            menu = x.open_menu(icon).rect
            x.screenshot(artifacts / "menu.png")
            before = x.popups()
            # Pause, Open dashboard, CCTV Cam, Recent results: open it
            x.keys("Down", "Down", "Down", "Down", "Right")
            recent = wait_for("the recent results", lambda: x.new_popup(before, min_height=20)).rect
            shot = x.screenshot(artifacts / "menu-recent.png")
            x.keys("Return")  # the first result: opened with the desktop's opener
            output = next((tmp_path / "CCTV Cam" / "inbox-outputs").iterdir())
            wait_for("the result to open", lambda: opened.exists() and opened.read_text())
            assert opened.read_text() == f"{output}\n"
            left = min(menu.x, recent.x) - 12
            bottom = max(menu.y + menu.height, recent.y + recent.height) + 12
            publish(shot.crop((left, 0, shot.width, bottom)), "tray-menu.png")

            # Pause in the menu is `floradrop pause`; choosing it again resumes.
            x.open_menu_checked(icon, [False, False], artifacts / "menu-before-pause.png")
            x.keys("Down", "Return")  # the first enabled entry is Pause
            wait_for("paused: true", lambda: status(config, emulator)["paused"] is True)
            wait_for(
                "paused icon",
                lambda: x.icon_state(icon, artifacts / "paused.png") is TrayState.PAUSED,
            )
            x.open_menu_checked(icon, [True, False], artifacts / "menu-paused.png")
            x.keys("Down", "Return")
            wait_for("paused: false", lambda: status(config, emulator)["paused"] is False)
            wait_for(
                "idle icon", lambda: x.icon_state(icon, artifacts / "resumed.png") is TrayState.IDLE
            )

            # Quit (the last entry) stops the daemon gracefully.
            x.open_menu(icon)
            x.keys("Up", "Return")
            assert daemon.wait(30) == 0
        finally:
            log = (x.workdir / "run.log").read_text(errors="replace")
            (artifacts / "run.log").write_text(log)
        assert "tray: Quit floradrop chosen" in log


def daemon_pid(state_dir: Path) -> int:
    info = state_dir / "daemon.json"
    return int(json.loads(info.read_text())["pid"]) if info.exists() else 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signals_stop_a_tray_daemon_gracefully(tmp_path: Path, signum: int) -> None:
    """pystray's gtk backend resets SIGINT; Ctrl-C and SIGTERM must still stop it cleanly."""
    (tmp_path / "CCTV Cam" / "inbox").mkdir(parents=True)
    with Emulator() as emulator, XSession(tmp_path / "x") as x:
        config = write_config(tmp_path, emulator)
        daemon = x.spawn(
            [sys.executable, "-m", "floradrop", "run", "--config", str(config)],
            log="run.log",
            dbus=True,
            env={"FLORA_API_KEY": emulator.api_key},
        )
        x.wait_icon(timeout=60)
        pid = wait_for("daemon.json", lambda: daemon_pid(tmp_path / "state"))
        os.kill(pid, signum)
        assert daemon.wait(30) == 0, (x.workdir / "run.log").read_text()
        assert "stopping" in (x.workdir / "run.log").read_text()


def test_menu_less_fallback_is_reported_by_status(tmp_path: Path) -> None:
    (tmp_path / "CCTV Cam" / "inbox").mkdir(parents=True)
    with Emulator() as emulator, XSession(tmp_path / "x") as x:
        config = write_config(tmp_path, emulator)
        daemon = x.spawn(
            [sys.executable, "-m", "floradrop", "run", "--config", str(config)],
            log="run.log",
            env={"FLORA_API_KEY": emulator.api_key, "PYSTRAY_BACKEND": "xorg"},
        )
        x.wait_icon(timeout=60)
        warning = status(config, emulator)["tray_warning"]
        assert warning.startswith("menu-less tray (pystray xorg backend)")
        assert "floradrop[tray]" in warning
        log = (tmp_path / "logs" / "floradrop.log").read_text()
        assert sum("menu-less tray" in line for line in log.splitlines()) == 1, log
        text = subprocess.run(
            [sys.executable, "-m", "floradrop", "status", "--config", str(config)],
            env=dict(os.environ, FLORA_API_KEY=emulator.api_key),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert "xorg: no menu, no notifications" in text, text
        assert "! menu-less tray (pystray xorg backend)" in text, text
        x.stop_process(daemon)


def test_no_display_runs_headless_with_one_log_line(tmp_path: Path) -> None:
    (tmp_path / "CCTV Cam" / "inbox").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("PYSTRAY_BACKEND", None)
    with Emulator() as emulator:
        config = write_config(tmp_path, emulator)
        env["FLORA_API_KEY"] = emulator.api_key
        log = tmp_path / "run.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "floradrop", "run", "--config", str(config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for("the daemon to run", lambda: status(config, emulator)["daemon_running"])
            lines = [line for line in log.read_text().splitlines() if "tray" in line]
            assert len(lines) == 1, lines
            assert "running without a tray icon: no display" in lines[0]
        finally:
            XSession.stop_process(daemon)
        assert daemon.returncode == 0


def test_start_at_login_from_the_menu(tmp_path: Path, artifacts: Path) -> None:
    """The checkbox installs and removes the login entry (an XDG autostart file here)."""
    (tmp_path / "CCTV Cam" / "inbox").mkdir(parents=True)
    with Emulator() as emulator, XSession(tmp_path / "x") as x:
        config = write_config(tmp_path, emulator)
        autostart = Path(x.env()["XDG_CONFIG_HOME"]) / "autostart"
        daemon = x.spawn(
            [sys.executable, "-m", "floradrop", "run", "--config", str(config)],
            log="run.log",
            dbus=True,
            env={"FLORA_API_KEY": emulator.api_key},
        )
        icon = x.wait_icon(timeout=60)
        x.open_menu_checked(icon, [False, False], artifacts / "menu.png")
        x.keys("Up", "Up", "Return")  # above Quit: Start at login
        entry = wait_for("the autostart entry", lambda: next(autostart.glob("*.desktop"), None))
        assert str(config) in entry.read_text()
        wait_for("the checkbox", lambda: status(config, emulator)["service_installed"] is True)
        x.open_menu_checked(icon, [False, True], artifacts / "menu-start-at-login.png")
        x.keys("Up", "Up", "Return")  # now checked: choosing it again removes the entry
        wait_for("the entry to go", lambda: not any(autostart.glob("*.desktop")))
        wait_for("no checkbox", lambda: status(config, emulator)["service_installed"] is False)
        x.stop_process(daemon)
        log = (x.workdir / "run.log").read_text()
        assert log.count("tray: Start at login chosen") == 2, log


def test_a_big_drop_is_asked_about_once_and_started_from_the_tray_menu(
    tmp_path: Path, artifacts: Path
) -> None:
    """The big-drop guard under a real tray: three files above ``confirm_above_files = 2`` are
    held, a notification (through dunst) asks "Start 3 files in CCTV Cam for $0.15?", nothing
    runs; the menu's first entry, Start, runs them."""
    from .test_tray_demo_e2e import notification

    inbox = tmp_path / "CCTV Cam" / "inbox"
    inbox.mkdir(parents=True)
    with Emulator(run_seconds=0.2) as emulator, XSession(tmp_path / "x") as x:
        config = write_config(tmp_path, emulator)
        text = config.read_text().replace(
            "settle_seconds = 0.2\n", "settle_seconds = 0.2\nconfirm_above_files = 2\n"
        )
        config.write_text(text, encoding="utf-8")
        daemon = x.spawn(
            [sys.executable, "-m", "floradrop", "run", "--config", str(config)],
            log="run.log",
            dbus=True,
            env={"FLORA_API_KEY": emulator.api_key},
        )
        try:
            icon = x.wait_icon(timeout=60)
            for n in range(3):
                photo(inbox / f"street {n}.png", colour=(40 * n, 90, 200))
            question = "Start 3 files in CCTV Cam for $0.15?"
            wait_for(
                "the question in status",
                lambda: [q["text"] for q in status(config, emulator)["questions"]] == [question],
                timeout=60,
            )
            log = x.workdir / "run.log"
            wait_for(
                "the question's notification",
                lambda: f"notification: {question}" in log.read_text(errors="replace"),
            )
            wait_for("dunst to show it", lambda: notification(x), timeout=30)
            x.screenshot(artifacts / "big-drop-notification.png")
            wait_for(
                "the attention icon",
                lambda: x.icon_state(icon, artifacts / "asking.png") is TrayState.ATTENTION,
            )
            assert emulator.stats.runs_created == 0  # nothing spent before the answer

            x.open_menu(icon)
            x.screenshot(artifacts / "big-drop-menu.png")
            x.keys("Down", "Return")  # the first enabled entry: Start 3 files in CCTV Cam
            wait_for(
                "the three runs",
                lambda: status(config, emulator)["done_today"] == 3,
                timeout=60,
            )
            assert emulator.stats.runs_created == 3
            assert status(config, emulator)["questions"] == []
            notes = log.read_text(errors="replace").count(f"notification: {question}")
            assert notes == 1, "asked once"

            x.open_menu(icon)
            x.keys("Up", "Return")  # Quit
            assert daemon.wait(30) == 0
        finally:
            (artifacts / "big-drop-run.log").write_text(
                (x.workdir / "run.log").read_text(errors="replace")
            )
        assert (
            "tray: Start 3 files in CCTV Cam for $0.15 chosen"
            in (artifacts / "big-drop-run.log").read_text()
        )
