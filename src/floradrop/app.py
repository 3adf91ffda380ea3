"""The composition root of the daemon: what ``floradrop run`` puts together, and in which order.

The journal and the FLORA client, the engine over them, the config file watcher, the control
channel (``status``, ``pause``, ``retry`` … from other processes), the tray's actions, the
dashboard, ``sd_notify`` and the signal handlers. Nothing else creates these; the engine only
runs what it is given.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from floradrop import control
from floradrop.cli._common import load, make_client
from floradrop.config import Config, ConfigWatcher
from floradrop.engine import Engine
from floradrop.errors import FloradropError
from floradrop.flora.client import FloraClient
from floradrop.flora.errors import NetworkError
from floradrop.instance import InstanceLock, new_info
from floradrop.ui.daemon import start_dashboard


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about readiness/stopping, when run under it."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or os.name != "posix":
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        pass


def run_daemon(
    args: argparse.Namespace, config: Config, lock: InstanceLock, log_file: Path | None
) -> int:
    """Wire everything, run until stopped (or, with ``--once``, until idle), take it down."""
    stop = threading.Event()  # set by a signal, the tray's Quit or `floradrop stop`

    def client_factory() -> FloraClient:
        client: FloraClient = make_client(engine.config, sleep=stop.wait)
        return client

    engine = Engine(
        config,
        client=make_client(config, sleep=stop.wait),  # no retry wait outlives a stop
        client_factory=client_factory,
        log_file=log_file,
    )
    try:
        engine.connect()
    except NetworkError as exc:
        logger.warning("FLORA cannot be reached ({}); starting offline, will retry", exc.brief)
        engine.health.went_offline(exc, say=False)
    except BaseException:  # e.g. a technique that does not exist: exit 3, nothing left open
        engine.client.close()
        engine.journal.close()
        raise
    if config.source is not None:
        watcher = ConfigWatcher(
            config.source,
            engine.apply_config,
            lambda exc: _config_problem(engine, exc),
            current=config,
        )
        engine.set_config_check(watcher.check)

    def reload() -> None:
        engine.apply_config(load(args))

    handle = control_handler(engine, stop, reload)
    tray = None if args.once else make_tray(args, config, engine, stop, reload)
    engine.live.tray_warning = getattr(tray, "warning", None) if tray else None
    server = control.ControlServer(config.daemon.state_dir, handle)
    address = server.start()
    dashboard = None
    try:  # (from here on, whatever fails, everything started is stopped again)
        tray_label = "headless" if tray is None else f"tray ({tray.backend})"
        _install_signal_handlers(stop, tray)
        # [ui]: the local web dashboard (like the tray, not for a one-shot --once)
        dashboard = None if args.once else start_dashboard(config, engine, handle)
        lock.publish(new_info(config.source, address, tray_label))  # "up": status, pause work
        started = time.time()
        engine.start()
        sd_notify("READY=1")
        if args.once:
            from floradrop.cli import _once

            _once.wait(engine, stop, args.progress_line, getattr(args, "quiet", False))
            result = _once.summary(engine, started, stop.is_set())
            return _once.report(result, as_json=getattr(args, "json", False))
        if tray is not None:
            tray.run()  # owns the main thread until Quit / stop()
        else:
            while not stop.wait(0.5):
                pass
        return 0
    finally:
        sd_notify("STOPPING=1")
        logger.info("stopping ...")
        stop.set()  # (the tray's stop watcher ends too, after a start that failed)
        if dashboard is not None:
            dashboard.stop()
        server.stop()
        engine.stop()
        engine.client.close()
        engine.journal.close()


def control_handler(
    engine: Engine, stop: threading.Event, reload: Callable[[], None]
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The control channel's requests (CLI verbs, the dashboard), answered by the engine."""

    def handle(request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("command")
        try:
            if command == control.STATUS:
                return {"ok": True, "snapshot": engine.snapshot().to_json()}
            if command in (control.PAUSE, control.RESUME) and request.get("folder"):  # one
                engine.journal.set_folder_paused(str(request["folder"]), command == control.PAUSE)
            elif command == control.PAUSE:
                engine.pause()
            elif command == control.RESUME:
                engine.resume()
            elif command == control.RELOAD:
                reload()
            elif command == control.RETRY:
                return {"ok": True, "message": engine.retry(Path(request["path"]))}
            elif command in (control.APPROVE, control.CANCEL):
                answer = engine.answer(command, [str(t) for t in request.get("targets", [])])
                return {"ok": True, "count": answer.jobs, "message": answer.message}
            elif command == control.ACKNOWLEDGE:
                engine.acknowledge()
            elif command == control.QUIT:
                stop.set()
            else:
                return {"ok": False, "error": f"unknown command {command!r}", "exit": 2}
        except FloradropError as exc:
            return {"ok": False, "error": exc.describe(), "exit": int(exc.exit_code)}
        return {"ok": True}

    return handle


def _config_problem(engine: Engine, exc: Exception) -> None:
    message = exc.describe() if isinstance(exc, FloradropError) else str(exc)
    engine.live.config_problem = "the edited config has errors; the last good one is in use"
    logger.error("{}", message)


def _install_signal_handlers(stop: threading.Event, tray: Any) -> None:
    def on_signal(signum: int, _frame: object) -> None:
        stop.set()
        if tray is not None:
            tray.stop()

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), on_signal)


