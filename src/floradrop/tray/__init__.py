"""The system-tray icon: a thin adapter over the status snapshot.

Importing this package imports neither pystray nor a GUI toolkit (it works with no display);
pystray is imported by :func:`tray_available` and :class:`TrayApp`, once the daemon decided to
show an icon. The pieces:

* :mod:`~floradrop.tray.menu`: the menu as a pure function of the snapshot;
* :mod:`~floradrop.tray.icon`: the icon per state, drawn with Pillow;
* :mod:`~floradrop.tray.notify`: which notifications to show, coalesced;
* :mod:`~floradrop.tray.backend`: whether a tray can be shown here, and what it can do;
* :mod:`~floradrop.tray.opener`: opening files and folders with the platform's opener;
* :mod:`~floradrop.tray.app`: the pystray adapter tying them together.
"""

from __future__ import annotations

from floradrop.tray.app import TrayActions, TrayApp
from floradrop.tray.backend import tray_available
from floradrop.tray.icon import render_icon
from floradrop.tray.menu import Action, MenuEntry, menu_model
from floradrop.tray.notify import Notification, Notifier
from floradrop.tray.opener import open_path

__all__ = [
    "Action",
    "MenuEntry",
    "Notification",
    "Notifier",
    "TrayActions",
    "TrayApp",
    "menu_model",
    "open_path",
    "render_icon",
    "tray_available",
]
