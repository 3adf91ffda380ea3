"""Open a file or folder with the platform's own opener: xdg-open, open, os.startfile.

Never through a shell. Starting the opener can fail (the path is gone, no opener installed):
that raises a :class:`FloradropError`. The opener itself may fail later (no application for
the file type): that is logged with what it printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

from loguru import logger

from floradrop.errors import FloradropError

_MAX_DETAIL = 2000


def opener_command() -> list[str] | None:
    """The command that opens a path here (None on Windows, which uses ``os.startfile``)."""
    if sys.platform == "win32":
        return None
    if sys.platform == "darwin":
        return ["open"]
    return ["xdg-open"]


def open_path(path: Path) -> None:
    """Open ``path`` in the file manager or its default application, without waiting."""
    if not path.exists():
        logger.warning("cannot open {}: it does not exist", path)
        raise FloradropError(
            f"{path} does not exist.",
            hint="it may have been moved or deleted; check the folder in your file manager",
            title="Cannot open",
        )
    command = opener_command()
    if command is None:  # pragma: no cover - Windows only
        try:
            os.startfile(path)  # type: ignore[attr-defined,unused-ignore]  # noqa: S606
        except OSError as exc:
            logger.warning("cannot open {}: {}", path, exc)
            raise FloradropError(
                f"Windows could not open {path} ({exc}).",
                hint="check which application opens this kind of file",
                title="Cannot open",
            ) from exc
        return
    executable = shutil.which(command[0])
    if executable is None:
        logger.warning("cannot open {}: {} is not installed", path, command[0])
        raise FloradropError(
            f"cannot open {path}: '{command[0]}' is not installed.",
            hint="install xdg-utils (Debian/Ubuntu: apt install xdg-utils), "
            "or open the path yourself",
            title="Cannot open",
        )
    argv = [executable, *command[1:], str(path)]
    # What the opener prints goes to an unlinked temporary file, not a pipe: the application it
    # starts inherits it, and a pipe nobody reads any more would block that application.
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _reap
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,  # the opened application outlives a stopped daemon
        )
    except OSError as exc:
        errors.close()
        logger.warning("cannot open {}: {} failed to start ({})", path, command[0], exc)
        raise FloradropError(
            f"cannot open {path}: '{command[0]}' failed to start ({exc}).",
            hint="open the path yourself",
            title="Cannot open",
        ) from exc
    logger.debug("opening {} with {}", path, command[0])
    threading.Thread(
        target=_reap, args=(process, errors, path, command[0]), name="floradrop-opener", daemon=True
    ).start()


def _reap(process: subprocess.Popen[bytes], errors: IO[bytes], path: Path, name: str) -> None:
    """Wait for the opener and log its failure, so that errors are never lost.

    Some openers wait until the application closes; this thread waits with them.
    """
    with errors:
        returncode = process.wait()
        if not returncode:
            return
        errors.seek(0)
        detail = errors.read(_MAX_DETAIL).decode("utf-8", "replace").strip()
        logger.warning(
            "{} could not open {} (exit code {}){}",
            name,
            path,
            returncode,
            f": {detail}" if detail else "",
        )
