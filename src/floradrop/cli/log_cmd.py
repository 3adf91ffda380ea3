"""``floradrop log [-n N] [-f]``: the daemon's log (the file in ``[daemon] log_dir``).

Prints the last lines; ``-f`` keeps printing what is added, across the log's rotation, until
interrupted. (For what happened to a file, ``floradrop history`` reads the journal.)
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections import deque
from pathlib import Path
from typing import TextIO

from floradrop.cli._common import add_config_option, load

_FOLLOW_INTERVAL = 0.5


def configure(parser: argparse.ArgumentParser, verb: str) -> None:
    add_config_option(parser)
    parser.add_argument(
        "-n", "--lines", type=int, default=50, metavar="N", help="the last N lines (default 50)"
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until Ctrl-C"
    )


def tail(path: Path, lines: int) -> tuple[list[str], int]:
    """The last ``lines`` lines of ``path`` and the offset after them."""
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        last = deque(handle, maxlen=max(0, lines))
        return list(last), handle.tell()


def follow(path: Path, offset: int, stop: threading.Event, out: TextIO | None = None) -> None:
    """Print what is appended to ``path`` from ``offset``; a rotated log is read from its start."""
    out = out or sys.stdout
    inode = path.stat().st_ino
    while not stop.wait(_FOLLOW_INTERVAL):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_ino != inode or stat.st_size < offset:  # rotated or truncated
            inode, offset = stat.st_ino, 0
        if stat.st_size == offset:
            continue
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            handle.seek(offset)
            out.write(handle.read())
            out.flush()
            offset = handle.tell()


def run(args: argparse.Namespace) -> int:
    from floradrop.logs import LOG_FILE_NAME

    config = load(args)
    path = config.daemon.log_dir / LOG_FILE_NAME
    if not path.exists():
        print(f"floradrop: no log yet at {path} (the daemon writes it when it runs).")
        return 1
    lines, offset = tail(path, args.lines)
    sys.stdout.writelines(lines)
    sys.stdout.flush()
    if args.follow:
        try:
            follow(path, offset, threading.Event())
        except KeyboardInterrupt:
            return 0
    return 0
