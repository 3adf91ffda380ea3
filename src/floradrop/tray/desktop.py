"""Desktop notifications on Linux over D-Bus, without PyGObject.

pystray shows notifications only with its gtk/appindicator backends (PyGObject); its xorg
backend shows none. On Linux floradrop sends them itself to the desktop's notification server
(``org.freedesktop.Notifications`` on the session bus) through desktop-notifier, a maintained
library that speaks D-Bus in pure Python (dbus-fast). What to notify, and how notifications are
grouped, stays in :mod:`floradrop.tray.notify`; this module only delivers.

Where there is no session bus or no notification server, :meth:`DesktopNotifications.send`
returns False once, says why in the log, and the tray falls back to pystray's own
notifications (or none).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loguru import logger

APP_NAME = "floradrop"


class DesktopNotifications:
    """Sends notifications through desktop-notifier. Thread-safe; made lazily."""

    def __init__(self, app_name: str = APP_NAME) -> None:
        self.app_name = app_name
        self._notifier: Any = None
        self._lock = threading.Lock()
        self.broken: str | None = None  # why sending does not work here

    @classmethod
    def for_platform(cls, platform: str = sys.platform) -> DesktopNotifications | None:
        """An instance on Linux when desktop-notifier is installed, else None."""
        if not platform.startswith("linux"):
            return None
        try:
            import desktop_notifier  # noqa: F401
        except ImportError:
            return None
        return cls()

    def send(self, title: str, message: str, *, open_path: Path | None = None) -> bool:
        """Show one notification (with an "Open" button for ``open_path``); True once the
        notification server took it."""
        with self._lock:
            if self._notifier is None and self.broken is None:
                self.broken = session_bus_problem(os.environ)
            if self.broken is not None:
                return False
            dispatched = threading.Event()
            try:
                if self._notifier is None:
                    from desktop_notifier import DesktopNotifierSync

                    self._notifier = DesktopNotifierSync(app_name=self.app_name, app_icon=None)
                self._notifier.send(
                    title=title,
                    message=message,
                    buttons=_open_button(open_path),
                    on_dispatched=dispatched.set,
                )
            except Exception as exc:  # a notification is never worth a crash
                self.broken = f"{type(exc).__name__}: {exc}"
            if not dispatched.is_set() and self.broken is None:
                self.broken = "no notification server answered on the D-Bus session bus"
            if self.broken is not None:
                logger.info("desktop notifications over D-Bus are off: {}", self.broken)
                self._close()
                return False
            return True

    def _close(self) -> None:
        loop = getattr(self._notifier, "_loop", None)  # DesktopNotifierSync's own event loop
        if loop is not None and not loop.is_running():
            loop.close()
        self._notifier = None


def _open_button(path: Path | None) -> tuple[Any, ...]:
    if path is None:
        return ()
    from desktop_notifier import Button

    from floradrop.tray.opener import open_path

    return (Button(title="Open", on_pressed=lambda: open_path(path)),)


def session_bus_problem(environ: Mapping[str, str]) -> str | None:
    """Why there is no D-Bus session bus to talk to, or None (it is worth a try)."""
    address = environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    if not address:
        runtime = environ.get("XDG_RUNTIME_DIR")
        if runtime and (Path(runtime) / "bus").exists():
            return None
        return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    for part in address.split(";"):
        if not part.startswith("unix:path="):
            return None  # abstract sockets, tcp: only a connection can tell
        if Path(part.removeprefix("unix:path=").split(",", 1)[0]).exists():
            return None
    return f"no D-Bus session bus at {address}"
