"""``floradrop status``: jobs per folder, spend today, paused or not, what needs attention.

Asks the running daemon for its live snapshot; when none runs, builds the same snapshot from
the journal (so it works either way). ``--json`` prints the snapshot as JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from floradrop.cli._common import add_config_option, load


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def snapshot_json(config: Any) -> dict[str, Any]:
    from floradrop import control
    from floradrop.engine import build_snapshot, journal_path
    from floradrop.errors import DaemonNotRunningError
    from floradrop.instance import DaemonInfo
    from floradrop.journal import Journal

    try:
        reply = control.request(config.daemon.state_dir, "status")
        data: dict[str, Any] = reply["snapshot"]
        info = DaemonInfo.read(config.daemon.state_dir)
        data["daemon"] = {"pid": info.pid, "tray": info.tray} if info else None
        return data
    except DaemonNotRunningError:
        pass
    journal = Journal(journal_path(config))
    try:
        data = build_snapshot(config, journal).to_json()
    finally:
        journal.close()
    data["daemon"] = None
    return data


_ORDER = (
    "waiting",
    "held",
    "uploading",
    "submitting",
    "running",
    "fetching",
    "filing",
    "done",
    "failed",
    "duplicate",
    "cancelled",
)


def render(data: dict[str, Any]) -> str:
    lines: list[str] = []
    daemon = data.get("daemon")
    who = f"running (pid {daemon['pid']})" if daemon else "not running"
    lines.append(f"floradrop: {who}, {data['state']}{', PAUSED' if data['paused'] else ''}")
    lines.append(
        f"  {data['running']} running, {data['queued']} queued, {data['held']} waiting for budget, "
        f"{data['done_today']} done today, {data['failed_today']} failed today, "
        f"${data['spend_today_usd']:.2f} spent today"
    )
    attention = data.get("attention")
    if attention:
        lines.append(f"  ! {attention['message']}")
        if attention.get("hint"):
            lines.append(f"    What to do: {attention['hint']}")
    if data.get("last_error"):
        lines.append(f"  last error: {data['last_error']}")
    if daemon and daemon.get("tray"):
        lines.append(f"  tray: {daemon['tray']}")
    if data.get("tray_warning"):
        lines.append(f"  ! {data['tray_warning']}")
    if not data["folders"]:
        lines.append("  no folders configured (run 'floradrop init')")
    for folder in data["folders"]:
        how = ["files hosted in [hosting]"] if folder.get("transfer") == "host" else []
        how += ["links run on their URL"] if folder.get("links") else []
        shown = f" ({'; '.join(how)})" if how else ""  # uploading is the default: not said
        lines.append(f"  {folder['name']}: {folder['path']} -> {folder['technique']}{shown}")
        counts = folder["counts"]
        parts = [f"{state} {counts[state]}" for state in _ORDER if counts.get(state)]
        if folder.get("progress"):
            parts.append("progress " + ", ".join(f"{p:.0f}%" for p in folder["progress"]))
        lines.append("      " + (" · ".join(parts) if parts else "no jobs yet"))
    if data.get("log_file"):
        lines.append(f"  log: {data['log_file']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    config = load(args)
    data = snapshot_json(config)
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 0
