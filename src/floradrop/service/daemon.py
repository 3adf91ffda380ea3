"""The daemon as the login entry sees it: is one running now, and where does it log?

XDG autostart and the Windows Run key start a program and forget it, so there is no service
manager to ask; the daemon's own single-instance lock (``floradrop.instance``) knows.
"""

from __future__ import annotations

from pathlib import Path

from floradrop.paths import log_dir, state_dir

# What uninstall says where nothing stops the daemon (XDG autostart, the Run key).
STILL_RUNNING = "a floradrop that runs now keeps running until you quit it (tray menu: Quit)"


def log_file() -> Path:
    """floradrop's own log, written whatever started it."""
    from floradrop.logs import LOG_FILE_NAME

    return log_dir() / LOG_FILE_NAME


def local_daemon() -> tuple[bool | None, str]:
    """``(running, what to say)``; ``running`` is ``None`` when the lock cannot be read."""
    from floradrop.instance import DaemonInfo, is_running

    where = state_dir()
    try:
        running = is_running(where)
    except OSError as exc:
        return None, f"cannot tell whether floradrop runs ({where}: {exc.strerror or exc})"
    if not running:
        return False, "no floradrop daemon is running"
    info = DaemonInfo.read(where)
    if info is None:
        return True, "a floradrop daemon is running"
    return True, f"a floradrop daemon is running (pid {info.pid}, config {info.config_file})"
