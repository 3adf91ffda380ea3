"""Where floradrop keeps its files. The only module that knows platform directories."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "floradrop"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_config_file() -> Path:
    """``--config`` beats ``FLORADROP_CONFIG`` beats this."""
    env = os.environ.get("FLORADROP_CONFIG")
    if env:
        return Path(env).expanduser()
    return config_dir() / "config.toml"


def state_dir() -> Path:
    """Journal, control socket, lock and key file live here (created 0700)."""
    return Path(platformdirs.user_state_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """The demo's folder tree lives here."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) readable only by this user, and return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        path.chmod(0o700)
    return path
