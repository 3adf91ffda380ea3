"""Chains: a folder's ``outputs`` may be another configured folder's inbox.

``CCTV Cam`` writing its outputs into ``Colour Transfer``'s inbox makes one flow of two steps:
a drop into the first inbox ends as the second technique's outputs. The rules, checked when
the config is read (:func:`chain_problems`):

* a folder's outputs may be another folder's inbox, never its own (it would process its own
  results for ever), and never below another watched folder (only the inbox itself);
* no loop: ``A -> B -> A`` is refused, naming the loop.

What a chain changes at run time is small and lives here too:

* outputs bound for another inbox are written in a hidden staging folder next to that inbox
  (:func:`staging_dir`) and only then linked in under their final name, so the next folder
  never sees a partial file (the same filesystem, so the link is atomic);
* each output's provenance sidecar (``{output}.json``) sits next to it in the next inbox; the
  next folder ignores such sidecars (``decide.ignore_reason``), copies the one of its source
  into its own outputs' provenance as ``previous`` (:func:`previous_provenance`), and files it
  away with the original (:func:`carry_sidecar`).

Pure parts (:func:`successors`, :func:`flows`, :func:`chain_problems`) take folders and no I/O.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from loguru import logger

from floradrop.config.folders import FolderConfig
from floradrop.config.problems import ProblemSpec, spec

STAGING_NAME: Final = ".floradrop-staging"
SIDECAR_SUFFIX: Final = ".json"
_MAX_SIDECAR_BYTES: Final = 1024 * 1024
ARROW: Final = " → "


def _key(path: Path) -> str:
    text = os.path.normcase(str(path))
    return text.casefold() if sys.platform == "darwin" else text


def successors(folders: Sequence[FolderConfig]) -> dict[int, int]:
    """Folder index -> the index of the folder whose inbox is its ``outputs``."""
    inbox = {_key(f.path): j for j, f in enumerate(folders)}
    found = {}
    for i, folder in enumerate(folders):
        j = inbox.get(_key(folder.outputs))
        if j is not None:
            found[i] = j
    return found


def feeds_inbox(folder: FolderConfig, folders: Sequence[FolderConfig]) -> bool:
    """``folder``'s outputs go into another configured folder's inbox."""
    target = _key(folder.outputs)
    return any(_key(other.path) == target for other in folders if other is not folder)


def next_folder(folder: FolderConfig, folders: Sequence[FolderConfig]) -> FolderConfig | None:
    """The folder whose inbox is ``folder``'s outputs (the next step of its chain), if any."""
    target = _key(folder.outputs)
    return next((o for o in folders if o is not folder and _key(o.path) == target), None)


def _loop_from(start: int, nxt: dict[int, int]) -> list[int] | None:
    seen: list[int] = []
    i: int | None = start
    while i is not None and i not in seen:
        seen.append(i)
        i = nxt.get(i)
    if i is None:
        return None
    return seen[seen.index(i) :]


def chain_problems(folders: Sequence[FolderConfig]) -> list[ProblemSpec]:
    """A folder whose outputs are its own inbox, and every loop of folders (each named once)."""
    problems: list[ProblemSpec] = []
    nxt = successors(folders)
    for i, j in nxt.items():
        if i == j:
            problems.append(
                spec(
                    "is the folder's own inbox: floradrop would process its own outputs for ever",
                    value=str(folders[i].outputs),
                    fix="leave outputs out (a sibling folder is used), or point it at another "
                    "folder's inbox to chain them",
                    at=("folders", i, "outputs"),
                )
            )
    reported: set[frozenset[int]] = set()
    for start in range(len(folders)):
        loop = _loop_from(start, {i: j for i, j in nxt.items() if i != j})
        if loop is None or frozenset(loop) in reported:
            continue
        reported.add(frozenset(loop))
        first = min(loop)
        loop = loop[loop.index(first) :] + loop[: loop.index(first)]
        names = ARROW.join(folders[k].name for k in [*loop, first])
        problems.append(
            spec(
                f"makes a loop of folders: {names}; each output would be run again for ever "
                "(and paid for each time)",
                value=str(folders[loop[-1]].outputs),
                fix=f"end the chain: give folders[{loop[-1]}] ({folders[loop[-1]].name}) an "
                "outputs folder that no folder watches",
                at=("folders", loop[-1], "outputs"),
            )
        )
    return problems


def flows(folders: Sequence[FolderConfig]) -> dict[Path, tuple[str, ...]]:
    """Each chained folder's path -> the names of its flow's steps, first to last.

    A flow starts at a folder no other folder feeds (or, where several feed one, at the one
    being described) and follows the outputs. Folders in no chain are left out."""
    nxt = successors(folders)
    fed: dict[int, list[int]] = {}
    for i, j in nxt.items():
        fed.setdefault(j, []).append(i)
    found: dict[Path, tuple[str, ...]] = {}
    for i, folder in enumerate(folders):
        if i not in nxt and i not in fed:
            continue
        back = [i]
        while len(fed.get(back[0], ())) == 1 and fed[back[0]][0] not in back:
            back.insert(0, fed[back[0]][0])
        steps = list(back)
        while steps[-1] in nxt and nxt[steps[-1]] not in steps:
            steps.append(nxt[steps[-1]])
        found[folder.path] = tuple(folders[k].name for k in steps)
    return found


def staging_dir(folder: FolderConfig, folders: Sequence[FolderConfig]) -> Path | None:
    """Where outputs bound for another inbox are written before they are linked in."""
    if not feeds_inbox(folder, folders):
        return None
    return folder.outputs.parent / STAGING_NAME


def _read_provenance(path: Path) -> dict[str, Any] | None:
    try:
        if path.is_symlink() or path.stat().st_size > _MAX_SIDECAR_BYTES:
            return None
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(document, dict) and "floradrop_version" in document and "run_id" in document:
        return document
    return None


def previous_provenance(source: Path) -> dict[str, Any] | None:
    """The provenance of ``source`` when it is the output of an earlier step of a chain."""
    return _read_provenance(source.with_name(source.name + SIDECAR_SUFFIX))


def carry_sidecar(inbox_file: Path, filed: Path | None) -> Path | None:
    """Move the provenance sidecar of ``inbox_file`` (an output of an earlier step) next to
    where the file was filed away. Only floradrop's own sidecars are moved."""
    sidecar = inbox_file.with_name(inbox_file.name + SIDECAR_SUFFIX)
    if filed is None or _read_provenance(sidecar) is None:
        return None
    from floradrop.files import move_no_clobber

    with contextlib.suppress(OSError):
        moved = move_no_clobber(sidecar, filed.parent, filed.name + SIDECAR_SUFFIX)
        logger.debug("filed {} with its source", sidecar.name)
        return moved
    return None
