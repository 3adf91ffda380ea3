"""Paths in a team's journal: relative to a folder known by its name, not to one machine.

The same shared folder is mounted at different places on different machines (``\\\\nas\\drop``,
``/Volumes/drop``, ``/mnt/drop``). In the team's journal a watched folder is its ``name`` and
every path under one of its directories (the inbox, outputs, done, failed and review folders)
is stored as ``name|directory|relative/path``; each daemon turns them back into its own paths
with its own config. Paths under no folder (a ``path:`` binding's file) stay as they are.

:class:`Places` does both directions, for the values of a query and the columns of its rows;
with no folders set it changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from floradrop.config import FolderConfig

SEP: Final = "|"
DIRECTORIES: Final = ("path", "outputs", "done", "failed", "review_folder", "approved", "rejected")
PATH_COLUMNS: Final = frozenset({"folder", "source_path", "filed_path", "report_path"})
JSON_PATH_COLUMNS: Final = frozenset({"outputs"})


class Places:
    """Local path <-> journal text, for the folders of this daemon's config."""

    def __init__(self) -> None:
        self._roots: list[tuple[str, str, str]] = []  # (local root, name, directory), longest first
        self._by_name: dict[tuple[str, str], str] = {}
        self._folder_paths: dict[str, str] = {}
        self._folder_names: dict[str, str] = {}

    def set_folders(self, folders: Iterable[FolderConfig]) -> None:
        roots: list[tuple[str, str, str]] = []
        by_name: dict[tuple[str, str], str] = {}
        paths: dict[str, str] = {}
        names: dict[str, str] = {}
        for folder in folders:
            paths[str(folder.path)] = folder.name
            names[folder.name] = str(folder.path)
            for directory in DIRECTORIES:
                root = str(getattr(folder, directory))
                roots.append((root, folder.name, directory))
                by_name[(folder.name, directory)] = root
        roots.sort(key=lambda r: len(r[0]), reverse=True)
        self._roots, self._by_name = roots, by_name
        self._folder_paths, self._folder_names = paths, names

    # -- to the journal ------------------------------------------------------------------------

    def encode(self, value: Any) -> Any:
        """A query value: a watched folder's path becomes its name, a path below one of its
        directories ``name|directory|relative``; anything else is left alone."""
        if not isinstance(value, str) or not self._roots:
            return value
        name = self._folder_paths.get(value)
        if name is not None:
            return name
        for root, name, directory in self._roots:
            if value.startswith(root) and value[len(root) : len(root) + 1] in ("/", "\\"):
                rel = PurePosixPath(*Path(value[len(root) + 1 :]).parts)
                return f"{name}{SEP}{directory}{SEP}{rel}"
        return value

    def encode_args(self, args: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(self.encode(a) for a in args)

    def encode_outputs(self, outputs: Any) -> Any:
        return _map_paths(outputs, self.encode)

    def encode_folders(self, folders: Iterable[str]) -> list[str]:
        return [self.encode(f) for f in folders]

    # -- from the journal ----------------------------------------------------------------------

    def decode(self, value: Any) -> Any:
        if not isinstance(value, str) or not self._roots:
            return value
        local = self._folder_names.get(value)
        if local is not None:
            return local
        parts = value.split(SEP, 2)
        if len(parts) == 3:
            root = self._by_name.get((parts[0], parts[1]))
            if root is not None:
                return str(Path(root, *PurePosixPath(parts[2]).parts))
        return value

    def decode_row(self, names: Sequence[str], values: Sequence[Any]) -> list[Any]:
        out = list(values)
        for i, name in enumerate(names):
            if name in PATH_COLUMNS:
                out[i] = self.decode(out[i])
            elif name in JSON_PATH_COLUMNS and isinstance(out[i], str):
                out[i] = json.dumps(_map_paths(json.loads(out[i]), self.decode))
        return out

    @property
    def active(self) -> bool:
        return bool(self._roots)


def _map_paths(value: Any, change: Any) -> Any:
    """``outputs`` entries carry their file under "path" (and a sidecar's under "sidecar")."""
    if isinstance(value, list):
        return [_map_paths(v, change) for v in value]
    if isinstance(value, Mapping):
        return {
            k: change(v) if k in ("path", "sidecar", "staged") else _map_paths(v, change)
            for k, v in value.items()
        }
    return value
