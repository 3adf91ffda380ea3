"""The absolute paths a login entry names: the ``floradrop`` launcher and the config file.

A login entry runs long after the shell that installed it is gone, with a minimal PATH, so it
must name the launcher by absolute path. The launcher is found, in order:

1. in a PyInstaller build: the build's own executable (``sys.executable``);
2. ``sys.argv[0]``, when it is the launcher that is running now;
3. next to the running interpreter: the ``bin/`` (``Scripts\\`` on Windows) of the venv that
   pipx, ``uv tool`` or a plain venv made, where the launcher of *this* installation is
   (``python -m floradrop`` lands here);
4. ``floradrop`` on PATH.

The interpreter path is not resolved: a venv's ``python`` is a symlink to the base
interpreter, and resolving it would leave the venv.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from floradrop.errors import ConfigError
from floradrop.paths import default_config_file
from floradrop.service.commands import ServiceError

CONSOLE_LAUNCHER = "floradrop"
GUI_LAUNCHER = "floradrop-gui"  # [project.gui-scripts]: no console window on Windows


def launcher_name(*, gui: bool, platform: str) -> str:
    name = GUI_LAUNCHER if gui else CONSOLE_LAUNCHER
    return f"{name}.exe" if platform == "win32" else name


def find_launcher(*, gui: bool = False, platform: str = sys.platform) -> Path:
    """The absolute path of the installed launcher; :class:`ServiceError` if there is none.

    ``gui`` asks for the console-less launcher (only Windows has a separate one).
    """
    name = launcher_name(gui=gui, platform=platform)
    candidates: list[Path] = []
    if getattr(sys, "frozen", False):
        executable = Path(sys.executable)
        candidates.append(executable if not gui else executable.with_name(name))
    else:
        argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
        if argv0 is not None and argv0.name == name:
            candidates.append(_absolute(argv0))
        candidates.append(_absolute(Path(sys.executable).parent / name))
        on_path = shutil.which(name)
        if on_path:
            candidates.append(_absolute(Path(on_path)))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    looked = ", ".join(str(c) for c in candidates) or "nowhere"
    raise ServiceError(
        f"cannot find the '{name}' launcher to start at login (looked at: {looked}).",
        hint="install floradrop with 'pipx install floradrop' or 'uv tool install floradrop' "
        "(or 'pip install floradrop' into a venv) and run this command with that "
        "installation's floradrop, so the login entry has a stable path to start",
    )


def resolve_config(config_file: Path | None) -> Path:
    """``--config`` beats ``FLORADROP_CONFIG`` beats the default; always absolute.

    Symlinks are kept (a config linked from a dotfiles repository stays linked).
    """
    path = config_file.expanduser() if config_file is not None else default_config_file()
    return _absolute(path)


def require_config(path: Path) -> Path:
    """The login entry would crash at every login without a config: refuse to install it."""
    if not path.is_file():
        raise ConfigError(
            f"there is no config file at {path}, so floradrop could not start at login.",
            hint="create it with 'floradrop init', or pass the one to use with --config PATH",
        )
    return path


def daemon_argv(
    *args: str,
    launcher: Path | None,
    config_file: Path | None,
    gui: bool = False,
    platform: str = sys.platform,
) -> list[str]:
    """``[launcher, *args, "--config", config]``: the command a login entry runs.

    ``launcher`` (``None``: found with :func:`find_launcher`) and the config are absolute; the
    config must exist.
    """
    program = launcher or find_launcher(gui=gui, platform=platform)
    config = require_config(resolve_config(config_file))
    return [
        check_plain(str(program), "launcher"),
        *args,
        "--config",
        check_plain(str(config), "config"),
    ]


def check_plain(text: str, what: str) -> str:
    """Refuse control characters (newlines...) in a path written into a service file."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise ServiceError(
            f"the {what} path {text!r} contains control characters, which a login entry "
            "cannot hold.",
            hint="rename or move it to a path without them",
        )
    return text


def _absolute(path: Path) -> Path:
    return Path(os.path.normpath(path.absolute()))
