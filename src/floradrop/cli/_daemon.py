"""Finding the daemon of a config, even while the config file is broken.

Commands that talk to a running daemon (``status``, ``pause``, ``resume``, ``reload``, ``stop``,
``ack``) need only its state directory, where its socket and journal are. A half-saved edit
must not lock a person out of their own daemon, so when the file does not load the state
directory is found without it: ``FLORADROP_DAEMON__STATE_DIR``, else ``[daemon] state_dir`` read
from whatever of the file still parses (a TOML parse, else the line itself), else the default.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from floradrop.errors import ConfigError

if TYPE_CHECKING:
    from floradrop.config import Config

_STATE_DIR_LINE = re.compile(r"""^\s*state_dir\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:#.*)?$""")


@dataclass(frozen=True)
class Target:
    """Where the daemon of a config lives, and the config if it loads."""

    state_dir: Path
    config: Config | None
    problem: ConfigError | None  # why the config did not load

    def require_config(self) -> Config:
        if self.config is None:
            assert self.problem is not None
            raise self.problem
        return self.config


def locate(args: argparse.Namespace) -> Target:
    from floradrop.config import load_config

    try:
        config = load_config(getattr(args, "config", None))
    except ConfigError as exc:
        return Target(state_dir_without_config(getattr(args, "config", None)), None, exc)
    return Target(config.daemon.state_dir, config, None)


def state_dir_without_config(path: Path | None) -> Path:
    """The state directory a config names, read as leniently as possible (see the module)."""
    from floradrop import paths
    from floradrop.config.fields import expand_path
    from floradrop.config.loader import config_path

    override = os.environ.get("FLORADROP_DAEMON__STATE_DIR")
    value = override or _state_dir_in(config_path(path))
    if value:
        with contextlib.suppress(Exception):  # e.g. a relative path, which the daemon refuses
            return expand_path(value)
    return paths.state_dir()


def _state_dir_in(file: Path) -> str | None:
    try:
        text = file.read_text("utf-8-sig", errors="replace")
    except OSError:
        return None
    try:
        daemon = tomllib.loads(text).get("daemon", {})
        value = daemon.get("state_dir") if isinstance(daemon, dict) else None
        return value if isinstance(value, str) else None
    except tomllib.TOMLDecodeError:
        pass
    section = None
    for line in text.splitlines():
        header = re.match(r"^\s*\[+\s*([^\]]+?)\s*\]+", line)
        if header:
            section = header.group(1)
            continue
        match = _STATE_DIR_LINE.match(line)
        if section == "daemon" and match:
            return match.group(1) if match.group(1) is not None else match.group(2)
    return None
