"""Run the tray alone over a scripted status, without the engine: for looking at it and for tests.

    python tests/tray/scripted_tray.py                  # cycles through the states every 3 s
    python tests/tray/scripted_tray.py --snapshot S.json --actions A.jsonl

A test harness (test_tray_demo_e2e.py starts it), not a part of the product.

With ``--snapshot`` the status is read from a JSON file in the shape of
``floradrop status --json`` whenever it changes; the menu's Pause/Resume and "Start at login"
change the shown status as the daemon would, and every action is appended to ``--actions`` as
one JSON line. Quit stops the tray and exits 0.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from floradrop.status import Attention, AttentionKind, FolderStatus, RecentItem, Snapshot


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    """The inverse of :meth:`Snapshot.to_json` (the state is derived, so it is not read)."""

    def recent(items: list[dict[str, Any]]) -> tuple[RecentItem, ...]:
        return tuple(RecentItem(Path(i["path"]), i["label"], float(i["at"])) for i in items)

    attention = data.get("attention")
    return Snapshot(
        paused=bool(data.get("paused", False)),
        daemon_running=bool(data.get("daemon_running", True)),
        folders=tuple(
            FolderStatus(
                name=f["name"],
                path=Path(f["path"]),
                outputs=Path(f["outputs"]),
                done=Path(f["done"]),
                failed=Path(f["failed"]),
                technique=f.get("technique", ""),
                counts={k: int(v) for k, v in f.get("counts", {}).items() if v},
                progress=tuple(f.get("progress", ())),
            )
            for f in data.get("folders", ())
        ),
        running=int(data.get("running", 0)),
        queued=int(data.get("queued", 0)),
        held=int(data.get("held", 0)),
        done_today=int(data.get("done_today", 0)),
        failed_today=int(data.get("failed_today", 0)),
        spend_today_usd=float(data.get("spend_today_usd", 0.0)),
        offline=bool(data.get("offline", False)),
        attention=None
        if not attention
        else Attention(AttentionKind(attention["kind"]), attention["message"], attention["hint"]),
        recent_results=recent(data.get("recent_results", [])),
        recent_failures=recent(data.get("recent_failures", [])),
        last_error=data.get("last_error"),
        tray_warning=data.get("tray_warning"),
        config_file=Path(data["config_file"]) if data.get("config_file") else None,
        log_file=Path(data["log_file"]) if data.get("log_file") else None,
        service_installed=data.get("service_installed"),
    )


class FileSource:
    """Snapshots from a JSON file, re-read when its modification time or size changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._snapshot = Snapshot(daemon_running=True)

    def __call__(self) -> Snapshot:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return self._snapshot
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._snapshot = snapshot_from_json(json.loads(self.path.read_text("utf-8")))
            self._stamp = stamp
        return self._snapshot


def _cycle() -> Iterator[Snapshot]:
    working = Snapshot(
        daemon_running=True, running=2, queued=1, done_today=12, spend_today_usd=0.48
    )
    yield from itertools.cycle(
        [
            Snapshot(daemon_running=True, done_today=12, spend_today_usd=0.48),
            working,
            dataclasses.replace(working, paused=True),
            dataclasses.replace(
                working,
                attention=Attention(
                    AttentionKind.AUTH, "FLORA rejected the API key.", "run 'floradrop init'"
                ),
            ),
        ]
    )


class CycleSource:
    def __init__(self, period: float) -> None:
        self._states = _cycle()
        self._period = period
        self._next = 0.0
        self._snapshot = Snapshot()

    def __call__(self) -> Snapshot:
        now = time.monotonic()
        if now >= self._next:
            self._snapshot = next(self._states)
            self._next = now + self._period
        return self._snapshot


class DemoActions:
    """Acts like the daemon would on the shown status, and records every call."""

    def __init__(self, record: Path | None) -> None:
        self.record = record
        self.paused: bool | None = None
        self.service_installed: bool | None = None
        self._lock = threading.Lock()

    def _log(self, action: str, **args: Any) -> None:
        if self.record is not None:
            with self._lock, self.record.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"action": action, **args}) + "\n")

    def pause(self) -> None:
        self.paused = True
        self._log("pause")

    def resume(self) -> None:
        self.paused = False
        self._log("resume")

    def reload_config(self) -> None:
        self._log("reload_config")

    def acknowledge(self) -> None:
        self._log("acknowledge")

    def quit(self) -> None:
        self._log("quit")

    def open_dashboard(self) -> None:
        self._log("open_dashboard")

    def approve(self, folder: str) -> None:
        self._log("approve", folder=folder)

    def cancel(self, folder: str) -> None:
        self._log("cancel", folder=folder)

    def set_start_at_login(self, enabled: bool) -> None:
        self.service_installed = enabled
        self._log("start_at_login", enabled=enabled)

    def apply(self, snapshot: Snapshot) -> Snapshot:
        changes: dict[str, Any] = {}
        if self.paused is not None:
            changes["paused"] = self.paused
        if self.service_installed is not None and snapshot.service_installed is not None:
            changes["service_installed"] = self.service_installed
        return dataclasses.replace(snapshot, **changes) if changes else snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/tray/scripted_tray.py", description=__doc__)
    parser.add_argument("--snapshot", type=Path, help="JSON status file to show (re-read live)")
    parser.add_argument("--actions", type=Path, help="append chosen actions here (JSON lines)")
    parser.add_argument("--period", type=float, default=3.0, help="seconds per state (cycling)")
    parser.add_argument("--no-notifications", action="store_true")
    args = parser.parse_args(argv)

    from loguru import logger

    from floradrop.logs import setup_logging
    from floradrop.tray import TrayApp, tray_available

    setup_logging(log_dir=None, foreground=True)
    available, reason = tray_available(headless=False)
    if not available:
        print(f"no tray: {reason}", file=sys.stderr)
        return 1
    source = FileSource(args.snapshot) if args.snapshot else CycleSource(args.period)
    actions = DemoActions(args.actions)
    app = TrayApp(
        lambda: actions.apply(source()),
        actions,
        notifications=not args.no_notifications,
        config_file=None,
        log_file=None,
    )
    print(f"tray: {reason}", file=sys.stderr, flush=True)
    if app.warning:
        logger.warning("tray: {}", app.warning)
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
