"""``floradrop status``: jobs per folder, spend today, paused or not, what needs attention.

Asks the running daemon for its live snapshot; when none runs, builds the same snapshot from
the journal (so it works either way). ``--json`` prints the snapshot as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from floradrop.cli._common import add_config_option


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def snapshot_json(config: Any, *, state_dir: Path | None = None) -> dict[str, Any]:
    """The running daemon's snapshot, else one built from the journal of ``config``.

    With ``state_dir`` (the config did not load), a daemon that runs there is asked, and
    ``config`` (then None) is needed only when none does."""
    from floradrop import control
    from floradrop.errors import DaemonNotRunningError
    from floradrop.instance import DaemonInfo
    from floradrop.journal import Journal
    from floradrop.snapshot import build_snapshot, journal_path

    state_dir = state_dir or config.daemon.state_dir
    try:
        reply = control.request(state_dir, control.STATUS)
        data: dict[str, Any] = reply["snapshot"]
        info = DaemonInfo.read(state_dir)
        data["daemon"] = {"pid": info.pid, "tray": info.tray} if info else None
        return data
    except DaemonNotRunningError:
        if config is None:
            raise
    journal = Journal(journal_path(config))
    try:
        data = build_snapshot(config, journal).to_json()
    finally:
        journal.close()
    data["daemon"] = None
    return data


def service_installed() -> bool | None:
    """Does any login entry (tray or headless) start floradrop? None where none is supported."""
    import contextlib

    from floradrop.service import all_backends

    with contextlib.suppress(Exception):  # a platform without login start: unknown
        return any(backend.is_installed() for backend in all_backends())
    return None


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
    money = data.get("money") or {}
    held = money.get("waiting_for_budget", data["held"])
    lines.append(
        f"  {data['running']} running, {data['queued']} queued, {held} waiting for budget, "
        f"{data['done_today']} done today, {data['failed_today']} failed today, "
        f"${data['spend_today_usd']:.2f} spent today"
        + (f", {data['scheduled']} held by schedule" if data.get("scheduled") else "")
    )
    lines.extend(_money_lines(money, data.get("questions") or []))
    attention = data.get("attention")
    if attention:
        lines.append(f"  ! {attention['message']}")
        if attention.get("hint"):
            lines.append(f"    What to do: {attention['hint']}")
    if data.get("config_problem"):
        lines.append("  ! the config file has errors; the daemon keeps its last good config:")
        lines.extend("    " + line for line in data["config_problem"].splitlines())
    if data.get("last_error"):
        lines.append(f"  last error: {data['last_error']}")
    if daemon and daemon.get("tray"):
        lines.append(f"  tray: {daemon['tray']}")
    if data.get("tray_warning"):
        lines.append(f"  ! {data['tray_warning']}")
    if not data["folders"]:
        lines.append("  no folders configured (run 'floradrop init')")
    flows_shown: set[tuple[str, ...]] = set()
    for folder in data["folders"]:
        flow = tuple(folder.get("flow") or ())
        if flow and flow not in flows_shown:
            flows_shown.add(flow)
            lines.append("  flow: " + " → ".join(flow) + _flow_counts(data["folders"], flow))
        step = f"step {flow.index(folder['name']) + 1} of {len(flow)}: " if flow else ""
        how = ["files hosted in [hosting]"] if folder.get("transfer") == "host" else []
        how += ["links run on their URL"] if folder.get("links") else []
        how += ["PAUSED on its own: resume it in the dashboard"] if folder.get("paused") else []
        shown = f" ({'; '.join(how)})" if how else ""  # uploading is the default: not said
        lines.append(f"  {step}{folder['name']}: {folder['path']} -> {folder['technique']}{shown}")
        window = folder.get("schedule")
        if window:
            state = "open" if window["open"] else f"closed, runs start {window['opens']}"
            held = f"; {window['held']} held by schedule" if window["held"] else ""
            lines.append(f"      schedule {window['window']} ({state}){held}")
        if folder.get("review") is not None:
            lines.append(f"      {folder['review']} waiting for review")
        counts = folder["counts"]
        parts = [f"{state} {counts[state]}" for state in _ORDER if counts.get(state)]
        if folder.get("progress"):
            parts.append("progress " + ", ".join(f"{p:.0f}%" for p in folder["progress"]))
        lines.append("      " + (" · ".join(parts) if parts else "no jobs yet"))
    if data.get("log_file"):
        lines.append(f"  log: {data['log_file']}")
    return "\n".join(lines)


def _flow_counts(folders: list[dict[str, Any]], flow: tuple[str, ...]) -> str:
    """A chain's work as one: in progress anywhere in it, finished by its last step."""
    steps = [f for f in folders if tuple(f.get("flow") or ()) == flow]
    busy = sum(f["counts"].get(s, 0) for f in steps for s in _ORDER if s not in _FINISHED)
    last = [f for f in steps if f["name"] == flow[-1]]
    done = sum(f["counts"].get("done", 0) for f in last)
    failed = sum(f["counts"].get("failed", 0) for f in steps)
    return f" ({busy} in progress, {done} through, {failed} failed)"


_FINISHED = frozenset({"done", "failed", "duplicate", "cancelled"})


def _money_lines(money: dict[str, Any], questions: list[dict[str, Any]]) -> list[str]:
    """Spend today / this week / this month, in total and per folder; money reserved; the
    big drops waiting for a go-ahead."""
    lines: list[str] = []
    for question in questions:
        lines.append(f"  ? {question['text']} ('floradrop approve' or 'floradrop cancel')")
    spend = money.get("spend")
    if not spend:
        return lines
    reserved = money.get("reserved", {})

    def line(key: str | None) -> str:
        def amount(period: str) -> float:
            part = spend[period]
            return float(part["total_usd"] if key is None else part["folders"].get(key, 0.0))

        held = reserved.get("total_usd", 0.0) if key is None else reserved["folders"].get(key, 0)
        text = (
            f"${amount('today'):.2f} today, ${amount('week'):.2f} this week, "
            f"${amount('month'):.2f} this month"
        )
        return text + (f", ${held:.2f} reserved by runs in flight" if held else "")

    lines.append("  spend: " + line(None))
    folders = spend["today"]["folders"]
    if len(folders) > 1:
        for name in folders:
            lines.append(f"      {name}: " + line(name))
    return lines


def run(args: argparse.Namespace) -> int:
    from floradrop.cli._daemon import locate
    from floradrop.errors import DaemonNotRunningError

    target = locate(args)
    try:
        data = snapshot_json(target.config, state_dir=target.state_dir)
    except DaemonNotRunningError:
        target.require_config()  # no daemon, and no config to read the journal with: say why
        raise
    if data.get("service_installed") is None:  # a headless daemon, or none running: look
        data["service_installed"] = service_installed()
    if target.problem is not None:  # the daemon keeps its last good config meanwhile
        data["config_problem"] = target.problem.describe()
    print(json.dumps(data, indent=2) if args.json else render(data))
    return 0
