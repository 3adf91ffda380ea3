"""macOS: a LaunchAgent, ``~/Library/LaunchAgents/ai.floradrop.agent.plist``.

launchd starts ``floradrop run`` at login (``RunAtLoad``) in the foreground, restarts it when
it exits with an error but not after the tray's Quit (``KeepAlive {SuccessfulExit: false}``),
and gives it the resources of an app (``ProcessType Interactive``; ``Standard`` headless).
It is loaded with ``launchctl bootstrap`` and removed with ``launchctl bootout``, the
interface of macOS 10.10 and later; the older ``load`` / ``unload`` exit 0 even when they
fail, so they are not used.
"""

from __future__ import annotations

import os
import plistlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from floradrop.paths import log_dir
from floradrop.service.commands import CommandResult, CommandRunner, ServiceError, run_command
from floradrop.service.daemon import log_file
from floradrop.service.launcher import daemon_argv
from floradrop.service.plan import (
    MakeDir,
    PlannedFile,
    RemoveFile,
    RunCommand,
    ServicePlan,
    ServiceStatus,
    Step,
    WriteFile,
    apply,
    read_text,
)

LABEL = "ai.floradrop.agent"
MINIMAL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
STOP_TIMEOUT = 30  # seconds between SIGTERM and SIGKILL, as systemd's TimeoutStopSec
COMMENT = (
    "<!-- Starts floradrop when you log in. Written by 'floradrop service install';"
    " 'floradrop service uninstall' removes it. -->\n"
)


def agents_dir() -> Path:
    return Path.home() / "Library" / "LaunchAgents"


def launchd_log() -> Path:
    """What the agent prints (tracebacks before logging starts); floradrop's log is separate."""
    return log_dir() / "launchd.log"


def launch_agent(argv: Sequence[str], *, headless: bool, output: str | None) -> str:
    """The whole LaunchAgent plist that runs ``argv`` (``argv[0]`` absolute) at login."""
    agent: dict[str, Any] = {
        "Label": LABEL,
        "ProgramArguments": list(argv),
        "RunAtLoad": True,
        "KeepAlive": {"SuccessfulExit": False},
        "ProcessType": "Standard" if headless else "Interactive",
        "ExitTimeOut": STOP_TIMEOUT,
        "EnvironmentVariables": {"PATH": MINIMAL_PATH},
    }
    if output is not None:
        agent["StandardOutPath"] = output
        agent["StandardErrorPath"] = output
    text = plistlib.dumps(agent, sort_keys=False).decode("utf-8")
    head, sep, body = text.partition("<plist ")
    return head + COMMENT + sep + body


def domain() -> str:
    return f"gui/{os.getuid()}"


class LaunchAgent:
    """The login service on macOS."""

    name = "launchd"
    title = "LaunchAgent (launchd)"

    def __init__(
        self,
        *,
        headless: bool = False,
        config_file: Path | None = None,
        runner: CommandRunner = run_command,
        launcher: Path | None = None,
    ) -> None:
        self.path = agents_dir() / f"{LABEL}.plist"
        self.location = str(self.path)
        self.headless = headless
        self.config_file = config_file
        self.runner = runner
        self.launcher = launcher

    @property
    def target(self) -> str:
        return f"{domain()}/{LABEL}"

    def command(self) -> list[str]:
        headless = ["--headless"] if self.headless else []
        return daemon_argv("run", *headless, launcher=self.launcher, config_file=self.config_file)

    def is_installed(self) -> bool:
        return self.path.is_file()

    def plan_install(self) -> ServicePlan:
        content = launch_agent(self.command(), headless=self.headless, output=str(launchd_log()))
        current = read_text(self.path)
        loaded = self._print().ok
        steps: list[Step] = []
        if current != content or not loaded:
            if loaded:  # launchd keeps the old definition until the agent is booted out
                steps.append(RunCommand(("launchctl", "bootout", self.target)))
            if not launchd_log().parent.is_dir():
                steps.append(MakeDir(launchd_log().parent))
            if current != content:
                steps.append(WriteFile(PlannedFile(self.path, content)))
            steps += [
                RunCommand(("launchctl", "enable", self.target)),
                RunCommand(("launchctl", "bootstrap", domain(), str(self.path))),
            ]
        notes = (f"floradrop runs now and at every login; its log: {log_file()}",) if steps else ()
        return ServicePlan(self.name, "install", tuple(steps), notes)

    def install(self) -> ServicePlan:
        return apply(self.plan_install(), runner=self.runner)

    def plan_uninstall(self) -> ServicePlan:
        steps: list[Step] = []
        if self._print().ok:
            steps.append(RunCommand(("launchctl", "bootout", self.target)))
        if self.path.exists():
            steps.append(RemoveFile(self.path))
        return ServicePlan(self.name, "uninstall", tuple(steps))

    def uninstall(self) -> ServicePlan:
        return apply(self.plan_uninstall(), runner=self.runner)

    def status(self) -> ServiceStatus:
        installed = self.is_installed()
        enabled: bool | None = False
        running: bool | None = False
        detail = "not installed"
        try:
            printed = self._print()
            if printed.ok:
                state = _field(printed.stdout, "state") or "unknown"
                pid = _field(printed.stdout, "pid")
                running = state == "running"
                detail = f"launchd says: loaded, state = {state}" + (f", pid {pid}" if pid else "")
            elif installed:
                detail = f"launchd has not loaded it: {printed.output}"
            if installed:
                enabled = self._enabled()
        except ServiceError as exc:
            enabled = running = None
            detail = exc.describe()
        return ServiceStatus(
            kind=self.name,
            title=self.title,
            installed=installed,
            enabled=enabled,
            running=running,
            files=(self.path,) if installed else (),
            log_hint=f"{log_file()} (and what launchd captured: {launchd_log()})",
            detail=detail,
        )

    def _print(self) -> CommandResult:
        return self.runner(("launchctl", "print", self.target))

    def _enabled(self) -> bool | None:
        """``launchctl print-disabled`` lists agents switched off (``disabled`` or ``true``)."""
        result = self.runner(("launchctl", "print-disabled", domain()))
        if not result.ok:
            return None
        match = re.search(rf'"{re.escape(LABEL)}"\s*=>\s*(\w+)', result.stdout)
        return not (match and match.group(1) in {"disabled", "true"})


def _field(text: str, name: str) -> str:
    match = re.search(rf"^\s*{name} = (.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else ""