class TrayActions:
    """What the tray's menu does (``floradrop.tray.menu`` calls these)."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        stop: threading.Event,
        reload: Callable[[], None],
    ) -> None:
        self.engine = engine
        self.config = config
        self.stop = stop
        self.reload = reload
        self.tray: Any = None  # set once the tray exists

    def pause(self) -> None:
        self.engine.pause()

    def resume(self) -> None:
        self.engine.resume()

    def reload_config(self) -> None:
        self.reload()

    def acknowledge(self) -> None:
        self.engine.acknowledge()

    def quit(self) -> None:
        self.stop.set()
        if self.tray is not None:
            self.tray.stop()

    def approve(self, folder: str) -> None:  # the big-drop question's Start
        self.engine.answer("approve", [folder])

    def cancel(self, folder: str) -> None:  # ... and its Cancel
        self.engine.answer("cancel", [folder])

    def open_dashboard(self) -> None:
        from floradrop.ui.launch import open_dashboard

        open_dashboard(self.config.daemon.state_dir)

    def set_start_at_login(self, enabled: bool) -> None:
        from floradrop.service import backend_for

        backend = backend_for(headless=False, config_file=self.config.source)
        if enabled:
            backend.install()
        else:
            backend.uninstall()
        self.engine.service_installed = backend.status().installed


def make_tray(
    args: argparse.Namespace,
    config: Config,
    engine: Engine,
    stop: threading.Event,
    reload: Callable[[], None],
) -> Any:
    """The tray, or None (headless) with one log line saying why."""
    headless = args.headless or config.daemon.headless
    try:
        from floradrop.tray import TrayApp, tray_available
    except ImportError:  # the tray package is not built (yet)
        logger.info("running without a tray icon: the tray is not available in this build")
        return None
    available, reason = tray_available(headless)
    if not available:
        logger.info("running without a tray icon: {}", reason)
        return None
    try:
        from floradrop.service import is_installed

        engine.service_installed = is_installed()
    except Exception:
        engine.service_installed = None
    actions = TrayActions(engine, config, stop, reload)
    tray_app = TrayApp(
        engine.snapshot,
        actions,
        notifications=config.daemon.notifications,
        config_file=config.source,
        log_file=engine.log_file,
        dashboard=config.ui.enabled,
    )
    actions.tray = tray_app

    def watch_stop() -> None:
        stop.wait()
        tray_app.stop()

    threading.Thread(target=watch_stop, name="floradrop-tray-stop", daemon=True).start()
    if tray_app.warning:
        logger.warning("{}", tray_app.warning)
    return tray_app
