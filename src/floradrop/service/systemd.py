"""Linux headless: a systemd user unit, ``$XDG_CONFIG_HOME/systemd/user/floradrop.service``.

``floradrop run --headless`` runs in the foreground (never forks) and tells systemd when it
is ready through ``$NOTIFY_SOCKET`` (``Type=notify``). systemd restarts it when it fails,
except for exit codes that a restart cannot fix (bad command line, bad config, bad API key,
another daemon already running), and stops it with SIGTERM, waiting 30 s for running uploads
to be journaled. A user unit runs while the user is logged in; ``loginctl enable-linger``
keeps it running without a login and starts it at boot.

ExecStart quoting follows systemd.service(5): ``%`` (specifiers) is doubled everywhere and
``$`` (variables) in every argument but the program, which systemd never expands (measured:
``systemd-analyze verify`` looks for a literal ``$$`` there); an argument with blanks,
quotes, backslashes or ``;`` is double-quoted with C-style escapes.
"""

from __future__ import annotations

import configparser
import getpass
import io
from collections.abc import Sequence
from pathlib import Path

from floradrop.errors import ExitCode
from floradrop.service.commands import (
    NO_USER_MANAGER_HINT,
    CommandResult,
    CommandRunner,
    ServiceCommandError,
    ServiceError,
    is_no_user_manager,
    run_command,
)
from floradrop.service.daemon import log_file
from floradrop.service.launcher import daemon_argv
from floradrop.service.plan import (
    PlannedFile,
    RemoveFile,
    RunCommand,
    ServiceBackend,
    ServicePlan,
    ServiceStatus,
    Step,
    WriteFile,
    apply,
    read_text,
    refuse_conflict,
)
from floradrop.service.xdg import xdg_config_home

UNIT_NAME = "floradrop.service"
HEADER = (
    "# Runs 'floradrop run --headless' while you are logged in (and at boot with\n"
    "# 'loginctl enable-linger'). Written by 'floradrop service install --headless';\n"
    "# 'floradrop service uninstall' removes it.\n"
)
# A restart cannot fix these: the person has to act (see floradrop.errors.ExitCode).
NO_RESTART_EXIT_CODES = (
    ExitCode.USAGE,
    ExitCode.CONFIG,
    ExitCode.AUTH,
    ExitCode.ALREADY_RUNNING,
)
SYSTEMCTL = ("systemctl", "--user")


def unit_dir() -> Path:
    return xdg_config_home() / "systemd" / "user"


def exec_argument(arg: str, *, program: bool = False) -> str:
    """Quote one ExecStart argument (``program``: the first, where ``$`` is not expanded)."""
    arg = arg.replace("%", "%%")
    if not program:
        arg = arg.replace("$", "$$")
    if not arg or any(ch.isspace() or ch in "\"'\\;" for ch in arg):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


class _CaseKeepingParser(configparser.ConfigParser):
    def __init__(self) -> None:
        super().__init__(interpolation=None, delimiters=("=",))

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def systemd_unit(argv: Sequence[str]) -> str:
    """The whole user unit that runs ``argv`` (``argv[0]`` absolute) in the foreground."""
    unit = _CaseKeepingParser()
    unit["Unit"] = {
        "Description": "floradrop: hot folders for FLORA (headless)",
        "StartLimitIntervalSec": "300",
        "StartLimitBurst": "5",
    }
    unit["Service"] = {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": " ".join(exec_argument(a, program=i == 0) for i, a in enumerate(argv)),
        "Restart": "on-failure",
        "RestartSec": "5",
        "RestartPreventExitStatus": " ".join(str(int(c)) for c in NO_RESTART_EXIT_CODES),
        "TimeoutStopSec": "30",
        "KillSignal": "SIGTERM",
    }
    unit["Install"] = {"WantedBy": "default.target"}
    out = io.StringIO()
    unit.write(out, space_around_delimiters=False)
    return HEADER + out.getvalue().rstrip("\n") + "\n"


def linger_note(user: str | None = None, linger_dir: Path = Path("/var/lib/systemd/linger")) -> str:
    """How to keep the service without a login; empty when lingering is already on."""
    user = user or getpass.getuser()
    if (linger_dir / user).exists():
        return ""
    return (
        "the service runs while you are logged in. To start it at boot and keep it running "
        f"after you log out, run once: loginctl enable-linger {user}"
    )


