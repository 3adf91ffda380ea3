"""The pystray adapter, headless: menus built on pystray's dummy backend, and the whole
run/poll/stop cycle on a recording backend (pystray's base icon with its platform hooks
recording what they are asked to show)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pystray
import pytest

from floradrop.errors import FloradropError
from floradrop.status import Attention, AttentionKind, Snapshot, TrayState
from floradrop.tray import TrayApp, menu_model, tray_available
from floradrop.tray.app import build_menu
from floradrop.tray.backend import backend_of
from floradrop.tray.menu import MenuEntry
from floradrop.tray.notify import Notifier

from .xsession import state_of_pixels, wait_for


class Actions:
    """A daemon stand-in: records calls, and pause/resume change the status it reports."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.calls: list[tuple[str, Any]] = []
        self.fail_login: FloradropError | None = None
        self.lock = threading.Lock()

    def current(self) -> Snapshot:
        with self.lock:
            return self.snapshot

    def set(self, snapshot: Snapshot) -> None:
        with self.lock:
            self.snapshot = snapshot

    def pause(self) -> None:
        self.calls.append(("pause", None))
        self.set(dataclasses.replace(self.current(), paused=True))

    def resume(self) -> None:
        self.calls.append(("resume", None))
        self.set(dataclasses.replace(self.current(), paused=False))

    def reload_config(self) -> None:
        self.calls.append(("reload_config", None))

    def acknowledge(self) -> None:
        self.calls.append(("acknowledge", None))
        self.set(dataclasses.replace(self.current(), attention=None, last_error=None))

    def quit(self) -> None:
        self.calls.append(("quit", None))

    def approve(self, folder: str) -> None:
        self.calls.append(("approve", folder))

    def cancel(self, folder: str) -> None:
        self.calls.append(("cancel", folder))

    def set_start_at_login(self, enabled: bool) -> None:
        self.calls.append(("start_at_login", enabled))
        if self.fail_login is not None:
            raise self.fail_login


def item_named(menu: Any, text: str) -> Any:
    for item in menu:
        if item.text == text:
            return item
    raise AssertionError(f"{text!r} not in {[i.text for i in menu]}")


# -- build_menu on the dummy backend -------------------------------------------------------


def test_pystray_menu_mirrors_the_model(busy: Snapshot) -> None:
    chosen: list[MenuEntry] = []
    model = menu_model(dataclasses.replace(busy, paused=True))
    menu = build_menu(pystray, model, chosen.append)
    items = list(menu)
    assert [i.text for i in items if i is not pystray.Menu.SEPARATOR] == [
        e.label for e in model if not e.separator
    ]
    assert item_named(menu, "Pause").checked is True
    assert item_named(menu, "Start at login").checked is False
    assert item_named(menu, "Quit floradrop").checked is None
    status = items[0]
    assert status.enabled is False and status.visible
    assert item_named(menu, "Reload config").enabled

    item_named(menu, "Pause")(None)
    assert chosen[-1].label == "Pause" and chosen[-1].action == "resume"
    cam = item_named(menu, "CCTV Cam (2 running, 1 queued, 1 failed)")
    assert cam.submenu is not None
    outputs = item_named(cam.submenu, "Open outputs")
    outputs(None)
    assert chosen[-1].path == busy.folders[0].outputs
    recent = item_named(menu, "Recent results").submenu
    assert len(list(recent)) == 10


def test_disabled_lines_do_nothing(busy: Snapshot) -> None:
    chosen: list[MenuEntry] = []
    menu = build_menu(pystray, menu_model(busy), chosen.append)
    next(iter(menu))(None)
    assert chosen == []


# -- TrayApp actions (dummy backend, no icon running) ---------------------------------------


@pytest.fixture
def app_and_actions(busy: Snapshot) -> tuple[TrayApp, Actions]:
    actions = Actions(busy)
    app = TrayApp(actions.current, actions, config_file=None, log_file=None)
    return app, actions


def choose(app: TrayApp, *path: str) -> None:
    menu = app._menu(app.snapshot())
    for text in path[:-1]:
        menu = item_named(menu, text).submenu
    item_named(menu, path[-1])(None)


