"""Decide: what should happen to a settled file? Pure functions of names and config, no I/O.

For a path below a watched folder, in this order (:func:`decide`; the one decision path of the
real run, ``run --dry-run`` and the tests):

1. :func:`ignore_reason`: junk (partial downloads, editor locks, ``.DS_Store``, dotfiles), a
   folder's ``ignore`` patterns, subfolders of a non-recursive folder. The daemon's watcher
   screens each path with it as events arrive (``WatchSpec.is_ignored``), so a junk file is
   never settled, and admission goes on from step 2 (:func:`route`): once per file;
2. :func:`choose_rule`: the folder's rules are tried in order, the first match wins;
3. :func:`sidecar_owner`: ``photo.txt`` that a rule reads as the prompt of ``photo.png`` is
   not a job of its own (the names next to it are listed only when its name could be one).

Which technique input each value goes to is :mod:`floradrop.pipeline.bind`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import Final, Literal

from floradrop.config import FolderConfig, Rule
from floradrop.flora.models import (
    AUDIO,
    DOCUMENT,
    IMAGE,
    TEXT,
    VIDEO,
)

JUNK_PATTERNS: Final[tuple[str, ...]] = (
    # downloads and copies still in progress
    "*.part",
    "*.partial",
    "*.crdownload",
    "*.download",
    "*.opdownload",
    "*.tmp",
    "*.temp",
    # editors' lock, swap and backup files
    "~$*",
    ".~lock*",
    "*.swp",
    "*~",
    # operating-system litter
    ".DS_Store",
    "._*",
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "Icon\r",
    # everything else hidden: .git, iCloud placeholders (.photo.png.icloud), ...
    ".*",
)
"""File names never processed (case-insensitive globs)."""

EXTENSIONS: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        ("png", "jpg", "jpeg", "webp", "gif", "avif", "heic", "heif", "bmp", "tif", "tiff"), IMAGE
    ),
    **dict.fromkeys(("mp4", "mov", "webm", "m4v", "mkv", "avi"), VIDEO),
    **dict.fromkeys(("mp3", "wav", "ogg", "m4a", "flac"), AUDIO),
    **dict.fromkeys(("txt", "md"), TEXT),
    "pdf": DOCUMENT,
}

LINK_EXTENSIONS: Final = (".url", ".webloc", ".txt")
"""In a ``links = true`` folder these may hold a URL (``pipeline.links``): the run then takes
the URL's media, planned as the technique's main input type."""


def media_type(path: PurePath) -> str | None:
    """The FLORA media type of a file, by its extension (None: not one floradrop knows)."""
    return EXTENSIONS.get(path.suffix.lower().lstrip("."))


def glob_matches(pattern: str, rel_path: PurePath) -> bool:
    """Case-insensitive: a pattern with ``/`` is matched against the path below the watched
    folder (``raw/*``), any other against the file name (``*.png``)."""
    if "/" in pattern:
        return fnmatch.fnmatchcase(rel_path.as_posix().lower(), pattern.lower())
    return fnmatch.fnmatchcase(rel_path.name.lower(), pattern.lower())


def is_provenance_name(name: str) -> bool:
    """``photo.cctv-cam.png.json``: the provenance sidecar of an output, by its name."""
    return name.lower().endswith(".json") and media_type(PurePath(name[:-5])) is not None


def ignore_reason(rel_path: PurePath, folder: FolderConfig) -> str | None:
    """Why ``rel_path`` (relative to the watched folder) is left alone, or None to go on."""
    *dirs, name = rel_path.parts or ("",)
    for part in dirs:
        if part.startswith("."):
            return f"in a hidden folder ({part})"
    if dirs and not folder.recursive:
        return "in a subfolder, and the folder is not recursive"
    for pattern in JUNK_PATTERNS:
        if fnmatch.fnmatchcase(name.lower(), pattern.lower()):
            return f"a temporary, hidden or system file ({pattern!r})"
    if is_provenance_name(name):  # e.g. in the inbox of the next folder of a chain
        return "a provenance sidecar (the .json next to an output)"
    for pattern in folder.ignore:
        if glob_matches(pattern, rel_path) or (
            "/" not in pattern
            and any(fnmatch.fnmatchcase(d.lower(), pattern.lower()) for d in dirs)
        ):
            return f"matches ignore pattern {pattern!r}"
    return None


def rule_matches(rule: Rule, rel_path: PurePath) -> bool:
    return any(glob_matches(pattern, rel_path) for pattern in rule.match)


def choose_rule(rel_path: PurePath, folder: FolderConfig) -> Rule | None:
    """The first of the folder's rules whose ``match`` fits the file (None: no rule)."""
    return next((r for r in folder.effective_rules() if rule_matches(r, rel_path)), None)


def sidecar_path(dropped: PurePath, suffix: str) -> PurePath:
    """The sidecar of ``photo.png`` for suffix ``.txt``: ``photo.txt``."""
    return dropped.with_name(dropped.stem + suffix)


def sidecar_suffixes(rule: Rule) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(b.value for b in rule.inputs.values() if b.kind == "sidecar" and b.value)
    )


def could_be_sidecar(rel_path: PurePath, folder: FolderConfig) -> bool:
    """True when some rule reads sidecars with a suffix this name ends with: the engine can
    hold such a file a little (its owner may still be arriving) before treating it as a job."""
    name = rel_path.name.lower()
    return any(
        name.endswith(suffix.lower()) and len(name) > len(suffix)
        for rule in folder.effective_rules()
        for suffix in sidecar_suffixes(rule)
    )


def sidecar_owner(
    rel_path: PurePath, siblings: Collection[str], folder: FolderConfig
) -> str | None:
    """The name of the file ``rel_path`` is a sidecar of, or None.

    ``photo.txt`` belongs to ``photo.png`` when ``photo.png`` is among ``siblings`` (the names
    in the same folder), is not ignored, and the rule chosen for it reads ``.txt`` sidecars.
    """
    for sibling in sorted(siblings):
        if sibling == rel_path.name:
            continue
        owner = rel_path.with_name(sibling)
        if ignore_reason(owner, folder) is not None:
            continue
        rule = choose_rule(owner, folder)
        if rule is None:
            continue
        for suffix in sidecar_suffixes(rule):
            if sidecar_path(owner, suffix).name == rel_path.name:
                return sibling
    return None


def _nothing() -> Collection[str]:
    return ()


@dataclass(frozen=True)
class Decision:
    """What :func:`decide` says about a settled file."""

    action: Literal["ignore", "no_rule", "sidecar", "job"]
    reason: str = ""
    rule: Rule | None = None
    rule_index: int = -1  # for "job": the rule's place among the folder's rules
    owner: str | None = None  # for "sidecar": the file it belongs to
    maybe_sidecar: bool = False  # for "job": a sidecar's name, its owner not (yet) there


def decide(
    rel_path: PurePath,
    folder: FolderConfig,
    siblings: Callable[[], Collection[str]] = _nothing,
) -> Decision:
    """Ignore it, leave it alone (no rule), leave it to its owner (a sidecar), or a job.

    ``siblings`` gives the names in the file's folder; it is called only when the name could
    be a sidecar (:func:`could_be_sidecar`)."""
    reason = ignore_reason(rel_path, folder)
    if reason is not None:
        return Decision("ignore", reason)
    return route(rel_path, folder, siblings)


def route(
    rel_path: PurePath,
    folder: FolderConfig,
    siblings: Callable[[], Collection[str]] = _nothing,
) -> Decision:
    """:func:`decide` for a path already screened by :func:`ignore_reason` (the watcher does
    that for every path it reports)."""
    rules = folder.effective_rules()
    index = next((i for i, r in enumerate(rules) if rule_matches(r, rel_path)), None)
    if index is None:
        return Decision("no_rule", f"no rule of this folder matches {rel_path.name!r}")
    rule = rules[index]
    job = Decision("job", rule.describe(), rule=rule, rule_index=index)
    if not could_be_sidecar(rel_path, folder):
        return job
    owner = sidecar_owner(rel_path, siblings(), folder)
    if owner is not None:
        return Decision("sidecar", f"the sidecar of {owner}", owner=owner)
    return replace(job, maybe_sidecar=True)
