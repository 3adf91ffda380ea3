"""Starting ``floradrop run`` at login, under each platform's own service manager.

One backend per way of starting, each generating its file in code and running the daemon in
the foreground (never forking):

========================  ==============================================================
``xdg.XdgAutostart``      Linux with the tray: ``~/.config/autostart/floradrop.desktop``
``systemd.SystemdUser…``  Linux ``--headless``: ``~/.config/systemd/user/floradrop.service``
``launchd.LaunchAgent``   macOS: ``~/Library/LaunchAgents/ai.floradrop.agent.plist``
``windows.WindowsRun…``   Windows: ``HKCU\\...\\CurrentVersion\\Run\\floradrop``
========================  ==============================================================

A backend's constructor only remembers its arguments; ``plan_install`` says what install
would write and run, ``install`` does it (and is a no-op when everything is already in
place), ``uninstall`` removes exactly what install created, ``status`` asks.
"""

from __future__ import annotations

import sys
from pathlib import Path

from floradrop.service.commands import (
    CommandResult,
    CommandRunner,
    ServiceCommandError,
    ServiceError,
    run_command,
)
from floradrop.service.plan import (
    PlannedFile,
    RegistryLike,
    RegistryValue,
    ServiceBackend,
    ServicePlan,
    ServiceStatus,
    render,
)

__all__ = [
    "CommandResult",
    "CommandRunner",
    "PlannedFile",
    "RegistryLike",
    "RegistryValue",
    "ServiceBackend",
    "ServiceCommandError",
    "ServiceError",
    "ServicePlan",
    "ServiceStatus",
    "all_backends",
    "backend_for",
    "is_installed",
    "render",
]


def backend_for(
    *,
    headless: bool,
    config_file: Path | None,
    platform: str = sys.platform,
    runner: CommandRunner | None = None,
    registry: RegistryLike | None = None,
    launcher: Path | None = None,
) -> ServiceBackend:
    """The backend that makes ``floradrop run`` (``--headless`` or with the tray) start at login.

    ``config_file`` is the config the daemon will use (``None``: ``FLORADROP_CONFIG`` or the
    default); ``launcher`` overrides the ``floradrop`` executable found on this machine.
    """
    run = runner or run_command
    if platform == "darwin":
        from floradrop.service.launchd import LaunchAgent

        return LaunchAgent(
            headless=headless, config_file=config_file, runner=run, launcher=launcher
        )
    if platform == "win32":
        from floradrop.service.windows import WindowsRunEntry

        return WindowsRunEntry(
            headless=headless,
            config_file=config_file,
            registry=registry,
            runner=run,
            launcher=launcher,
        )
    from floradrop.service.systemd import SystemdUserService
    from floradrop.service.xdg import XdgAutostart

    tray = XdgAutostart(config_file=config_file, runner=run, launcher=launcher)
    unit = SystemdUserService(config_file=config_file, runner=run, launcher=launcher)
    if headless:
        if not platform.startswith("linux"):
            raise ServiceError(
                f"the headless login service uses systemd, which {platform} does not have.",
                hint="use the tray entry ('floradrop service install' without --headless), or "
                "start 'floradrop run --headless' from your own init system",
            )
        unit.conflict = tray
        return unit
    tray.conflict = unit
    return tray


def all_backends(
    *,
    platform: str = sys.platform,
    runner: CommandRunner | None = None,
    registry: RegistryLike | None = None,
) -> list[ServiceBackend]:
    """Every backend of this platform, for ``status`` and ``uninstall``."""
    kinds = [False, True] if platform.startswith("linux") else [False]
    return [
        backend_for(
            headless=headless,
            config_file=None,
            platform=platform,
            runner=runner,
            registry=registry,
        )
        for headless in kinds
    ]


def is_installed(platform: str = sys.platform) -> bool | None:
    """Does floradrop start at login with its tray? For the tray's "Start at login" checkbox.

    Cheap (a file or registry lookup, no command). On Linux only the tray's autostart entry
    counts, not the headless systemd unit. ``None`` where login start is not supported.
    """
    if platform in {"darwin", "win32"} or platform.startswith(("linux", "freebsd", "openbsd")):
        return backend_for(headless=False, config_file=None, platform=platform).is_installed()
    return None