def test_menu_choices_call_the_daemon(app_and_actions: tuple[TrayApp, Actions]) -> None:
    app, actions = app_and_actions
    choose(app, "Pause")
    choose(app, "Pause")
    choose(app, "Reload config")
    choose(app, "Start at login")
    assert actions.calls == [
        ("pause", None),
        ("resume", None),
        ("reload_config", None),
        ("start_at_login", True),
    ]


def test_acknowledge_clears_the_attention(busy: Snapshot) -> None:
    failed = dataclasses.replace(
        busy, attention=Attention(AttentionKind.FAILED_JOB, "1 file(s) failed")
    )
    actions = Actions(failed)
    app = TrayApp(actions.current, actions, config_file=None, log_file=None)
    choose(app, "Acknowledge")
    assert actions.calls == [("acknowledge", None)]
    assert actions.current().attention is None


def test_start_at_login_errors_are_reported_not_raised(
    app_and_actions: tuple[TrayApp, Actions],
) -> None:
    app, actions = app_and_actions
    actions.set(dataclasses.replace(actions.current(), service_installed=True))
    actions.fail_login = FloradropError("systemd is not running", hint="use the autostart entry")
    choose(app, "Start at login")  # must not raise
    assert actions.calls == [("start_at_login", False)]


def test_config_and_log_files_fall_back_to_the_given_paths(tmp_path: Path) -> None:
    actions = Actions(Snapshot())
    app = TrayApp(
        actions.current, actions, config_file=tmp_path / "c.toml", log_file=tmp_path / "f.log"
    )
    assert app.snapshot().config_file == tmp_path / "c.toml"
    assert app.snapshot().log_file == tmp_path / "f.log"
    own = Snapshot(config_file=Path("own.toml"))
    actions.set(own)
    assert app.snapshot().config_file == Path("own.toml")


def test_dummy_backend_offers_a_menu(app_and_actions: tuple[TrayApp, Actions]) -> None:
    app, _ = app_and_actions
    assert app.backend.name == "dummy"
    assert app.backend.has_menu and app.warning is None


def test_run_refuses_a_worker_thread(app_and_actions: tuple[TrayApp, Actions]) -> None:
    app, _ = app_and_actions
    errors: list[BaseException] = []

    def target() -> None:
        try:
            app.run()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    assert errors and "main thread" in str(errors[0])


# -- the whole cycle on a recording backend ------------------------------------------------


class RecordingIcon(pystray.Icon):  # type: ignore[misc]
    """pystray's base icon with its platform hooks recording instead of drawing."""

    HAS_NOTIFICATION = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopped = threading.Event()
        self.images: list[Any] = []
        self.titles: list[str] = []
        self.menus: list[list[str]] = []
        self.notes: list[tuple[str, str]] = []
        self.shown = threading.Event()

    def _run(self) -> None:
        self._mark_ready()
        self.stopped.wait(60)

    def _stop(self) -> None:
        self.stopped.set()

    def _show(self) -> None:
        self.shown.set()

    def _hide(self) -> None:
        self.shown.clear()

    def _update_icon(self) -> None:
        self.images.append(self.icon)
        self._icon_valid = True

    def _update_title(self) -> None:
        self.titles.append(self.title)

    def _update_menu(self) -> None:
        self.menus.append([item.text for item in self.menu] if self.menu else [])

    def _notify(self, message: str, title: str | None = None) -> None:
        self.notes.append((title or "", message))


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(pystray, "Icon", RecordingIcon)
    yield


def run_with(app: TrayApp, driver: Callable[[RecordingIcon], None]) -> None:
    """Run ``app`` on this (main) thread while ``driver`` acts on its icon from another."""
    errors: list[BaseException] = []

    def drive() -> None:
        try:
            icon = wait_for("the icon", lambda: app._icon)
            wait_for("the icon to show", icon.shown.is_set)
            driver(icon)
        except BaseException as exc:
            errors.append(exc)
        finally:
            app.stop()

    thread = threading.Thread(target=drive, name="test-driver")
    thread.start()
    app.run()
    thread.join(30)
    if errors:
        raise errors[0]


def icon_state(icon: RecordingIcon) -> TrayState | None:
    return state_of_pixels(icon.icon)


