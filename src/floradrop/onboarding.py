"""What ``floradrop init`` writes: the folder layout, the config text, and writing it safely.

No prompts and no API calls here (those live in :mod:`floradrop.cli.init_cmd`): these are
functions of data, plus :func:`write_config_file` and :func:`make_folders` at the edge.

A new config is a short, commented TOML file with ``[flora]`` and one ``[[folders]]`` table.
On an existing config, :func:`add_folder_text` appends a ``[[folders]]`` table to the text as it
is, so the person's own comments and layout survive; every candidate text is parsed and
validated (:func:`candidate_config`) before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
import textwrap
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from floradrop.config import Config, FolderConfig, parse_config
from floradrop.config.settings import DEFAULT_BASE_URL
from floradrop.errors import ConfigError
from floradrop.flora.models import IOSpec, Technique

FLORA_HOME: Final = "FLORA"
"""Default folders live under ``~/FLORA/<technique name>/``."""
INBOX: Final = "inbox"
SIBLINGS: Final = ("outputs", "done", "failed")
_UNSAFE_IN_NAMES: Final = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_FLORA_HEADER: Final = re.compile(r"^[ \t]*\[[ \t]*flora[ \t]*\][ \t]*(#.*)?$", re.MULTILINE)


@dataclass(frozen=True)
class FolderLayout:
    """A watched folder and the three folders floradrop writes to, next to it."""

    inbox: Path
    outputs: Path
    done: Path
    failed: Path

    @classmethod
    def around(cls, inbox: Path) -> FolderLayout:
        """``.../X/inbox`` gets ``.../X/outputs``, ``done``, ``failed``; any other name, e.g.
        ``.../drop``, gets ``drop-outputs``, ``drop-done``, ``drop-failed`` (the config's own
        defaults), so generic names are never put next to a folder of the person's own."""
        generic = inbox.name.lower() == INBOX
        outputs, done, failed = (
            inbox.parent / (s if generic else f"{inbox.name}-{s}") for s in SIBLINGS
        )
        return cls(inbox, outputs, done, failed)

    @property
    def all(self) -> tuple[Path, ...]:
        return (self.inbox, self.outputs, self.done, self.failed)


@dataclass(frozen=True)
class FolderPlan:
    """The ``[[folders]]`` table init adds: a layout, a technique and its input bindings."""

    layout: FolderLayout
    technique: str  # what the config names it by: a slug or a tech_ id
    schema: Technique
    inputs: Mapping[str, str] = field(default_factory=dict)  # input id -> binding text


def folder_name_for(technique: Technique, handle: str) -> str:
    """A folder name from the technique's display name, safe on every OS."""
    name = _UNSAFE_IN_NAMES.sub(" ", technique.name)
    name = " ".join(name.split()).strip(" .")
    return name or handle


def default_layout(technique: Technique, handle: str, home: Path | None = None) -> FolderLayout:
    """``~/FLORA/<technique name>/inbox`` and its siblings."""
    base = (home or Path.home()) / FLORA_HOME / folder_name_for(technique, handle)
    return FolderLayout.around(base / INBOX)


# -- TOML text ---------------------------------------------------------------------------------


def toml_string(value: str) -> str:
    """``value`` as a TOML string: ``"..."`` when nothing needs escaping, ``'...'`` for
    Windows paths and text with double quotes, an escaped basic string otherwise."""
    plain = not any(ch in value for ch in '"\\') and _printable(value)
    if plain:
        return f'"{value}"'
    if "'" not in value and _printable(value):
        return f"'{value}'"
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _printable(value: str) -> bool:
    return all(ch == "\t" or (ch >= " " and ch != "\x7f") for ch in value)


def toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else toml_string(key)


def comment_text(text: str) -> str:
    """Text from the API made safe for one comment line (no line breaks, no controls)."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def display_path(path: Path, home: Path | None = None) -> str:
    """``~/FLORA/...`` for a path in the home folder (portable, short), else the path."""
    home = home or Path.home()
    for base in (home, home.resolve()):
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        return "~" if not rel.parts else "~/" + rel.as_posix()
    return str(path)


def describe_inputs(technique: Technique) -> str:
    """``input_image (image, required), prompt (text, optional)``."""
    return ", ".join(_describe_input(spec) for spec in technique.inputs) or "no inputs"


def _describe_input(spec: IOSpec) -> str:
    kind = spec.type.removesuffix("Url") or spec.type
    return f"{spec.id} ({kind}, {'optional' if spec.optional else 'required'})"


def format_cost(cost: float) -> str:
    text = f"{cost:.4f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def folder_block(plan: FolderPlan, *, home: Path | None = None) -> str:
    """One commented ``[[folders]]`` table (ends with a newline)."""
    technique = plan.schema
    layout = plan.layout
    about = (
        f"{comment_text(technique.name) or plan.technique}: {format_cost(technique.run_cost)} a "
        f"run. Inputs: {comment_text(describe_inputs(technique))}. Added by `floradrop init` on "
        f"{dt.date.today().isoformat()}."
    )
    lines = textwrap.wrap(
        about, width=96, initial_indent="# ", subsequent_indent="# ", break_on_hyphens=False
    )
    lines.append("[[folders]]")
    settings = [
        ("path", display_path(layout.inbox, home), "drop files here"),
        ("technique", plan.technique, ""),
        ("outputs", display_path(layout.outputs, home), "what the technique made"),
        ("done", display_path(layout.done, home), "originals that were processed"),
        ("failed", display_path(layout.failed, home), "originals that could not be, with a report"),
    ]
    assignments = [(f"{key} = {toml_string(value)}", note) for key, value, note in settings]
    width = max(len(text) for text, _ in assignments) + 2
    lines += [(text.ljust(width) + f"# {note}") if note else text for text, note in assignments]
    if plan.inputs:
        pairs = ", ".join(f"{toml_key(k)} = {toml_string(v)}" for k, v in plan.inputs.items())
        lines.insert(-3, f"inputs = {{ {pairs} }}")
    return "\n".join(lines) + "\n"


def new_config_text(
    plan: FolderPlan,
    *,
    base_url: str,
    workspace_id: str,
    workspace_name: str,
    key_location: str,
    home: Path | None = None,
) -> str:
    """The whole text of a new config with one folder."""
    header = f"""\
