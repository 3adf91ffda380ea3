"""``floradrop pause|resume|reload|stop``: control the running daemon (what the tray does).

The paused flag lives in the journal, so it works whether or not the daemon is running (and
survives a restart); a running daemon is told at once through the control channel.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING

from floradrop.cli._common import add_config_option, load

if TYPE_CHECKING:
    from floradrop.config import Config


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    if verb in {"reload", "stop"}:
        return
    if verb == "pause":
        parser.description = (
            "Pause floradrop: no new uploads or runs start; runs already started are still "
            "polled and their outputs saved. Lasts until 'floradrop resume' (also across restarts)."
        )
    else:
        parser.description = (
            "Resume after 'floradrop pause'. Also retries at once after a rejected key or "
            "exhausted credits were fixed."
        )


def run(args: argparse.Namespace) -> int:
    from floradrop import control
    from floradrop.engine import journal_path
    from floradrop.errors import DaemonNotRunningError
    from floradrop.journal import Journal

    config = load(args)
    if args.verb in {"reload", "stop"}:
        return _daemon_only(config, args.verb)
    paused = args.verb == "pause"
    try:
        reply = control.request(config.daemon.state_dir, args.verb)
        if not reply.get("ok"):
            print(f"floradrop: {reply.get('error')}")
            return 1
        running = True
    except DaemonNotRunningError:
        journal = Journal(journal_path(config))
        try:
            journal.set_paused(paused)
        finally:
            journal.close()
        running = False
    state = "paused" if paused else "resumed"
    where = "" if running else " (the daemon is not running; it will start " + state + ")"
    print(f"floradrop {state}{where}.")
    return 0


def _daemon_only(config: Config, verb: str) -> int:
    from floradrop import control
    from floradrop.instance import DaemonInfo

    info = DaemonInfo.read(config.daemon.state_dir)
    reply = control.request(config.daemon.state_dir, "quit" if verb == "stop" else verb)
    if not reply.get("ok"):
        print(f"floradrop: {reply.get('error')}")
        return 1
    if verb == "stop":
        from floradrop.instance import is_running

        pid = info.pid if info else "?"
        deadline = time.monotonic() + 60
        while is_running(config.daemon.state_dir) and time.monotonic() < deadline:
            time.sleep(0.1)  # it finishes what it is writing, then lets go of its lock
        if is_running(config.daemon.state_dir):
            print(f"floradrop (pid {pid}) is still stopping.")
            return 1
        print(f"floradrop (pid {pid}) stopped; unfinished files resume at its next start.")
    else:
        print("floradrop re-read its config.")
    return 0
