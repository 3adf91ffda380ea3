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
from collections.abc import Callable, Mapping, Sequence
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

    def send(
        self,
        title: str,
        message: str,
        buttons: Sequence[tuple[str, Callable[[], None]]] = (),
        *,
        open_path: Path | None = None,
    ) -> bool:
        """Show one notification; True once the notification server took it.

        ``buttons`` are (label, callback) pairs, sent as the notification's actions; a callback
        runs on this module's event-loop thread when the user presses its button. ``open_path``
        adds an "Open" button for that file.
        """
        with self._lock:
            if self._notifier is None and self.broken is None:
                self.broken = session_bus_problem(os.environ)
            if self.broken is not None:
                return False
            dispatched = threading.Event()
            try:
                from desktop_notifier import Button, DesktopNotifierSync

                if self._notifier is None:
                    self._notifier = DesktopNotifierSync(app_name=self.app_name, app_icon=None)
                    self._start_loop()
                self._notifier.send(
                    title=title,
                    message=message,
                    buttons=[Button(title=label, on_pressed=call) for label, call in buttons]
                    + list(_open_button(open_path)),
                    on_dispatched=dispatched.set,
                )
            except Exception as exc:  # a notification is never worth a crash
                self.broken = f"{type(exc).__name__}: {exc}"
            if self.broken is None and not dispatched.wait(10):
                self.broken = "no notification server answered on the D-Bus session bus"
            if self.broken is not None:
                logger.info("desktop notifications over D-Bus are off: {}", self.broken)
                self._close()
                return False
            return True

    def _start_loop(self) -> None:
        """Run DesktopNotifierSync's own event loop on a daemon thread.

        Without a running loop nothing reads the server's ActionInvoked signals, so buttons
        would do nothing (desktop-notifier's documented limit of its sync API).
        """
        loop = self._notifier._loop
        threading.Thread(target=loop.run_forever, name="floradrop-dbus-notify", daemon=True).start()

    def _close(self) -> None:
        loop = getattr(self._notifier, "_loop", None)  # DesktopNotifierSync's own event loop
        if loop is not None:
            if loop.is_running():
                loop.call_soon_threadsafe(loop.stop)
            else:
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