@pytest.mark.usefixtures("recording")
def test_icon_tooltip_and_menu_follow_the_snapshot(busy: Snapshot) -> None:
    idle = dataclasses.replace(busy, running=0, queued=0)
    actions = Actions(idle)
    app = TrayApp(actions.current, actions, config_file=None, log_file=None)

    def driver(icon: RecordingIcon) -> None:
        assert icon_state(icon) is TrayState.IDLE
        assert icon.title == "floradrop: 15 done today, 1 failed, $0.48 spent"
        actions.set(dataclasses.replace(idle, running=3, queued=2))
        wait_for("working", lambda: icon_state(icon) is TrayState.WORKING)
        wait_for("tooltip", lambda: icon.title.startswith("floradrop: 3 running, 2 queued"))
        assert "3 running, 2 queued" in icon.menus[-1]
        item_named(icon.menu, "Pause")(icon)  # as the backend calls it
        wait_for("paused", lambda: icon_state(icon) is TrayState.PAUSED)
        assert icon.menus[-1][0] == "Paused, 3 finishing"
        item_named(icon.menu, "Pause")(icon)
        wait_for("resumed", lambda: icon_state(icon) is TrayState.WORKING)
        updates = len(icon.images)
        actions.set(dataclasses.replace(actions.current(), spend_today_usd=0.5))
        wait_for("tooltip", lambda: "$0.50 spent" in icon.title)
        assert len(icon.images) == updates, "the image is redrawn only when its look changes"

    run_with(app, driver)
    assert [c for c, _ in actions.calls] == ["pause", "resume"]


@pytest.mark.usefixtures("recording")
@pytest.mark.parametrize("enabled", [True, False])
def test_notifications_are_shown_unless_switched_off(busy: Snapshot, enabled: bool) -> None:
    actions = Actions(busy)
    app = TrayApp(actions.current, actions, notifications=enabled, config_file=None, log_file=None)
    rejected = Attention(AttentionKind.AUTH, "FLORA rejected the API key.", "run 'floradrop init'")

    def driver(icon: RecordingIcon) -> None:
        actions.set(dataclasses.replace(busy, attention=rejected))
        wait_for("attention", lambda: icon_state(icon) is TrayState.ATTENTION)
        if enabled:
            wait_for("the notification", lambda: icon.notes)
            assert icon.notes == [
                (
                    "API key rejected",
                    "FLORA rejected the API key.\nWhat to do: run 'floradrop init'",
                )
            ]

    run_with(app, driver)
    if not enabled:
        assert app._icon.notes == []


@pytest.mark.usefixtures("recording")
def test_quit_stops_the_engine_then_the_tray(busy: Snapshot) -> None:
    actions = Actions(busy)
    app = TrayApp(actions.current, actions, config_file=None, log_file=None, notifier=Notifier())
    stopped = threading.Event()

    def drive() -> None:
        icon = wait_for("the icon", lambda: app._icon)
        wait_for("the icon to show", icon.shown.is_set)
        item_named(icon.menu, "Quit floradrop")(icon)
        stopped.set()

    thread = threading.Thread(target=drive, name="test-driver")
    thread.start()
    app.run()  # returns because Quit stopped the tray, not because the test did
    thread.join(10)
    assert stopped.is_set()
    assert actions.calls == [("quit", None)]
    assert not app._icon.shown.is_set(), "the icon is hidden when the tray stops"


@pytest.mark.usefixtures("recording")
def test_stop_before_run_returns_at_once(busy: Snapshot) -> None:
    actions = Actions(busy)
    app = TrayApp(actions.current, actions, config_file=None, log_file=None)
    app.stop()
    app.run()
    assert app._icon is None


@pytest.mark.usefixtures("recording")
def test_a_failing_status_source_keeps_the_last_state(busy: Snapshot) -> None:
    actions = Actions(busy)
    broken = threading.Event()
    failures: list[int] = []

    def source() -> Snapshot:
        if broken.is_set():
            failures.append(1)
            raise OSError("journal locked")
        return actions.current()

    app = TrayApp(source, actions, config_file=None, log_file=None)

    def driver(icon: RecordingIcon) -> None:
        broken.set()
        actions.set(dataclasses.replace(busy, paused=True))
        wait_for("two failed polls", lambda: len(failures) >= 2)
        assert icon_state(icon) is TrayState.WORKING
        broken.clear()
        wait_for("paused", lambda: icon_state(icon) is TrayState.PAUSED)

    run_with(app, driver)


