"""The whole configuration: ``[flora]``, ``[daemon]`` and the ``[[folders]]``.

Values come from, highest first: ``FLORADROP_`` environment variables (nested with ``__``,
e.g. ``FLORADROP_DAEMON__MAX_CONCURRENT_RUNS=2``), then ``FLORA_BASE_URL`` (the official SDKs'
variable, for ``flora.base_url`` only), then the TOML file, then the defaults.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from floradrop import paths
from floradrop.config.fields import check_schedule, expand_path, http_address
from floradrop.config.folders import REVIEW_SUFFIXES, SIBLING_SUFFIXES, FolderConfig
from floradrop.config.hosting import HostingSettings
from floradrop.config.problems import ProblemSpec, invalid_many, spec
from floradrop.workflows.chains import chain_problems

DEFAULT_BASE_URL: Final = "https://app.flora.ai/api/v1"
ENV_PREFIX: Final = "FLORADROP_"
ENV_NESTED_DELIMITER: Final = "__"
SDK_BASE_URL_VAR: Final = "FLORA_BASE_URL"

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]


class FloraSettings(BaseModel):
    """``[flora]``: which API and workspace. The API key is never read from this file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = DEFAULT_BASE_URL
    workspace_id: str | None = Field(default=None, pattern=r"^ws_\S+$")
    api_key_file: Path | None = None

    @field_validator("base_url", mode="before")
    @classmethod
    def _base_url(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        url = value.strip().rstrip("/")
        http_address(
            url,
            example=f'write the API address, e.g. base_url = "{DEFAULT_BASE_URL}"',
            plain_http="uses plain http, which would send the API key unencrypted",
            plain_http_fix="use https (plain http is allowed only for a local emulator on "
            "127.0.0.1)",
        )
        return url

    @field_validator("api_key_file", mode="before")
    @classmethod
    def _key_file(cls, value: Any) -> Path | None:
        return None if value is None else expand_path(value)


class DaemonSettings(BaseModel):
    """``[daemon]``: how the daemon works, for all folders."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    state_dir: Path = Field(default_factory=paths.state_dir)
    log_dir: Path = Field(default_factory=paths.log_dir)
    max_concurrent_uploads: int = Field(default=4, ge=1, le=32)
    max_concurrent_runs: int = Field(default=8, ge=1, le=1000)
    settle_seconds: float = Field(default=1.0, ge=0, le=600)
    poll_interval_seconds: float = Field(default=3.0, ge=2, le=60)
    daily_budget_usd: float | None = Field(default=None, ge=0)
    # The big-drop guard: a burst of more runs, or more dollars, than this waits for a yes.
    confirm_above_files: int = Field(default=20, ge=1)
    confirm_above_usd: float = Field(default=5.0, gt=0)
    schedule: str | None = None  # when runs may start, for every folder without its own
    rescan_seconds: float = Field(default=300, ge=10)
    duplicates: Literal["skip", "process"] = "skip"
    notifications: bool = True
    run_timeout_minutes: float = Field(default=60, gt=0, le=24 * 60)
    headless: bool = False
    log_level: LogLevel = "INFO"

    @field_validator("state_dir", "log_dir", mode="before")
    @classmethod
    def _dirs(cls, value: Any) -> Path:
        return expand_path(value)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return check_schedule(value)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


DEFAULT_UI_PORT: Final = 8737


class UiSettings(BaseModel):
    """``[ui]``: the local dashboard the running daemon serves on 127.0.0.1."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    port: int = Field(default=DEFAULT_UI_PORT, ge=0, le=65535)  # 0: any free port


class _SdkBaseUrl(PydanticBaseSettingsSource):
    """``FLORA_BASE_URL``, the official SDKs' variable, for ``flora.base_url``."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ builds the whole mapping

    def __call__(self) -> dict[str, Any]:
        url = os.environ.get(SDK_BASE_URL_VAR, "").strip()
        return {"flora": {"base_url": url}} if url else {}


class Config(BaseSettings):
    """The configuration: one frozen object, passed explicitly to whoever needs it.

    Build it with :func:`floradrop.config.load_config` (from a file) or
    :func:`floradrop.config.parse_config` (from a mapping); both apply the environment
    overrides and turn validation errors into one readable :class:`ConfigError`.
    """

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        env_ignore_empty=True,
        validate_default=True,
    )

    flora: FloraSettings = Field(default_factory=FloraSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    folders: tuple[FolderConfig, ...] = ()
    hosting: HostingSettings | None = None

    _source: Path | None = PrivateAttr(default=None)
    _digest: str | None = PrivateAttr(default=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The init arguments are the file's tables, so the environment must beat them.
        return env_settings, _SdkBaseUrl(settings_cls), init_settings

    @property
    def source(self) -> Path | None:
        """The file this configuration was read from (None: built from a mapping)."""
        return self._source

    @property
    def digest(self) -> str | None:
        """SHA-256 of the file's bytes, for :class:`~floradrop.config.ConfigWatcher`."""
        return self._digest

    @field_validator("folders", mode="before")
    @classmethod
    def _folders(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value  # one [folders] table

    @model_validator(mode="after")
    def _check_folders(self) -> Config:
        problems = folder_problems(self)
        if problems:
            raise invalid_many(problems)
        return self


_WHAT: Final = {
    "outputs": "outputs",
    "done": "finished originals",
    "failed": "failed originals",
    "review_folder": "outputs waiting for review",
    "approved": "approved outputs",
    "rejected": "rejected outputs",
    "state_dir": "journal",
    "log_dir": "logs",
}


def folder_problems(config: Config) -> list[ProblemSpec]:
    """Cross-folder refusals: a folder watched twice, watched folders inside one another, any
    folder floradrop writes to (outputs, done, failed, state, logs) inside a watched one, except
    outputs that are another folder's inbox (a chain), and loops of chained folders."""
    problems: list[ProblemSpec] = []
    folders = config.folders
    for i, folder in enumerate(folders):
        if folder.transfer == "host" and config.hosting is None:
            problems.append(
                spec(
                    'is "host", but there is no [hosting] section naming the bucket',
                    value=folder.transfer,
                    fix="add [hosting] with endpoint and bucket (see the README), or set "
                    'transfer = "upload"',
                    at=("folders", i, "transfer"),
                )
            )
    for i, folder in enumerate(folders):
        for j, other in enumerate(folders[:i]):
            if _same(folder.path, other.path):
                problems.append(
                    spec(
                        f"watches the same folder as folders[{j}]",
                        value=str(folder.path),
                        fix="keep one [[folders]] table for it; for several techniques in one "
                        "folder, give it several [[folders.rules]]",
                        at=("folders", i, "path"),
                    )
                )
        for j, other in enumerate(folders):
            if j != i and not _same(folder.path, other.path) and _inside(folder.path, other.path):
                problems.append(
                    spec(
                        f"is inside the watched folder {other.path} (folders[{j}])",
                        value=str(folder.path),
                        fix="watched folders must sit side by side, not inside one another; "
                        f"move it next to {other.path}",
                        at=("folders", i, "path"),
                    )
                )
        siblings = SIBLING_SUFFIXES | (REVIEW_SUFFIXES if folder.review else {})
        for key, suffix in siblings.items():
            target: Path = getattr(folder, key)
            for watched in folders:
                if key == "outputs" and _same(target, watched.path):
                    break  # a chain into that folder (or its own inbox): see chain_problems
                if _inside(target, watched.path):
                    where = "is" if _same(target, watched.path) else "is inside"
                    problems.append(
                        spec(
                            f"{where} the watched folder {watched.path}: floradrop would "
                            f"process its own {_WHAT[key]}",
                            value=str(target),
                            fix="put it next to the folder, e.g. "
                            f"{folder.path.parent / (folder.path.name + suffix)}",
                            at=("folders", i, key),
                        )
                    )
                    break
    problems.extend(chain_problems(folders))
    for key in ("state_dir", "log_dir"):
        target = getattr(config.daemon, key)
        for watched in folders:
            if _inside(target, watched.path):
                problems.append(
                    spec(
                        f"is inside the watched folder {watched.path}: floradrop would process "
                        f"its own {_WHAT[key]}",
                        value=str(target),
                        fix="leave it out to use the default, or choose a folder outside every "
                        "watched folder",
                        at=("daemon", key),
                    )
                )
                break
    return problems


def _key(path: Path) -> str:
    text = os.path.normcase(str(path))
    return text.casefold() if sys.platform == "darwin" else text


def _same(a: Path, b: Path) -> bool:
    return _key(a) == _key(b)


def _inside(child: Path, parent: Path) -> bool:
    """``child`` is ``parent`` or below it (paths are already absolute and resolved)."""
    c, p = _key(child), _key(parent).rstrip(os.sep)
    return c == p or c.startswith(p + os.sep)
