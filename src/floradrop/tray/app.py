"""The pystray adapter: shows the snapshot as an icon, a tooltip, a menu and notifications.

It owns the main thread while it runs (pystray requires it; macOS insists). A named daemon
thread polls the snapshot source every half second and updates the icon, the tooltip and the
menu only when something changed; menu choices call :class:`TrayActions`. Everything it shows
comes from :func:`~floradrop.tray.menu.menu_model` and :func:`~floradrop.tray.icon.render_icon`,
which are pure and tested headless.
"""

from __future__ import annotations

import dataclasses
import functools
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from floradrop.errors import FloradropError
from floradrop.status import Snapshot, TrayState
from floradrop.tray.backend import Backend, XorgDocking, backend_of, import_pystray
from floradrop.tray.desktop import DesktopNotifications
from floradrop.tray.icon import render_icon
from floradrop.tray.menu import Action, MenuEntry, menu_model, tooltip_text
from floradrop.tray.notify import Notification, Notifier
from floradrop.tray.opener import open_path

ICON_SIZE = 64
POLL_INTERVAL = 0.5
REDOCK_INTERVAL = 2.0
APP_NAME = "floradrop"


class TrayActions(Protocol):
    """What the tray asks of the daemon. Called from the tray's threads."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def reload_config(self) -> None: ...

    def acknowledge(self) -> None:
        """Past failures and the last error need no more attention."""

    def quit(self) -> None:
        """Stop the engine gracefully; the tray stops itself once this returns."""

    def set_start_at_login(self, enabled: bool) -> None:
        """Install or remove the login service. May raise FloradropError."""

    def open_dashboard(self) -> None:
        """Open the local dashboard in the browser (offered when ``dashboard=True``)."""

    def approve(self, folder: str) -> None:
        """Start the big drop held for a go-ahead in ``folder``."""

    def cancel(self, folder: str) -> None:
        """Cancel the big drop held in ``folder`` (to its failed folder, nothing charged)."""


def build_menu(
    pystray: Any, entries: tuple[MenuEntry, ...], on_choose: Callable[[MenuEntry], None]
) -> Any:
    """A ``pystray.Menu`` for ``entries``; choosing an entry calls ``on_choose(entry)``."""

    def item(entry: MenuEntry) -> Any:
        if entry.separator:
            return pystray.Menu.SEPARATOR
        if entry.submenu:
            return pystray.MenuItem(
                entry.label,
                pystray.Menu(*(item(sub) for sub in entry.submenu)),
                enabled=entry.enabled,
            )

        def choose(icon: Any, menu_item: Any) -> None:
            del icon, menu_item
            on_choose(entry)

        return pystray.MenuItem(
            entry.label,
            choose if entry.action is not None else None,
            checked=None if entry.checked is None else (lambda _item: bool(entry.checked)),
            enabled=entry.enabled,
            default=entry.default,
        )

    return pystray.Menu(*(item(entry) for entry in entries))


class TrayApp:
    """The tray icon over a snapshot source.

    :meth:`run` on the main thread; :meth:`stop` from any thread.
    """

    def __init__(
        self,
        snapshots: Callable[[], Snapshot],
        actions: TrayActions,
        *,
        notifications: bool = True,
        config_file: Path | None,
        log_file: Path | None,
        notifier: Notifier | None = None,
        desktop: DesktopNotifications | None = None,
        dashboard: bool = False,
    ) -> None:
        self._source = snapshots
        self.dashboard = dashboard
        self._actions = actions
        self.notifications = notifications
        self._config_file = config_file
        self._log_file = log_file
        self._notifier = notifier or Notifier()
        self._desktop = desktop if desktop is not None else DesktopNotifications.for_platform()
        self._pystray = import_pystray()
        self.backend: Backend = backend_of(self._pystray.Icon)
        self.warning: str | None = self.backend.warning
        self._icon: Any = None
        self._shown: Snapshot | None = None
        self._look: tuple[object, ...] = ()
        self._model: tuple[MenuEntry, ...] = ()
        self._last_error: str | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._poller: threading.Thread | None = None
        self._quitter: threading.Thread | None = None
        self._docking: XorgDocking | None = None
        self._sigint: Any = None
        self._redocked_at = 0.0

    def snapshot(self) -> Snapshot:
        """The current snapshot, with the config and log files filled in when it has none."""
        snapshot = self._source()
        changes: dict[str, Any] = {}
        if snapshot.config_file is None and self._config_file is not None:
            changes["config_file"] = self._config_file
        if snapshot.log_file is None and self._log_file is not None:
            changes["log_file"] = self._log_file
        return dataclasses.replace(snapshot, **changes) if changes else snapshot

    def run(self) -> None:
        """Show the icon and handle it until :meth:`stop`. Must be called on the main thread."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("TrayApp.run() must be called on the main thread")
        if self._stopping.is_set():
            return
        snapshot = self.snapshot()
        self._icon = self._pystray.Icon(
            APP_NAME,
            icon=self._image(snapshot),
            title=tooltip_text(snapshot),
            menu=self._menu(snapshot),
        )
        self._shown = snapshot
        self._sigint = signal.getsignal(signal.SIGINT)
        logger.info("tray: icon shown ({} backend)", self.backend.name)
        try:
            self._icon.run(setup=self._setup)
        finally:
            self._stopping.set()
            self._wake.set()
            self._release_setup_thread()
            for thread in (self._poller, self._quitter):
                if thread is not None and thread is not threading.current_thread():
                    thread.join(10)
            logger.info("tray: stopped")

    def stop(self) -> None:
        """Stop the icon; :meth:`run` then returns. Safe from any thread, more than once."""
        self._stopping.set()
        self._wake.set()
        icon = self._icon
        if icon is None:
            return
        try:
            icon.visible = False
            icon.stop()
        except Exception as exc:  # stopping must not fail the caller
            logger.opt(exception=exc).warning("tray: error while stopping the icon")

    # -- inside the running icon ------------------------------------------------------------

    def _setup(self, icon: Any) -> None:
        """Runs once the backend is ready (on pystray's setup thread)."""
        if self._stopping.is_set():  # stop() came before the icon was ready, or run() failed
            icon.stop()
            return
        icon.visible = True
        self._set_tooltip(tooltip_text(self._shown or Snapshot()))
        self._restore_sigint()
        if self.backend.name == "xorg":
            try:
                self._docking = XorgDocking(icon._window.id)
            except Exception as exc:  # keep the icon; only the re-docking is lost
                logger.opt(exception=exc).warning("tray: cannot watch the xorg icon's docking")
        self._poller = threading.Thread(target=self._poll, name="floradrop-tray-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self.refresh()
                    self._keep_docked()
                except Exception as exc:  # the icon must outlive a bad refresh
                    self._report(exc, "tray: could not update the icon")
                self._wake.wait(POLL_INTERVAL)
                self._wake.clear()
        finally:
            if self._docking is not None:
                self._docking.close()

    def _keep_docked(self) -> None:
        """On xorg, ask the tray host again while the icon is not in it (see XorgDocking)."""
        now = time.monotonic()
        if self._docking is None or now - self._redocked_at < REDOCK_INTERVAL:
            return
        self._redocked_at = now
        if self._docking.needs_dock() and self._icon is not None:
            logger.debug("tray: the icon is not docked yet; asking the tray host again")
            self._icon.icon = self._icon.icon  # pystray's xorg backend re-sends its request

    def refresh(self) -> None:
        """Read the snapshot once; update what changed; show due notifications."""
        try:
            snapshot = self.snapshot()
        except Exception as exc:  # keep showing the last state
            self._report(exc, "tray: could not read the status")
            return
        self._last_error = None
        icon = self._icon
        if snapshot != self._shown and icon is not None and not self._stopping.is_set():
            self._shown = snapshot
            look = self._look_of(snapshot)
            if look != self._look:
                self._look = look
                icon.icon = render_icon(snapshot.state, snapshot.in_flight, ICON_SIZE)
            tooltip = tooltip_text(snapshot)
            if tooltip != icon.title:
                icon.title = tooltip
                self._set_tooltip(tooltip)
            model = menu_model(snapshot, has_menu=self.backend.has_menu, dashboard=self.dashboard)
            if model != self._model:
                icon.menu = self._menu(snapshot)
        for notification in self._notifier.update(snapshot, time.monotonic()):
            self._notify(notification)

    # -- helpers ----------------------------------------------------------------------------

    def _report(self, exc: Exception, what: str) -> None:
        """Log a failure of the poll loop once, not twice a second."""
        text = f"{what}: {type(exc).__name__}: {exc}"
        if text != self._last_error:
            self._last_error = text
            logger.opt(exception=exc).warning("{}", what)

    @staticmethod
    def _look_of(snapshot: Snapshot) -> tuple[object, ...]:
        state = snapshot.state
        return (state, snapshot.in_flight if state is TrayState.WORKING else 0)

    def _image(self, snapshot: Snapshot) -> Any:
        self._look = self._look_of(snapshot)
        return render_icon(snapshot.state, snapshot.in_flight, ICON_SIZE)

    def _menu(self, snapshot: Snapshot) -> Any:
        self._model = menu_model(snapshot, has_menu=self.backend.has_menu, dashboard=self.dashboard)
        if not self._model:
            return None
        return build_menu(self._pystray, self._model, self._choose)

    def _restore_sigint(self) -> None:
        """Put back the SIGINT handler that pystray's gtk backends reset to the default.

        They do so on the main thread as their loop starts, which would make Ctrl-C kill the
        daemon on the spot instead of stopping it gracefully. Handlers can only be set on the
        main thread, so this is queued to the loop running there.
        """
        if self.backend.name not in ("gtk", "appindicator"):
            return
        handler = self._sigint
        if handler is None or handler is signal.SIG_DFL:
            return
        from gi.repository import GLib

        def restore() -> bool:
            signal.signal(signal.SIGINT, handler)
            return False

        GLib.idle_add(restore)

    def _set_tooltip(self, text: str) -> None:
        """pystray's gtk backend sets the icon's *title*, which GTK never shows as a tooltip."""
        status_icon = getattr(self._icon, "_status_icon", None)
        if self.backend.name != "gtk" or status_icon is None:
            return
        from gi.repository import GLib

        def apply() -> bool:
            status_icon.set_tooltip_text(text)
            return False

        GLib.idle_add(apply)

    def _choose(self, entry: MenuEntry) -> None:
        """A menu entry was chosen (on the backend's thread)."""
        logger.info("tray: {} chosen", entry.label)
        try:
            match entry.action:
                case Action.PAUSE:
                    self._actions.pause()
                case Action.RESUME:
                    self._actions.resume()
                case Action.RELOAD_CONFIG:
                    self._actions.reload_config()
                case Action.ACKNOWLEDGE:
                    self._actions.acknowledge()
                case Action.OPEN_DASHBOARD:
                    self._actions.open_dashboard()
                case Action.APPROVE if entry.path is not None:
                    self._actions.approve(str(entry.path))
                case Action.CANCEL_HELD if entry.path is not None:
                    self._actions.cancel(str(entry.path))
                case Action.OPEN if entry.path is not None:
                    open_path(entry.path)
                case Action.START_AT_LOGIN:
                    self._actions.set_start_at_login(not entry.checked)
                case Action.QUIT:
                    self._quit()
        except FloradropError as exc:
            logger.warning("tray: {} failed: {}", entry.label, exc.describe())
            text = exc.message + (f"\nWhat to do: {exc.hint}" if exc.hint else "")
            self._notify(Notification(exc.title, text))
        except Exception as exc:  # a menu click must never kill the tray
            logger.opt(exception=exc).error("tray: {} failed", entry.label)
            self._notify(Notification(f"{entry.label} failed", f"{exc}. See the log."))
        self._wake.set()  # show the effect now, not at the next poll

    def _quit(self) -> None:
        """Stop the engine on a thread of its own (it may take a while), then the tray."""
        if self._quitter is not None:
            return

        def quit_then_stop() -> None:
            try:
                self._actions.quit()
            except Exception as exc:  # stop the tray whatever happened
                logger.opt(exception=exc).error("tray: stopping floradrop failed")
            finally:
                self.stop()

        self._quitter = threading.Thread(target=quit_then_stop, name="floradrop-tray-quit")
        self._quitter.start()

    def _notify(self, notification: Notification) -> None:
        logger.info("notification: {}: {}", notification.title, notification.message)
        if not self.notifications:
            return
        buttons = [
            (entry.label, functools.partial(self._choose, entry)) for entry in notification.buttons
        ]
        if self._desktop is not None and self._desktop.send(
            notification.title, notification.message, buttons, open_path=notification.open_path
        ):
            return  # Linux: over D-Bus, whatever pystray's backend can do
        icon = self._icon
        if not self.backend.has_notification or icon is None:
            return
        try:
            icon.notify(notification.message, notification.title)
        except Exception as exc:  # a notification is never worth a crash
            logger.opt(exception=exc).warning("tray: could not show a notification")

    def _release_setup_thread(self) -> None:
        """Unblock pystray's setup thread when the backend failed before it was ready.

        pystray 0.19.5 starts a non-daemon thread that waits for the backend to be ready; if
        ``run()`` fails first, that thread waits forever and the process never exits
        (../shared/design/PLATFORM.md). Its queue is private, hence the name mangling.
        """
        icon = self._icon
        thread = getattr(icon, "_setup_thread", None)
        if thread is None or not thread.is_alive():
            return
        queue = getattr(icon, "_Icon__queue", None)
        if queue is not None:
            self._stopping.set()
            queue.put(False)
            thread.join(5)
