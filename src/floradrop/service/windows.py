"""Windows: the per-user Run value ``HKCU\\...\\CurrentVersion\\Run\\floradrop``.

Windows starts it at sign-in without admin rights. It names the console-less launcher
(``floradrop-gui.exe``, from ``[project.gui-scripts]``), which runs ``floradrop run`` with no
console window. It is not restarted on a crash. Task Manager's "Startup apps" switches it off
by writing a value under ``...\\Explorer\\StartupApproved\\Run``, which ``status`` reads.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from floradrop.service.commands import CommandRunner, ServiceError, run_command
from floradrop.service.daemon import STILL_RUNNING, local_daemon, log_file
from floradrop.service.launcher import daemon_argv
from floradrop.service.plan import (
    DeleteRegistryValue,
    RegistryLike,
    RegistryValue,
    ServicePlan,
    ServiceStatus,
    SetRegistryValue,
    apply,
)

RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
APPROVED_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\StartupApproved\Run"
VALUE_NAME = "floradrop"


def command_line(argv: Sequence[str]) -> str:
    """A Windows command line; the program is always quoted (a path with spaces is ambiguous)."""
    program, *args = argv
    line = f'"{program}"'
    return f"{line} {subprocess.list2cmdline(args)}" if args else line


class WindowsRunEntry:
    """The login entry on Windows."""

    name = "windows-run"
    title = "Run entry in the Windows registry (starts at sign-in)"
    location = f"HKEY_CURRENT_USER\\{RUN_KEY}\\{VALUE_NAME}"

    def __init__(
        self,
        *,
        headless: bool = False,
        config_file: Path | None = None,
        registry: RegistryLike | None = None,
        runner: CommandRunner = run_command,
        launcher: Path | None = None,
    ) -> None:
        self.headless = headless
        self.config_file = config_file
        self._registry = registry
        self.runner = runner
        self.launcher = launcher

    @property
    def registry(self) -> RegistryLike:
        if self._registry is None:
            self._registry = default_registry()
        return self._registry

    def command(self) -> list[str]:
        """``floradrop-gui`` runs ``floradrop run`` with these arguments."""
        headless = ["--headless"] if self.headless else []
        return daemon_argv(
            *headless,
            launcher=self.launcher,
            config_file=self.config_file,
            gui=True,
            platform="win32",
        )

    def is_installed(self) -> bool:
        return self.registry.read(RUN_KEY, VALUE_NAME) is not None

    def plan_install(self) -> ServicePlan:
        data = command_line(self.command())
        if self.registry.read(RUN_KEY, VALUE_NAME) == data:
            return ServicePlan(self.name, "install")
        notes = ["floradrop starts at your next sign-in. To start it now, run: " + data]
        if self._approved() is False:
            notes.append(
                "Task Manager has floradrop's start-up switched off; switch it on in Task "
                "Manager > Startup apps"
            )
        step = SetRegistryValue(RegistryValue(RUN_KEY, VALUE_NAME, data))
        return ServicePlan(self.name, "install", (step,), tuple(notes))

    def install(self) -> ServicePlan:
        return apply(self.plan_install(), runner=self.runner, registry=self.registry)

    def plan_uninstall(self) -> ServicePlan:
        if not self.is_installed():
            return ServicePlan(self.name, "uninstall")
        step = DeleteRegistryValue(RUN_KEY, VALUE_NAME)
        return ServicePlan(self.name, "uninstall", (step,), (STILL_RUNNING,))

    def uninstall(self) -> ServicePlan:
        return apply(self.plan_uninstall(), runner=self.runner, registry=self.registry)

    def status(self) -> ServiceStatus:
        data = self.registry.read(RUN_KEY, VALUE_NAME)
        installed = data is not None
        running, what = local_daemon()
        shown = data if isinstance(data, str) else repr(data)
        detail = f"{self.location} = {shown}; {what}" if installed else what
        return ServiceStatus(
            kind=self.name,
            title=self.title,
            installed=installed,
            enabled=self._approved() if installed else False,
            running=running,
            files=(),
            log_hint=str(log_file()),
            detail=detail,
        )

    def _approved(self) -> bool | None:
        """Task Manager's switch: the first byte of the value is even when on, odd when off."""
        value = self.registry.read(APPROVED_KEY, VALUE_NAME)
        if value is None:
            return True
        if isinstance(value, bytes) and value:
            return value[0] % 2 == 0
        return None


def default_registry() -> RegistryLike:
    """``HKEY_CURRENT_USER`` through ``winreg``; only on Windows."""
    if sys.platform == "win32":
        return WinRegistry()
    raise ServiceError("the Windows registry exists only on Windows.")


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import winreg

    class WinRegistry:
        """:class:`RegistryLike` over ``winreg`` (strings and binary values)."""

        def read(self, key: str, name: str) -> str | bytes | None:
            try:
                with winreg.OpenKey(winreg.HKEY_CURRENT_USER, key) as handle:
                    value, _kind = winreg.QueryValueEx(handle, name)
            except FileNotFoundError:
                return None
            return value if isinstance(value, str | bytes) else str(value)

        def write(self, key: str, name: str, data: str) -> None:
            with winreg.CreateKeyEx(
                winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE
            ) as handle:
                winreg.SetValueEx(handle, name, 0, winreg.REG_SZ, data)

        def delete(self, key: str, name: str) -> None:
            try:
                with winreg.OpenKey(
                    winreg.HKEY_CURRENT_USER, key, 0, winreg.KEY_SET_VALUE
                ) as handle:
                    winreg.DeleteValue(handle, name)
            except FileNotFoundError:
                pass
