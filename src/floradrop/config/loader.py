"""Reading the configuration file, and noticing when it changes."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from floradrop import paths
from floradrop.config.problems import InvalidConfigError, Problem
from floradrop.config.report import problems_from
from floradrop.config.settings import ENV_PREFIX, Config
from floradrop.errors import ConfigError

EXAMPLE_NAME = "floradrop.example.toml"


def example_config_file() -> Path:
    """The commented example config: inside the installed package (wheels carry it), else in
    the clone this package runs from (an editable install)."""
    packaged = Path(__file__).with_name(EXAMPLE_NAME)
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[3] / "config" / EXAMPLE_NAME


def config_path(path: Path | None = None) -> Path:
    """``path``, else ``FLORADROP_CONFIG``, else the per-user default; made absolute."""
    chosen = path if path is not None else paths.default_config_file()
    return Path(os.path.expandvars(chosen)).expanduser().absolute()


def load_config(path: Path | None = None) -> Config:
    """Read, parse and validate the configuration file (``None``: :func:`config_path`).

    Raises :class:`ConfigError` naming the file, and for invalid values every problem with
    its key path, value and fix. Reads only: creates no folders and no files.
    """
    file = config_path(path)
    return _from_bytes(_read(file), file)


def parse_config(data: Mapping[str, Any], *, source: Path | None = None) -> Config:
    """Validate an already-parsed TOML document (environment overrides applied)."""
    private = [key for key in data if key.startswith("_")]
    if private:
        where = str(source) if source is not None else "configuration"
        raise InvalidConfigError(
            [Problem(where, key, "is not a known key", None, "remove it") for key in private]
        )
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise InvalidConfigError(problems_from(exc, file=source)) from None
    except SettingsError as exc:  # a FLORADROP_ variable holding a table or list that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        var = ENV_PREFIX + (field.group(1).upper() if field else "...")
        raise ConfigError(
            f"environment variable {var}: is not valid JSON",
            hint=f"a table or list in an environment variable is written as JSON, e.g. "
            f"""{ENV_PREFIX}FOLDERS='[{{"path": "~/FLORA/inbox", "technique": "cctv-cam"}}]'; """
            f"or unset {var}",
        ) from None
    config._source = source
    return config


def _read(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: there is no configuration file here",
            hint=f"run `floradrop init`, or copy the commented example {example_config_file()} "
            f"to {file} and edit it",
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{file}: is a folder, not a configuration file",
            hint="pass the path of a .toml file with --config or FLORADROP_CONFIG",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{file}: cannot be read ({exc.strerror or exc})",
            hint="check that the file exists and that you may read it",
        ) from None


def _from_bytes(data: bytes, file: Path) -> Config:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: is not UTF-8 text (bad byte at offset {exc.start})",
            hint="save the file with UTF-8 encoding",
        ) from None
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{file}: TOML syntax error: {exc}",
            hint="fix the TOML at that line: put text in quotes, close every quote and bracket, "
            "and write Windows paths in single quotes ('C:\\Users\\me\\inbox') or with forward "
            "slashes",
        ) from None
    config = parse_config(table, source=file)
    config._digest = hashlib.sha256(data).hexdigest()
    return config


class ConfigWatcher:
    """Reloads the configuration file when it changes; the engine calls :meth:`check` now
    and then (no thread of its own).

    A change is read when the file's mtime, size or inode moves and its SHA-256 differs from
    the configuration in use. A good file is applied at once (``on_change``). A bad one is
    reported (``on_error``) only when a second check still finds the same bytes, so an editor
    caught half-way through a save is not reported; each bad version is reported once, and the
    last good configuration stays in use.
    """

    def __init__(
        self,
        path: Path,
        on_change: Callable[[Config], None],
        on_error: Callable[[ConfigError], None],
        *,
        current: Config | None = None,
    ) -> None:
        self.path = path
        self._on_change = on_change
        self._on_error = on_error
        self._config = current
        self._digest = current.digest if current is not None else None
        self._stat: tuple[int, int, int] | None = None
        self._pending: str | None = None  # a problem seen once, not yet reported
        self._reported: str | None = None  # the last problem reported

    @property
    def config(self) -> Config | None:
        """The configuration in use: the last good one."""
        return self._config

    def check(self) -> Config | None:
        """Reload if the file changed; return the new configuration, or None."""
        try:
            st = self.path.stat()
        except OSError as exc:
            self._stat = None
            what = (
                "was removed"
                if isinstance(exc, FileNotFoundError)
                else f"cannot be read ({exc.strerror})"
            )
            self._problem(
                f"stat:{what}",
                ConfigError(
                    f"{self.path}: the configuration file {what}; floradrop keeps using the last "
                    "good configuration",
                    hint="put the file back (or fix its permissions)",
                ),
            )
            return None
        fingerprint = (st.st_mtime_ns, st.st_size, st.st_ino)
        if fingerprint == self._stat:
            return None
        self._stat = fingerprint
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            self._stat = None
            self._problem(
                f"read:{exc.strerror}", ConfigError(f"{self.path}: cannot be read ({exc.strerror})")
            )
            return None
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            self._pending = self._reported = None
            return None
        try:
            config = _from_bytes(data, self.path)
        except ConfigError as exc:
            self._stat = None  # look again next time, to tell a bad edit from a half-saved file
            self._problem(digest, _keeping_last_good(exc))
            return None
        self._config, self._digest = config, digest
        self._pending = self._reported = None
        self._on_change(config)
        return config

    def _problem(self, token: str, error: ConfigError) -> None:
        if token != self._pending:
            self._pending = token
        elif token != self._reported:
            self._reported = token
            self._on_error(error)


def _keeping_last_good(error: ConfigError) -> ConfigError:
    hint = (
        error.hint or "fix the file"
    ) + " Until then floradrop keeps the last good configuration."
    if isinstance(error, InvalidConfigError):
        return InvalidConfigError(error.problems, hint=hint)
    return ConfigError(error.message, hint=hint)
