"""Choosing the tray backend, and what it can do.

pystray picks its backend when it is imported, and importing it without a display raises an
Xlib error rather than ImportError (../shared/design/PLATFORM.md). So the decision is made
here, once, before anything else touches pystray: ``--headless`` wins; on Linux a tray is
tried only with a display and a D-Bus session; the import happens inside ``except Exception``;
any failure means no tray, with one reason for the log.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType

TRAY_INSTALL_HINT = (
    "install the tray extra (pip install 'floradrop[tray]', after the system packages "
    "libgirepository1.0-dev libcairo2-dev pkg-config gir1.2-gtk-3.0 "
    "gir1.2-ayatanaappindicator3-0.1 on Debian/Ubuntu; see the README)"
)
MENU_LESS_WARNING = (
    "menu-less tray (pystray {backend} backend): the icon shows the state, but it has no menu "
    "(notifications still come, over D-Bus); use 'floradrop pause|resume|status' instead, or "
    + TRAY_INSTALL_HINT
)


@dataclass(frozen=True)
class Backend:
    """The pystray backend in use and what it offers."""

    name: str  # "gtk", "appindicator", "xorg", "darwin", "win32"
    has_menu: bool
    has_notification: bool
    has_default_action: bool

    def __str__(self) -> str:
        """E.g. "gtk", or "xorg: no menu, no notifications" (for logs and ``status``)."""
        lacks = [
            what
            for what, has in (
                ("no menu", self.has_menu),
                ("no notifications", self.has_notification),
            )
            if not has
        ]
        return f"{self.name}: {', '.join(lacks)}" if lacks else self.name

    @property
    def warning(self) -> str | None:
        """Why this tray offers less than it should, or None."""
        if not self.has_menu:
            return MENU_LESS_WARNING.format(backend=self.name)
        return None


def backend_of(icon_class: type) -> Backend:
    """The capabilities of a pystray ``Icon`` class (pystray's own flags decide)."""
    module = icon_class.__module__.rsplit(".", 1)[-1].lstrip("_")
    return Backend(
        name="dummy" if module == "base" else module,
        has_menu=bool(getattr(icon_class, "HAS_MENU", False)),
        has_notification=bool(getattr(icon_class, "HAS_NOTIFICATION", False)),
        has_default_action=bool(getattr(icon_class, "HAS_DEFAULT_ACTION", False)),
    )


def no_display_reason(environ: Mapping[str, str]) -> str | None:
    """Why no window (and so no tray) can show here, or None (macOS and Windows: None)."""
    if sys.platform in ("darwin", "win32"):
        return None
    if not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY")):
        return "no display (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    return None


def _session_bus_reason() -> str | None:
    """Why the D-Bus session bus cannot be reached, or None when it can.

    pystray's gtk backends open it in ``run()``; when that fails there, pystray leaves a thread
    blocked and the process never exits, so it is checked before.
    """
    try:
        from gi.repository import Gio

        Gio.bus_get_sync(Gio.BusType.SESSION, None)
    except Exception as exc:  # GLib.Error and friends
        return f"no D-Bus session bus ({exc})"
    return None


def import_pystray() -> ModuleType:
    """Import pystray (picking its backend). May raise anything: callers catch ``Exception``."""
    return importlib.import_module("pystray")


def tray_available(headless: bool) -> tuple[bool, str]:
    """Whether a tray icon can be shown here, and a reason or description for the log.

    Returns ``(False, why)`` when there is no tray, and ``(True, description)`` otherwise; the
    description carries the menu-less warning when pystray fell back to its xorg backend.
    """
    if headless:
        return False, "headless mode (--headless, or headless = true under [daemon])"
    if os.environ.get("PYSTRAY_BACKEND") == "dummy":
        return False, "PYSTRAY_BACKEND=dummy selects pystray's dummy backend, which cannot run"
    reason = no_display_reason(os.environ)
    if reason:
        return False, reason
    try:
        pystray = import_pystray()
    except Exception as exc:  # pystray raises Xlib errors, not ImportError
        return False, f"the tray backend could not start ({type(exc).__name__}: {exc})"
    backend = backend_of(pystray.Icon)
    if backend.name in ("gtk", "appindicator"):
        reason = _session_bus_reason()
        if reason:
            return False, reason
    return True, backend.warning or f"pystray {backend.name} backend"


class XorgDocking:
    """Keeps pystray's xorg icon docked.

    pystray's xorg backend asks the tray host to dock its icon once, when it is shown (and
    again only when the image changes). A host that starts after floradrop (at login), or that
    misses the request while it is starting, never shows the icon. :meth:`needs_dock` says when
    to ask again: a host owns the tray selection and the icon's window is still not in it. It
    uses a connection of its own, since pystray's belongs to pystray's thread.
    """

    def __init__(self, window_id: int) -> None:
        from Xlib import X, display

        self._none = X.NONE
        self._display = display.Display()
        screen = self._display.get_default_screen()
        self._selection = self._display.intern_atom(f"_NET_SYSTEM_TRAY_S{screen}")
        self._root = self._display.screen().root
        self._window = self._display.create_resource_object("window", window_id)

    def needs_dock(self) -> bool:
        try:
            if self._display.get_selection_owner(self._selection) == self._none:
                return False  # no tray host (yet): asking would only log errors
            return bool(self._window.query_tree().parent == self._root)
        except Exception:  # the display went away: nothing to do
            return False

    def close(self) -> None:
        try:
            self._display.close()
        except Exception:  # already closed with the display
            return
