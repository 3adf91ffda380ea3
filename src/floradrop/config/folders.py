"""A watched folder (``[[folders]]``) and its rules (``[[folders.rules]]``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from floradrop.config.actions import Action, coerce_actions
from floradrop.config.bindings import Binding
from floradrop.config.fields import check_schedule, check_technique, coerce_globs, expand_path
from floradrop.config.problems import invalid

ANY_FILE: Final = ("*",)
SIBLING_SUFFIXES: Final = {"outputs": "-outputs", "done": "-done", "failed": "-failed"}
"""Default outputs/done/failed folders: ``<watched folder's name><suffix>``, next to it."""
REVIEW_SUFFIXES: Final = {
    "review_folder": "-review",
    "approved": "-approved",
    "rejected": "-rejected",
}
"""Default hold-point folders (``review = true``): siblings like the others."""
GENERIC_NAMES: Final = frozenset({"inbox"})
"""A watched folder with one of these names is shown under its parent's name."""


def _inputs(value: Any) -> Any:
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or not key.strip():
                raise invalid(
                    "has an empty input id",
                    value=dict(value),
                    fix='write input ids as keys, e.g. inputs = { prompt = "sidecar" }',
                )
    return value


class Rule(BaseModel):
    """Which technique runs for files whose names match, and how its inputs are bound."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    match: tuple[str, ...] = ANY_FILE
    """Glob(s) on the file name, case-insensitive; a glob with ``/`` matches the path below
    the watched folder."""
    technique: str
    """A technique slug (``cctv-cam``) or id (``tech_...``)."""
    inputs: Mapping[str, Binding] = Field(default_factory=dict)
    """Input id -> binding. Empty: the dropped file goes to the one input of its type."""

    @field_validator("match", mode="before")
    @classmethod
    def _match(cls, value: Any) -> tuple[str, ...]:
        return coerce_globs(value, what="file name", allow_empty=False)

    @field_validator("technique", mode="before")
    @classmethod
    def _technique(cls, value: Any) -> str:
        return check_technique(value)

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        return _inputs(value)

    def __hash__(self) -> int:
        return hash((self.match, self.technique, tuple(sorted(self.inputs.items()))))

    def describe(self) -> str:
        return f"{', '.join(self.match)} -> {self.technique}"


class FolderConfig(BaseModel):
    """One watched folder (a ``[[folders]]`` table)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path
    name: str
    technique: str | None = None
    inputs: Mapping[str, Binding] = Field(default_factory=dict)
    match: tuple[str, ...] = ANY_FILE
    ignore: tuple[str, ...] = ()
    recursive: bool = False
    observer: Literal["native", "polling"] = "native"
    outputs: Path
    done: Path
    failed: Path
    after: Literal["move", "keep"] = "move"
    budget_usd: float | None = Field(default=None, ge=0)
    schedule: str | None = None
    """When runs may start (``"22:00-07:00"``); None: the daemon's ``schedule``."""
    on_done: tuple[Action, ...] = ()
    """Run when a file's outputs have landed (``[[folders.on_done]]``)."""
    on_failed: tuple[Action, ...] = ()
    """Run when a file failed (``[[folders.on_failed]]``)."""
    rules: tuple[Rule, ...] = ()
    transfer: Literal["upload", "host"] = "upload"
    """How media reaches FLORA: uploaded as a FLORA asset, or hosted in ``[hosting]``."""
    links: bool = False
    """A dropped ``.url``/``.webloc``/``.txt`` holding one URL runs on that URL."""
    allow_private_links: bool = False
    """Let links point at private, loopback or link-local addresses (and plain http there)."""
    review: bool = False
    """Hold point: outputs wait in ``review_folder`` until a person moves them to ``approved``
    (which feeds the next folder of a chain) or ``rejected``."""
    review_folder: Path
    approved: Path
    rejected: Path

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        """Fill ``name`` and the sibling folders from ``path`` (when the path is usable)."""
        if isinstance(data, Mapping) and isinstance(data.get("rules"), Mapping):
            data = {**data, "rules": [data["rules"]]}  # one [folders.rules] table: a list of one
        if not isinstance(data, Mapping) or "path" not in data:
            return data
        try:
            path = expand_path(data["path"])
        except PydanticCustomError:  # reported by the field validator, with its key path
            return data
        if path == path.parent:
            return data  # the root: refused by _path
        filled = dict(data)
        filled.setdefault("name", default_name(path))
        for key, suffix in (SIBLING_SUFFIXES | REVIEW_SUFFIXES).items():
            filled.setdefault(key, path.parent / f"{path.name}{suffix}")
        return filled

    @field_validator("path", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Path:
        path = expand_path(value)
        if path == path.parent:
            raise invalid(
                "is the root of the file system",
                value=str(path),
                fix='watch a folder of its own, e.g. "~/FLORA/CCTV Cam/inbox"',
            )
        return path

    @field_validator(
        "outputs", "done", "failed", "review_folder", "approved", "rejected", mode="before"
    )
    @classmethod
    def _sibling(cls, value: Any) -> Path:
        return expand_path(value)

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise invalid(
                "is empty", value=value, fix='write a display name, e.g. name = "CCTV Cam"'
            )
        return value.strip() if isinstance(value, str) else value

    @field_validator("technique", mode="before")
    @classmethod
    def _technique(cls, value: Any) -> Any:
        return None if value is None else check_technique(value)

    @field_validator("match", mode="before")
    @classmethod
    def _match(cls, value: Any) -> tuple[str, ...]:
        return coerce_globs(value, what="file name", allow_empty=False)

    @field_validator("on_done", "on_failed", mode="before")
    @classmethod
    def _actions(cls, value: Any) -> Any:
        return coerce_actions(value)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        return check_schedule(value)

    @field_validator("ignore", mode="before")
    @classmethod
    def _ignore(cls, value: Any) -> tuple[str, ...]:
        return coerce_globs(value, what="ignore", allow_empty=True)

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        return _inputs(value)

    @model_validator(mode="after")
    def _has_a_rule(self) -> FolderConfig:
        if self.technique is None:
            if not self.rules:
                raise invalid(
                    "has no technique",
                    fix='add technique = "cctv-cam" (a slug from `floradrop techniques list`), '
                    "or one [[folders.rules]] table per kind of file",
                )
            if self.inputs or self.match != ANY_FILE:
                raise invalid(
                    "has folder-level `match` or `inputs` but no folder-level `technique`",
                    fix="those keys belong to the folder's own technique: add `technique`, or "
                    "move them into a [[folders.rules]] table",
                )
        return self

    def __hash__(self) -> int:
        return hash(self.path)  # a Config never watches one path twice

    def effective_rules(self) -> tuple[Rule, ...]:
        """The rules in the order they are tried: every ``[[folders.rules]]`` table, then the
        folder's own ``technique`` (with the folder's ``match`` and ``inputs``)."""
        if self.technique is None:
            return self.rules
        own = Rule(match=self.match, technique=self.technique, inputs=self.inputs)
        return (*self.rules, own)

    def rule_keys(self, key: str) -> tuple[str, ...]:
        """The key path of each of :meth:`effective_rules`, given the folder's own key path
        (e.g. ``folders[0]`` -> ``folders[0].rules[0]``, ..., ``folders[0]``)."""
        keys = tuple(f"{key}.rules[{i}]" for i in range(len(self.rules)))
        return (*keys, key) if self.technique is not None else keys


def default_name(path: Path) -> str:
    """The folder's own name; for ``.../CCTV Cam/inbox`` the parent's, ``CCTV Cam``."""
    if path.name.lower() in GENERIC_NAMES and path.parent.name:
        return path.parent.name
    return path.name
