"""``floradrop retry PATH``: run a file again on purpose (a new, paid run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from floradrop.cli._common import add_config_option, load


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a file in a failed or done folder (moved back into its inbox), or in a watched "
        "folder; each starts a NEW run, charged again",
    )


def run(args: argparse.Namespace) -> int:
    from floradrop import control
    from floradrop.errors import DaemonNotRunningError
    from floradrop.journal import Journal
    from floradrop.retry import request_retry
    from floradrop.snapshot import journal_path

    config = load(args)
    for path in args.paths:
        try:
            reply = control.request(config.daemon.state_dir, "retry", path=str(path.absolute()))
            if not reply.get("ok"):
                print(reply.get("error"), file=sys.stderr)
                return int(reply.get("exit", 1))
            print(reply["message"])
        except DaemonNotRunningError:
            journal = Journal(journal_path(config))
            try:
                print(request_retry(config, journal, path), "It runs at the next 'floradrop run'.")
            finally:
                journal.close()
    return 0
