"""``floradrop pause`` / ``floradrop resume``: control the running daemon.

The paused flag lives in the journal, so it works whether or not the daemon is running (and
survives a restart); a running daemon is told at once through the control channel.
"""

from __future__ import annotations

import argparse

from floradrop.cli._common import add_config_option, load


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
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