# -- backend choice ------------------------------------------------------------------------


def test_headless_and_dummy_mean_no_tray(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tray_available(headless=True) == (
        False,
        "headless mode (--headless, or headless = true under [daemon])",
    )
    from floradrop.config import parse_config

    assert parse_config({"daemon": {"headless": True}}).daemon.headless  # the key it names
    monkeypatch.setenv("DISPLAY", ":0")
    available, reason = tray_available(headless=False)
    assert not available and "dummy" in reason


def _probe(env: dict[str, str]) -> str:
    code = (
        "import sys; from floradrop.tray import tray_available; "
        "print(tray_available(False)); print('pystray' in sys.modules)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


@pytest.mark.skipif(sys.platform != "linux", reason="displays are an X11/Wayland matter")
def test_no_display_means_no_tray_and_no_pystray_import(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    assert _probe(env).splitlines() == [
        "(False, 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)')",
        "False",
    ]


@pytest.mark.skipif(sys.platform != "linux", reason="displays are an X11/Wayland matter")
def test_a_display_that_does_not_answer_means_no_tray(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DISPLAY": ":97", "NO_AT_BRIDGE": "1"}
    first = _probe(env).splitlines()[0]
    assert first.startswith("(False, 'the tray backend could not start (")


def test_importing_the_tray_package_needs_no_display(tmp_path: Path) -> None:
    code = "import sys, floradrop.tray, floradrop.tray.app; print('pystray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.strip() == "False"


def test_pystray_flags_decide_what_is_offered() -> None:
    def icon_class(module: str, **flags: bool) -> type:
        return type("Icon", (), {"__module__": f"pystray._{module}", **flags})

    xorg = backend_of(
        icon_class("xorg", HAS_MENU=False, HAS_NOTIFICATION=False, HAS_DEFAULT_ACTION=True)
    )
    assert str(xorg) == "xorg: no menu, no notifications"
    assert xorg.warning is not None and xorg.warning.startswith("menu-less tray (pystray xorg")
    assert "floradrop pause|resume|status" in xorg.warning
    gtk = backend_of(icon_class("gtk", HAS_MENU=True, HAS_NOTIFICATION=True))
    assert str(gtk) == "gtk" and gtk.warning is None
    quiet = backend_of(icon_class("darwin", HAS_MENU=True, HAS_NOTIFICATION=False))
    assert str(quiet) == "darwin: no notifications" and quiet.warning is None


def test_question_buttons_on_the_desktop_notification_approve_and_cancel(
    busy: Snapshot, tmp_path: Path
) -> None:
    """The buttons reach the desktop notifier with callbacks that do what the menu does (the
    D-Bus round trip itself is in test_desktop_buttons.py)."""
    from floradrop.tray.desktop import DesktopNotifications
    from floradrop.tray.menu import Action, MenuEntry
    from floradrop.tray.notify import Notification

    class Desktop(DesktopNotifications):
        def __init__(self) -> None:
            super().__init__()
            self.sent: list[tuple[str, list[tuple[str, Any]]]] = []

        def send(self, title: str, message: str, buttons: Any = (), **_: Any) -> bool:
            self.sent.append((title, list(buttons)))
            return True

    desktop = Desktop()
    actions = Actions(busy)
    app = TrayApp(actions.current, actions, desktop=desktop, config_file=None, log_file=None)
    where = tmp_path / "CCTV_Cam" / "inbox"
    app._notify(
        Notification(
            "Start 480 files in CCTV Cam for $24.00?",
            "Nothing is spent until you answer.",
            buttons=(
                MenuEntry("Start", Action.APPROVE, path=where),
                MenuEntry("Cancel", Action.CANCEL_HELD, path=where),
            ),
        )
    )
    ((title, buttons),) = desktop.sent
    assert title.endswith("?")
    assert [label for label, _ in buttons] == ["Start", "Cancel"]
    for _, press in buttons:
        press()
    assert actions.calls == [("approve", str(where)), ("cancel", str(where))]
