"""``floradrop init``'s answers: reading, checking and showing them (used by
:mod:`floradrop.cli.init_cmd`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from floradrop.cli._console import AnswerError
from floradrop.errors import ConfigError

if TYPE_CHECKING:
    from floradrop.config import FolderConfig
    from floradrop.flora import FloraClient, Technique
    from floradrop.onboarding import FolderLayout

T = TypeVar("T")


def technique_table(techniques: Sequence[Technique]) -> str:
    """A numbered table: number, slug (or id), name, inputs (``?``: optional), cost."""
    from floradrop.cli.techniques_cmd import handle_of
    from floradrop.onboarding import comment_text, format_cost

    rows = [
        ("#", "SLUG" if all(t.slug for t in techniques) else "SLUG/ID", "NAME", "INPUTS", "COST")
    ]
    for n, t in enumerate(techniques, 1):
        inputs = ", ".join(f"{i.id}:{i.type}{'?' if i.optional else ''}" for i in t.inputs)
        rows.append(
            (
                str(n),
                comment_text(handle_of(t)),
                comment_text(t.name),
                comment_text(inputs) or "-",
                format_cost(t.run_cost),
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    ]
    lines.append("'?' marks an optional input; the cost is in US dollars per run.")
    return "\n".join(line.rstrip() for line in lines)


def find_technique(client: FloraClient, answer: str, listed: Sequence[Technique]) -> str | None:
    """What the config should call the technique ``answer`` names (a number in ``listed``,
    a slug, an id, or what ``floradrop techniques list`` shows), or None."""
    from floradrop.cli.techniques_cmd import ID_PREFIX, handle_of
    from floradrop.config.fields import check_technique
    from floradrop.flora import NotFoundError, ValidationError

    picked = nth(listed, answer) or next(
        (t for t in listed if answer in (t.slug, t.technique_id, handle_of(t))), None
    )
    if picked is not None:
        return picked.slug or picked.technique_id
    try:
        check_technique(answer)
    except ValueError:
        return None
    for candidate in (answer, ID_PREFIX + answer):
        try:
            found = client.get_technique(candidate)
        except (NotFoundError, ValidationError):
            continue
        return candidate if found.slug in (None, candidate) else found.slug
    return None


def nth(items: Sequence[T], answer: str) -> T | None:
    """``items[answer - 1]`` when ``answer`` is a number in range."""
    if answer.isdigit() and 1 <= int(answer) <= len(items):
        return items[int(answer) - 1]
    return None


def read_key_file(name: str) -> str:
    from floradrop import logs

    where = "standard input" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).expanduser().read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise ConfigError(
            f"--api-key-file: {where} cannot be read ({reason})",
            hint="give a file that holds only the API key",
        ) from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) != 1:
        raise ConfigError(
            f"--api-key-file: {where} holds {len(lines)} non-empty lines, not just the key",
            hint="give a file that holds only the API key, on one line",
        )
    logs.add_secret(lines[0])
    return lines[0]


def parse_bindings(items: Iterable[str]) -> list[tuple[str, str]]:
    """``ID=BINDING`` answers and flags; the binding itself is checked with the config."""
    pairs = []
    for item in items:
        input_id, sep, binding = item.partition("=")
        if not sep or not input_id.strip() or not binding.strip():
            raise AnswerError(
                f"{item!r} is not an input binding",
                hint="write it as ID=BINDING, e.g. prompt=sidecar or reference_image=path:~/r.jpg",
            )
        pairs.append((input_id.strip(), binding.strip()))
    return pairs


def absolute(answer: str) -> Path:
    """A folder answer as the config will read it: ~ and $VARS expanded, absolute, resolved."""
    path = Path(os.path.expandvars(answer.strip())).expanduser()
    return (path if path.is_absolute() else Path.cwd() / path).resolve()


def folder_problem(layout: FolderLayout, taken: Sequence[FolderConfig], config: Path) -> str | None:
    from floradrop.onboarding import find_folder

    clash = find_folder(taken, layout.inbox)
    if clash is not None:
        return f"{layout.inbox} is already watched (folder {clash.name!r} in {config})"
    for path in layout.all:
        if path.exists() and not path.is_dir():
            return f"{path} is a file, not a folder"
    return None


def count_files(folder: Path) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
