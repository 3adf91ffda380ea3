"""Linux with the tray: an XDG autostart entry, ``$XDG_CONFIG_HOME/autostart/floradrop.desktop``.

The desktop session starts it at login, so ``floradrop run`` inherits the session's
``DISPLAY``, ``WAYLAND_DISPLAY`` and D-Bus address and its tray icon works (a systemd user
unit would only get them if the desktop exported them, and fails silently without). It is
not restarted on a crash; the tray's Quit stays quit.

The Exec line follows the Desktop Entry Specification: arguments with reserved characters
are double-quoted with ``"`` ``$`` `````` ``\\`` backslash-escaped inside, ``%`` is doubled
(field codes), and then the whole value gets the string escapes every value gets (``\\`` ->
``\\\\``), which is why a literal backslash inside a quoted argument ends up as four.
"""

from __future__ import annotations

import configparser
import io
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

from floradrop.service.commands import CommandRunner, run_command
from floradrop.service.daemon import STILL_RUNNING, local_daemon, log_file
from floradrop.service.launcher import daemon_argv
from floradrop.service.plan import (
    PlannedFile,
    RemoveFile,
    ServiceBackend,
    ServicePlan,
    ServiceStatus,
    WriteFile,
    apply,
    read_text,
    refuse_conflict,
)

FILE_NAME = "floradrop.desktop"
SECTION = "Desktop Entry"
HEADER = (
    "# Starts floradrop (with its tray icon) when you log in to your desktop.\n"
    "# Written by 'floradrop service install'; 'floradrop service uninstall' removes it.\n"
)

_RESERVED = frozenset(" \t\n\"'\\><~|&;$*?#()`")
_ESCAPED_IN_QUOTES = frozenset('"`$\\')


def xdg_config_home() -> Path:
    """``$XDG_CONFIG_HOME`` if set to an absolute path (the spec ignores others), else ~/.config."""
    value = os.environ.get("XDG_CONFIG_HOME", "")
    return Path(value) if value and Path(value).is_absolute() else Path.home() / ".config"


def autostart_file() -> Path:
    return xdg_config_home() / "autostart" / FILE_NAME


def exec_argument(arg: str) -> str:
    """Quote one argument for an Exec key (before the value's string escapes)."""
    arg = arg.replace("%", "%%")
    if not arg or any(ch in _RESERVED for ch in arg):
        inner = "".join(f"\\{ch}" if ch in _ESCAPED_IN_QUOTES else ch for ch in arg)
        return f'"{inner}"'
    return arg


def string_value(text: str) -> str:
    """The escapes every string value gets (control characters are refused earlier)."""
    return text.replace("\\", "\\\\")


class _CaseKeepingParser(configparser.ConfigParser):
    """Desktop entry keys are case-sensitive; configparser lower-cases them by default."""

    def __init__(self) -> None:
        super().__init__(interpolation=None, strict=False, delimiters=("=",))

    def optionxform(self, optionstr: str) -> str:
        return optionstr


def desktop_entry(argv: Sequence[str]) -> str:
    """The whole ``.desktop`` file that starts ``argv`` (``argv[0]`` absolute) at login."""
    entry = _CaseKeepingParser()
    entry[SECTION] = {
        "Type": "Application",
        "Version": "1.0",
        "Name": "floradrop",
        "GenericName": "FLORA hot folders",
        "Comment": "Watch folders and run FLORA techniques on the files dropped into them",
        "Icon": "floradrop",
        "Exec": string_value(" ".join(exec_argument(a) for a in argv)),
        "TryExec": string_value(argv[0]),
        "Terminal": "false",
        "StartupNotify": "false",
        "X-GNOME-Autostart-enabled": "true",
    }
    out = io.StringIO()
    entry.write(out, space_around_delimiters=False)
    return HEADER + out.getvalue().rstrip("\n") + "\n"


class XdgAutostart:
    """The tray's login entry on Linux and other XDG desktops."""

    name = "xdg-autostart"
    title = "XDG autostart entry (starts with your desktop session, with the tray icon)"

    def __init__(
        self,
        *,
        config_file: Path | None = None,
        runner: CommandRunner = run_command,
        launcher: Path | None = None,
        conflict: ServiceBackend | None = None,
    ) -> None:
        self.path = autostart_file()
        self.location = str(self.path)
        self.config_file = config_file
        self.runner = runner
        self.launcher = launcher
        self.conflict = conflict

    def command(self) -> list[str]:
        return daemon_argv("run", launcher=self.launcher, config_file=self.config_file)

    def is_installed(self) -> bool:
        return self.path.is_file()

    def plan_install(self) -> ServicePlan:
        refuse_conflict(self.conflict)
        argv = self.command()
        content = desktop_entry(argv)
        if read_text(self.path) == content:
            return ServicePlan(self.name, "install")
        return ServicePlan(
            self.name,
            "install",
            (WriteFile(PlannedFile(self.path, content)),),
            notes=(
                "floradrop starts with your next desktop login. To start it now, run: "
                + shlex.join(argv),
            ),
        )

    def install(self) -> ServicePlan:
        return apply(self.plan_install(), runner=self.runner)

    def plan_uninstall(self) -> ServicePlan:
        if not self.path.exists():
            return ServicePlan(self.name, "uninstall")
        return ServicePlan(self.name, "uninstall", (RemoveFile(self.path),), (STILL_RUNNING,))

    def uninstall(self) -> ServicePlan:
        return apply(self.plan_uninstall(), runner=self.runner)

    def status(self) -> ServiceStatus:
        installed = self.is_installed()
        enabled: bool | None = None
        notes: list[str] = []
        if installed:
            enabled, why = self._enabled()
            if why:
                notes.append(why)
        running, what = local_daemon()
        notes.append(what)
        return ServiceStatus(
            kind=self.name,
            title=self.title,
            installed=installed,
            enabled=enabled if installed else False,
            running=running,
            files=(self.path,) if installed else (),
            log_hint=str(log_file()),
            detail="; ".join(notes),
        )

    def _enabled(self) -> tuple[bool | None, str]:
        """Desktops switch an entry off with ``Hidden=true`` or ``X-GNOME-Autostart-enabled``."""
        parser = _CaseKeepingParser()
        try:
            parser.read_string(read_text(self.path) or "")
            entry = parser[SECTION]
        except (configparser.Error, KeyError) as exc:
            return None, f"{self.path} cannot be read as a desktop entry ({exc})"
        if entry.get("Hidden", "false").strip() == "true":
            return (
                False,
                f"switched off in your desktop's startup settings (Hidden=true in {self.path})",
            )
        if entry.get("X-GNOME-Autostart-enabled", "true").strip() == "false":
            return False, "switched off in your desktop's startup settings"
        return True, ""
