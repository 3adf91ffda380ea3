"""One error vocabulary for all of floradrop.

Every error a person may see is a :class:`FloradropError` with a short title, a message that
says what happened, and a hint that says what to do. Foreign exceptions (httpx, OSError,
sqlite3) are converted at the boundary where they happen; the CLI maps error kinds to exit
codes in one place (:data:`EXIT_CODES`), modelled on pip's ``exceptions/_base.py``.

Errors are split by what the daemon does with them:

* :class:`JobError`: this one file cannot be processed (it goes to the failed folder);
* :class:`TransientError`: try again later, the job stays queued;
* :class:`FatalError`: stop doing work and tell the person (bad key, no credits, bad config).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of the ``floradrop`` command (documented in the README)."""

    OK = 0
    FAILURE = 1  # the command ran, but some work failed (e.g. ``run --once`` with failed files)
    USAGE = 2  # bad command line (argparse uses 2 as well)
    CONFIG = 3  # the configuration file is missing or invalid
    AUTH = 4  # the API key is missing, rejected or out of credits
    UNAVAILABLE = 5  # the API or a local daemon could not be reached
    ALREADY_RUNNING = 6  # another daemon already runs on this config/state dir
    INTERRUPTED = 130  # stopped by Ctrl-C


class FloradropError(Exception):
    """Base of every error floradrop reports to a person."""

    title: str = "floradrop error"
    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message

    @property
    def brief(self) -> str:
        """The message without its closing period, for use inside another sentence
        ("FLORA cannot be reached (…refused); …", never "…refused).);")."""
        return self.message.rstrip().rstrip(".")

    def describe(self) -> str:
        """The full text for a person: what happened, then what to do."""
        text = f"{self.title}: {self.message}"
        if self.hint:
            text += f"\nWhat to do: {self.hint}"
        return text


class ConfigError(FloradropError):
    """The configuration is missing or invalid. Names the file, the key path and the fix."""

    title = "Configuration error"
    exit_code = ExitCode.CONFIG


class FatalError(FloradropError):
    """Work cannot go on until a person acts (the tray and status show it)."""

    title = "floradrop stopped working"
    # Out of credits (rather than a key or access problem): only a run can tell when they are
    # back, so the daemon lets one job try now and then (floradrop.health).
    credits = False


class TransientError(FloradropError):
    """Something that should work if tried again later; the job stays queued."""

    title = "Temporary problem"
    exit_code = ExitCode.UNAVAILABLE
    # The service cannot be reached at all (rather than one request failing): work pauses
    # until a probe gets through (floradrop.health).
    offline = False


class JobError(FloradropError):
    """This one file cannot be processed; it goes to the failed folder with a report."""

    title = "This file could not be processed"

    def report(self) -> tuple[str, str, str | None, str | None]:
        """What the failed folder's report says: (message, hint, FLORA's error code, FLORA's
        own message)."""
        return self.message, self.hint or "", getattr(self, "code", None), None


class Interrupted(Exception):  # noqa: N818 - a signal for the engine, never shown as an error
    """A transfer abandoned because floradrop is stopping (the job resumes at next start)."""


class AlreadyRunningError(FloradropError):
    title = "floradrop is already running"
    exit_code = ExitCode.ALREADY_RUNNING


class DaemonNotRunningError(FloradropError):
    title = "floradrop is not running"
    exit_code = ExitCode.UNAVAILABLE