# floradrop configuration, written by `floradrop init`.
#
# Drop a photo, a video or a text file into a watched folder below: floradrop waits until it
# is completely written, uploads it to FLORA, runs the folder's technique, saves the outputs in
# the outputs folder and moves the original to the done folder (or, if it could not be
# processed, to the failed folder next to a report saying why).
#
# Edit this file as you like: a running floradrop applies your changes when you save, and
# `floradrop check` checks them against FLORA. `floradrop init` again adds another folder.
# Every setting is explained in floradrop.example.toml, in floradrop's source (config/).
#
# The API key is not in this file; `floradrop init` keeps it in
#   {comment_text(key_location)}


[flora]
"""
    flora: list[str] = []
    if base_url.rstrip("/") != DEFAULT_BASE_URL:
        flora += [
            "# The FLORA API address (not the usual https://app.flora.ai/api/v1).",
            f"base_url = {toml_string(base_url)}",
            "",
        ]
    flora += [
        f"# The workspace uploads and runs are billed to ({comment_text(workspace_name)}).",
        f"workspace_id = {toml_string(workspace_id)}",
    ]
    daemon = """

[daemon]
# Stop starting runs once today's spend reaches this many US dollars (runs in progress
# finish). Without it there is no daily limit.
# daily_budget_usd = 20.0

# How many technique runs may be in progress at the same time (1 to 1000).
# max_concurrent_runs = 8


# Watched folders: one [[folders]] table each, listed one after the other.

"""
    return header + "\n".join(flora) + "\n" + daemon + folder_block(plan, home=home)


def add_folder_text(existing: str, plan: FolderPlan, *, home: Path | None = None) -> str:
    """``existing`` with one more ``[[folders]]`` table at its end, the rest untouched."""
    text = existing if existing.endswith("\n") or not existing else existing + "\n"
    return text + "\n\n" + folder_block(plan, home=home)


def add_workspace_text(existing: str, workspace_id: str, workspace_name: str) -> str:
    """``existing`` with ``workspace_id`` set in its ``[flora]`` table (added if missing)."""
    lines = (
        f"# The workspace uploads and runs are billed to ({comment_text(workspace_name)}); "
        "added by `floradrop init`.\n"
        f"workspace_id = {toml_string(workspace_id)}\n"
    )
    match = _FLORA_HEADER.search(existing)
    if match is None:
        text = existing if existing.endswith("\n") or not existing else existing + "\n"
        return text + "\n\n[flora]\n" + lines
    end = match.end()
    return existing[:end] + "\n" + lines + existing[end:].removeprefix("\n")


def candidate_config(text: str, path: Path) -> Config:
    """Parse and validate ``text`` as the config at ``path`` would be, without writing it."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: adding the folder would make the TOML invalid ({exc}); nothing was changed",
            hint="fix the file by hand (`floradrop check` says where), then run init again",
        ) from None
    return parse_config(table, source=path)


def find_folder(folders: Iterable[FolderConfig], inbox: Path) -> FolderConfig | None:
    """The folder of ``folders`` that watches ``inbox`` (an absolute, resolved path)."""
    return next((f for f in folders if _same_path(f.path, inbox)), None)


def _same_path(a: Path, b: Path) -> bool:
    return os.path.normcase(str(a)) == os.path.normcase(str(b))


# -- the edge: files and folders ---------------------------------------------------------------


class ConfigChangedError(ConfigError):
    title = "The configuration changed meanwhile"


def write_config_file(path: Path, text: str, *, expected: bytes | None) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file renamed into place).

    ``expected`` is what the file held when it was read (``None``: there was no file). If it
    holds something else now, or a file appeared where there was none, nothing is written:
    an edit made meanwhile is never overwritten. An existing file keeps its permissions;
    a new one is readable only by its owner.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = 0o600
    if expected is not None:
        mode = path.stat().st_mode & 0o777
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temp.chmod(mode)
        _check_unchanged(path, expected)
        if expected is None:
            _link_new(temp, path)
        else:
            temp.replace(path)
    finally:
        temp.unlink(missing_ok=True)


def _check_unchanged(path: Path, expected: bytes | None) -> None:
    try:
        current: bytes | None = path.read_bytes()
    except FileNotFoundError:
        current = None
    if current != expected:
        raise ConfigChangedError(
            f"{path} was "
            + ("created" if expected is None else "changed" if current is not None else "removed")
            + " while `floradrop init` ran; nothing was written",
            hint="run `floradrop init` again",
        )


def _link_new(temp: Path, path: Path) -> None:
    """Put ``temp`` at ``path`` only if nothing is there (never replaces a file)."""
    try:
        os.link(temp, path)
    except FileExistsError:
        _check_unchanged(path, None)  # raises: something appeared
        raise
    except OSError:  # a file system without hard links
        _check_unchanged(path, None)
        temp.replace(path)


def make_folders(layout: FolderLayout) -> list[Path]:
    """Create the four folders; the ones that were created."""
    made = []
    for folder in layout.all:
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            made.append(folder)
    return made
