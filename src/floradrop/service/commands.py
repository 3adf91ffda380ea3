"""Running ``systemctl`` and ``launchctl``: captured, never swallowed.

Every service-manager command goes through a :class:`CommandRunner` (``subprocess.run`` in
production, a scripted fake in tests). A runner only reports what happened; :func:`check`
turns a failure into a :class:`ServiceCommandError` that shows the command, its exit code and
its own error text verbatim, plus what that usually means. The explanations of the service
managers' error messages live here and only here.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from floradrop.errors import FloradropError

COMMAND_TIMEOUT = 120.0  # `systemctl enable --now` waits for the daemon to report ready

NO_USER_MANAGER_HINT = (
    "'systemctl --user' could not reach your systemd user manager. That happens where no "
    "systemd login session exists (containers, WSL without systemd, shells entered with su or "
    "sudo -u, which lack XDG_RUNTIME_DIR). Run this command from your own login session "
    "(desktop or ssh), or use the tray entry instead ('floradrop service install' without "
    "--headless), or start 'floradrop run --headless' from the init system you use."
)


class ServiceError(FloradropError):
    """Installing, removing or inspecting the login service failed."""

    title = "Login service error"


class ServiceCommandError(ServiceError):
    """A service-manager command failed; carries its exit code and output verbatim."""

    def __init__(self, result: CommandResult, *, hint: str | None = None) -> None:
        output = (result.stderr.strip() or result.stdout.strip()) or "(no output)"
        super().__init__(
            f"'{result.display}' failed with exit code {result.returncode}:\n  {output}",
            hint=hint,
        )
        self.result = result


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def display(self) -> str:
        return shlex.join(self.argv)

    @property
    def output(self) -> str:
        """What the command said, for a person: its stderr, else its stdout."""
        return self.stderr.strip() or self.stdout.strip()


class CommandRunner(Protocol):
    def __call__(self, argv: Sequence[str]) -> CommandResult: ...


def run_command(argv: Sequence[str]) -> CommandResult:
    """The production runner: run ``argv`` (no shell), capture its output, never raise on exit.

    A missing program or a hung command raises :class:`ServiceError`: there is no result then.
    """
    args = tuple(argv)
    try:
        done = subprocess.run(
            args,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ServiceError(
            f"'{args[0]}' was not found, so '{shlex.join(args)}' could not run.",
            hint=missing_program_hint(args[0]),
        ) from None
    except subprocess.TimeoutExpired:
        raise ServiceError(
            f"'{shlex.join(args)}' did not finish within {COMMAND_TIMEOUT:.0f} seconds.",
            hint="look at the service's log (see 'floradrop service status') and try again",
        ) from None
    return CommandResult(args, done.returncode, done.stdout, done.stderr)


def check(result: CommandResult) -> CommandResult:
    """Return ``result`` if the command succeeded, else raise :class:`ServiceCommandError`."""
    if not result.ok:
        raise ServiceCommandError(result, hint=explain(result))
    return result


def is_no_user_manager(result: CommandResult) -> bool:
    """True when ``systemctl --user`` failed because no user manager could be reached."""
    text = result.output
    return result.argv[:1] == ("systemctl",) and (
        "Failed to connect to bus" in text or "Failed to connect to user scope bus" in text
    )


def explain(result: CommandResult) -> str | None:
    """What a failed service-manager command usually means, and what to do."""
    if is_no_user_manager(result):
        return NO_USER_MANAGER_HINT
    program = result.argv[0] if result.argv else ""
    if program == "systemctl":
        return (
            "see 'journalctl --user -u floradrop.service' for the service's own messages; "
            "'floradrop service status' shows where floradrop's log is"
        )
    if program == "launchctl":
        if "Service is disabled" in result.output:
            return "something disabled the agent; 'floradrop service install' enables it again"
        return (
            "'floradrop service status' shows the agent's state and where its log is; "
            "'launchctl print gui/$(id -u)' lists what launchd has loaded"
        )
    return None


def missing_program_hint(program: str) -> str:
    if program == "systemctl":
        return (
            "this system does not use systemd, so the headless service cannot be installed. "
            "Use the tray entry ('floradrop service install' without --headless) or start "
            "'floradrop run --headless' from the init system you use."
        )
    if program == "launchctl":
        return "launchctl is part of macOS; this backend only works on macOS."
    return f"install {program} or make sure it is on PATH"
