"""``floradrop approve`` / ``floradrop cancel``: answer the big-drop guard, cancel queued files.

Both go through the running daemon's control channel (commands ``approve`` and ``cancel``, with
``targets``: job ids, file paths or folders), the same commands the tray and the dashboard
use; with no daemon running they act on the journal directly.
"""

from __future__ import annotations

import argparse
from typing import Any

from floradrop.cli._common import add_config_option, load


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    if verb == "approve":
        parser.description = (
            "Start the files held by the big-drop guard ('Start 480 files in CCTV Cam for "
            "$24.00?'; see confirm_above_files / confirm_above_usd). With no argument, every "
            "held big drop starts; name a folder (its name or path), files or job ids to start "
            "only those."
        )
        what = "a watched folder (name or path), a held file, or a job id; default: all"
        parser.add_argument("targets", nargs="*", metavar="FOLDER|PATH|JOB", help=what)
    else:
        parser.description = (
            "Cancel files whose run has not been created yet (queued, held, uploading): each "
            "original goes to the failed folder with a report saying it was cancelled, and "
            "nothing is charged. 'floradrop retry PATH' brings one back. With no argument, "
            "cancels the big drops held for your go-ahead."
        )
        what = "a queued or held file, a job id (see 'floradrop status'), or a watched folder"
        parser.add_argument("targets", nargs="*", metavar="PATH|JOB|FOLDER", help=what)


def _target(text: str) -> str:
    from pathlib import Path

    if text.isdigit():
        return text
    path = Path(text).expanduser()
    return str(path.absolute()) if (path.exists() or "/" in text or "\\" in text) else text


def run(args: argparse.Namespace) -> int:
    from floradrop import control, money
    from floradrop.errors import DaemonNotRunningError
    from floradrop.journal import Journal
    from floradrop.snapshot import journal_path

    config = load(args)
    targets = [_target(t) for t in args.targets]
    reply: dict[str, Any]
    try:
        reply = control.request(config.daemon.state_dir, args.verb, targets=targets)
        if not reply.get("ok"):
            print(f"floradrop: {reply.get('error')}")
            return 1
    except DaemonNotRunningError:
        journal = Journal(journal_path(config))
        try:
            act = money.approve if args.verb == "approve" else money.cancel
            answer = act(journal, config, targets)
        finally:
            journal.close()
        reply = {"count": answer.jobs, "message": answer.message + " (the daemon is not running)"}
    print(reply["message"])
    return 0 if reply["count"] or not targets else 1
