"""``floradrop pause|resume|reload|stop|ack``: control the running daemon (what the tray does).

They need only the daemon's state directory (its socket and journal), so they work while the
config file on disk is broken (see :mod:`floradrop.cli._daemon`). The paused flag and the
acknowledgement live in the journal, so ``pause``, ``resume`` and ``ack`` work whether or not
the daemon is running (and survive a restart); a running daemon is told at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from floradrop.cli._common import add_config_option
from floradrop.errors import ConfigError

_DESCRIPTIONS = {
    "pause": "Pause floradrop: no new uploads or runs start; runs already started are still "
    "polled and their outputs saved. Lasts until 'floradrop resume' (also across restarts).",
    "resume": "Resume after 'floradrop pause'. Also retries at once after a rejected key or "
    "exhausted credits were fixed.",
    "ack": "Acknowledge what went wrong: files that failed so far, and the last error, no longer "
    "put floradrop in 'needs attention' (the files and their reports stay in the failed "
    "folders). Problems still true, such as no connection or a rejected key, stay until fixed.",
}


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    if verb in _DESCRIPTIONS:
        parser.description = _DESCRIPTIONS[verb]


def run(args: argparse.Namespace) -> int:
    from floradrop import control
    from floradrop.cli._daemon import locate
    from floradrop.errors import DaemonNotRunningError

    target = locate(args)
    if args.verb in {"reload", "stop"}:
        return _daemon_only(target.state_dir, args.verb, target.problem)
    command = {"ack": control.ACKNOWLEDGE}.get(args.verb, args.verb)
    try:
        reply = control.request(target.state_dir, command)
        if not reply.get("ok"):
            print(reply.get("error"), file=sys.stderr)
            return int(reply.get("exit", 1))
        running = True
    except DaemonNotRunningError:
        _offline(target.state_dir, args.verb)
        running = False
    if args.verb == "ack":
        print(
            "Acknowledged: the failures so far and the last error no longer need attention "
            "(the failed files and their reports stay in the failed folders)."
        )
        return 0
    state = "paused" if args.verb == "pause" else "resumed"
    where = "" if running else " (the daemon is not running; it will start " + state + ")"
    print(f"floradrop {state}{where}.")
    return 0


def _offline(state_dir: Path, verb: str) -> None:
    """What the verb means for a daemon that is not running: a note in its journal."""
    from floradrop.acknowledge import acknowledge
    from floradrop.journal import Journal
    from floradrop.snapshot import JOURNAL_NAME

    journal = Journal(state_dir / JOURNAL_NAME)
    try:
        if verb == "ack":
            acknowledge(journal)
        else:
            journal.set_paused(verb == "pause")
    finally:
        journal.close()


def _daemon_only(state_dir: Path, verb: str, problem: ConfigError | None) -> int:
    from floradrop import control
    from floradrop.instance import DaemonInfo, is_running

    info = DaemonInfo.read(state_dir)
    reply = control.request(state_dir, control.QUIT if verb == "stop" else control.RELOAD)
    if not reply.get("ok"):
        print(reply.get("error"), file=sys.stderr)
        return int(reply.get("exit", 1))
    if verb == "reload":
        print("floradrop re-read its config.")
        return 0
    pid = info.pid if info else "?"
    deadline = time.monotonic() + 60
    while is_running(state_dir) and time.monotonic() < deadline:
        time.sleep(0.1)  # it finishes what it is writing, then lets go of its lock
    if is_running(state_dir):
        print(f"floradrop (pid {pid}) is still stopping.")
        return 1
    print(f"floradrop (pid {pid}) stopped; unfinished files resume at its next start.")
    if problem is not None:
        print(f"Note: fix the config file before the next start.\n{problem.describe()}")
    return 0
