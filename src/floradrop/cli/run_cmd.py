"""``floradrop run``: the daemon.

Holds the single-instance lock, serves the control channel, runs the engine in the background
and the tray (when there is one) on the main thread. SIGTERM, SIGINT, logout and the tray's
Quit all stop intake, let what is mid-write finish, and exit; unfinished jobs resume at the next
start. ``--once`` processes what is there and exits; ``--dry-run`` only shows what would happen.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floradrop import budget
from floradrop.cli._common import add_config_option, load, make_client

if TYPE_CHECKING:
    from floradrop.config import Config
    from floradrop.engine import Engine
    from floradrop.journal import Journal


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument("--headless", action="store_true", help="run without a tray icon")
    parser.add_argument(
        "--once",
        action="store_true",
        help="process the files already in the folders, wait for them, print a summary and exit "
        "(0 if every file succeeded)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what each file would do and cost; uploads nothing, changes nothing",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="with --once: print only the summary (the log file still has everything)",
    )
    parser.add_argument(
        "--json", action="store_true", help="with --once: print the summary as one JSON object"
    )


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


def run(args: argparse.Namespace) -> int:
    from floradrop import logs
    from floradrop.cli._once import progress_line
    from floradrop.errors import ExitCode

    config = load(args)
    line = progress_line(args)  # `--once` on a terminal: one line, not every log line
    log_file = logs.setup_logging(
        log_dir=config.daemon.log_dir,
        level="DEBUG" if args.verbose else config.daemon.log_level,
        foreground=not getattr(args, "quiet", False),
        stderr_level="WARNING" if line is not None and not args.verbose else None,
        stderr=line.write if line is not None else None,
    )
    args.progress_line = line
    if args.dry_run:
        return dry_run(config)
    from floradrop.instance import InstanceLock

    lock = InstanceLock(config.daemon.state_dir)
    lock.acquire()
    try:
        return _run_locked(args, config, lock, log_file)
    except KeyboardInterrupt:
        return int(ExitCode.INTERRUPTED)
    finally:
        lock.release()


def _run_locked(args: argparse.Namespace, config: Config, lock: Any, log_file: Path | None) -> int:
    from loguru import logger

    from floradrop import control
    from floradrop.config import ConfigWatcher
    from floradrop.engine import Engine
    from floradrop.errors import FloradropError
    from floradrop.flora.errors import NetworkError
    from floradrop.instance import new_info
    from floradrop.ui.daemon import start_dashboard

    stop = threading.Event()  # set by a signal, the tray's Quit or `floradrop stop`

    def client_factory() -> Any:
        return make_client(engine.config, sleep=stop.wait)

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
        engine.live.offline = True
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
                engine.apply_config(load(args))
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

    tray = None if args.once else _make_tray(args, config, engine, stop)
    engine.live.tray_warning = getattr(tray, "warning", None) if tray else None
    server = control.ControlServer(config.daemon.state_dir, handle)
    address = server.start()
    tray_label = "headless" if tray is None else f"tray ({tray.backend})"
    _install_signal_handlers(stop, tray)
    # [ui]: the local web dashboard (like the tray, not for a one-shot --once)
    dashboard = None if args.once else start_dashboard(config, engine, handle)
    lock.publish(new_info(config.source, address, tray_label))  # "up": status and pause work

    started = time.time()
    engine.start()
    sd_notify("READY=1")
    try:
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
        if dashboard is not None:
            dashboard.stop()
        server.stop()
        engine.stop()
        engine.client.close()
        engine.journal.close()


def _config_problem(engine: Engine, exc: Exception) -> None:
    from loguru import logger

    from floradrop.errors import FloradropError

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


def _make_tray(
    args: argparse.Namespace, config: Config, engine: Engine, stop: threading.Event
) -> Any:
    """The tray, or None (headless) with one log line saying why."""
    from loguru import logger

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

    class Actions:
        def pause(self) -> None:
            engine.pause()

        def resume(self) -> None:
            engine.resume()

        def reload_config(self) -> None:
            engine.apply_config(load(args))

        def acknowledge(self) -> None:
            engine.acknowledge()

        def quit(self) -> None:
            stop.set()
            tray_app.stop()

        def approve(self, folder: str) -> None:  # the big-drop question's Start
            engine.answer("approve", [folder])

        def cancel(self, folder: str) -> None:  # ... and its Cancel
            engine.answer("cancel", [folder])

        def open_dashboard(self) -> None:
            from floradrop.ui.launch import open_dashboard

            open_dashboard(config.daemon.state_dir)

        def set_start_at_login(self, enabled: bool) -> None:
            from floradrop.service import backend_for

            backend = backend_for(headless=False, config_file=config.source)
            if enabled:
                backend.install()
            else:
                backend.uninstall()
            engine.service_installed = backend.status().installed

    try:
        from floradrop.service import is_installed

        engine.service_installed = is_installed()
    except Exception:
        engine.service_installed = None
    tray_app = TrayApp(
        engine.snapshot,
        Actions(),
        notifications=config.daemon.notifications,
        config_file=config.source,
        log_file=engine.log_file,
        dashboard=config.ui.enabled,
    )

    def watch_stop() -> None:
        stop.wait()
        tray_app.stop()

    threading.Thread(target=watch_stop, name="floradrop-tray-stop", daemon=True).start()
    if tray_app.warning:
        logger.warning("{}", tray_app.warning)
    return tray_app


def dry_run(config: Config) -> int:
    """Show what every file in the folders would do and cost. Uploads nothing.

    The same decisions as the real run (:func:`floradrop.pipeline.verdict.judge`), then the
    budgets and the big-drop guard over the files that would run."""
    from floradrop import money
    from floradrop.engine import journal_path
    from floradrop.flora.errors import NotFoundError
    from floradrop.journal import Journal, today
    from floradrop.pipeline import bind
    from floradrop.pipeline.verdict import Outcome, admission, upload_problem

    client = make_client(config)
    journal = Journal(journal_path(config))
    techniques: dict[str, Any] = {}
    total = 0.0
    count = 0
    day = today()
    planned: dict[str | None, float] = {}  # budget scope -> cost of the runs planned so far
    try:
        for slug in bind.techniques_needed(config.folders):
            try:
                techniques[slug] = client.get_technique(slug)
            except NotFoundError:
                techniques[slug] = None
        for folder in config.folders:
            print(f"{folder.name} ({folder.path}):")
            if not folder.path.is_dir():
                print("  (folder does not exist yet)")
                continue
            files = sorted(folder.path.rglob("*") if folder.recursive else folder.path.iterdir())
            runs, folder_cost = 0, 0.0
            for path in files:
                if not path.is_file() or path.is_symlink():
                    continue
                rel = path.relative_to(folder.path)
                found = admission(
                    path,
                    folder,
                    techniques,
                    journal=journal,
                    duplicates=config.daemon.duplicates,
                )
                if found.outcome is Outcome.SKIP:
                    print(f"  {rel}: skipped ({found.reason})")
                    continue
                if found.outcome is Outcome.DUPLICATE:
                    print(f"  {rel}: duplicate, filed without a run ({found.reason})")
                    continue
                if found.outcome is Outcome.FAIL:
                    print(f"  {rel}: would fail before upload, nothing charged: {found.reason}")
                    continue
                limits = money.limits(config, str(folder.path))
                usages = [(limit, _planned_usage(journal, day, limit, planned)) for limit in limits]
                hold = budget.first_hold(found.cost, usages)
                if hold is not None:
                    which = f"{hold.limit.label} ${hold.limit.limit_usd:.2f}"
                    print(f"  {rel}: would wait for budget ({which})")
                    continue
                assert found.rule is not None
                problem = upload_problem(path, found.rule, techniques[found.rule.technique])
                if problem is not None:
                    print(f"  {rel}: would fail before upload, nothing charged: {problem}")
                    continue
                for limit in limits:
                    planned[limit.folder] = planned.get(limit.folder, 0.0) + found.cost
                runs += 1
                folder_cost += found.cost
                print(f"  {rel}: {found.technique} -> {folder.outputs} (${found.cost:.2f})")
            d = config.daemon
            if runs > d.confirm_above_files or folder_cost > d.confirm_above_usd + 1e-9:
                print(
                    f"  (a big drop: the real run asks first: 'Start {runs} files in "
                    f"{folder.name} for ${folder_cost:.2f}?')"
                )
            total += folder_cost
            count += runs
    finally:
        client.close()
        journal.close()
    print(f"{count} file(s) would run, ${total:.2f} in all. Nothing was uploaded.")
    return 0


def _planned_usage(
    journal: Journal, day: str, limit: budget.Limit, planned: dict[str | None, float]
) -> budget.Usage:
    """The journal's spend and reservations, plus the runs this dry run already planned."""
    usage = journal.usage(day, limit)
    return budget.Usage(usage.spent, usage.reserved + planned.get(limit.folder, 0.0))