class SystemdUserService:
    """The headless login service on Linux."""

    name = "systemd-user"
    title = "systemd user service (headless)"

    def __init__(
        self,
        *,
        config_file: Path | None = None,
        runner: CommandRunner = run_command,
        launcher: Path | None = None,
        conflict: ServiceBackend | None = None,
    ) -> None:
        self.path = unit_dir() / UNIT_NAME
        self.location = str(self.path)
        self.config_file = config_file
        self.runner = runner
        self.launcher = launcher
        self.conflict = conflict

    def command(self) -> list[str]:
        return daemon_argv(
            "run", "--headless", launcher=self.launcher, config_file=self.config_file
        )

    def is_installed(self) -> bool:
        return self.path.is_file()

    def plan_install(self) -> ServicePlan:
        refuse_conflict(self.conflict)
        content = systemd_unit(self.command())
        current = read_text(self.path)
        steps: list[Step] = []
        if current != content:
            steps += [WriteFile(PlannedFile(self.path, content)), _systemctl("daemon-reload")]
            if current is None:
                steps.append(_systemctl("enable", "--now", UNIT_NAME))
            else:  # a running daemon keeps its old command line until restarted
                steps += [_systemctl("enable", UNIT_NAME), _systemctl("restart", UNIT_NAME)]
        else:
            enabled, running, _ = self._query()
            if enabled is not True:
                steps.append(_systemctl("enable", UNIT_NAME))
            if running is not True:
                steps.append(_systemctl("start", UNIT_NAME))
        notes: list[str] = []
        if steps:
            notes.append(
                f"its messages: journalctl --user -u {UNIT_NAME}; floradrop's log: {log_file()}"
            )
            if linger := linger_note():
                notes.append(linger)
        return ServicePlan(self.name, "install", tuple(steps), tuple(notes))

    def install(self) -> ServicePlan:
        return apply(self.plan_install(), runner=self.runner)

    def plan_uninstall(self) -> ServicePlan:
        wants = self.path.parent / "default.target.wants" / UNIT_NAME
        if not (self.path.exists() or wants.is_symlink()):
            return ServicePlan(self.name, "uninstall")
        steps: list[Step] = [_systemctl("disable", "--now", UNIT_NAME)]
        if self.path.exists():
            steps.append(RemoveFile(self.path))
        steps.append(_systemctl("daemon-reload"))
        return ServicePlan(self.name, "uninstall", tuple(steps))

    def uninstall(self) -> ServicePlan:
        try:
            return apply(self.plan_uninstall(), runner=self.runner)
        except ServiceCommandError as exc:
            if is_no_user_manager(exc.result):
                exc.hint = (
                    f"{NO_USER_MANAGER_HINT} If no systemd user manager ever runs on this "
                    f"machine, nothing can be running this unit: delete {self.path} yourself."
                )
            raise

    def status(self) -> ServiceStatus:
        installed = self.is_installed()
        enabled: bool | None = False
        running: bool | None = None
        detail = ""
        if installed:
            try:
                enabled, running, detail = self._query()
            except ServiceError as exc:  # systemctl itself is missing
                enabled, detail = None, exc.describe()
        else:
            running, detail = False, "not installed"
        return ServiceStatus(
            kind=self.name,
            title=self.title,
            installed=installed,
            enabled=enabled,
            running=running,
            files=(self.path,) if installed else (),
            log_hint=f"{log_file()} (and: journalctl --user -u {UNIT_NAME})",
            detail=detail,
        )

    def _query(self) -> tuple[bool | None, bool | None, str]:
        """``(enabled, running, detail)`` from ``systemctl --user is-enabled / is-active``."""
        said: list[str] = []
        enabled_result = self.runner((*SYSTEMCTL, "is-enabled", UNIT_NAME))
        enabled_state = _first_word(enabled_result)
        enabled = enabled_state.startswith("enabled") if enabled_state else None
        if enabled_state:
            said.append(f"is-enabled: {enabled_state}")
        else:
            said.append(f"is-enabled failed: {enabled_result.output}")

        active_result = self.runner((*SYSTEMCTL, "is-active", UNIT_NAME))
        active_state = _first_word(active_result)
        running = active_state in {"active", "reloading"} if active_state else None
        if active_state:
            said.append(f"is-active: {active_state}")
        elif is_no_user_manager(active_result):
            said.append(
                f"is-active failed: {active_result.output} "
                f"(so this shell cannot ask whether it runs). {NO_USER_MANAGER_HINT}"
            )
        else:
            said.append(f"is-active failed: {active_result.output}")
        return enabled, running, "systemd says " + "; ".join(said)


def _systemctl(*args: str) -> RunCommand:
    return RunCommand((*SYSTEMCTL, *args))


def _first_word(result: CommandResult) -> str:
    words = result.stdout.split()
    return words[0] if words else ""
