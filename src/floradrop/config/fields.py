"""Field-level parsing shared by the config models: paths, technique slugs, glob lists."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Final
from urllib.parse import SplitResult, urlsplit

from floradrop.config.problems import invalid

PATH_EXAMPLE: Final = '"~/FLORA/CCTV Cam/inbox"'
_ENV_REFERENCE = re.compile(r"\$(\w+)|\$\{([^}]*)\}")
_SLUG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def expand_path(value: object, *, example: str = PATH_EXAMPLE) -> Path:
    """``~`` and ``$VARS`` expanded, made absolute and resolved. Never touches the disk
    except to follow symlinks; relative paths are refused (a daemon's working directory is
    not something a person chooses)."""
    if isinstance(value, PurePath):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise invalid("must be a path in quotes", value=value, fix=f"write it like {example}")
    if not text:
        raise invalid("is empty", value=value, fix=f"write a path like {example}")
    for match in _ENV_REFERENCE.finditer(text):
        name = match.group(1) or match.group(2)
        if name not in os.environ:
            raise invalid(
                f"uses the environment variable ${name}, which is not set",
                value=text,
                fix=f"set {name}, or write the path out in full",
            )
    expanded = Path(os.path.expandvars(text)).expanduser()
    if not expanded.is_absolute():
        raise invalid(
            "is a relative path",
            value=text,
            fix=f"write a full path, or one starting with ~ for your home folder, like {example}",
        )
    try:
        return expanded.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable mount
        raise invalid(f"cannot be resolved ({exc})", value=text, fix="check the path") from None


def check_technique(value: object) -> str:
    """A technique slug (``cctv-cam``) or id (``tech_...``)."""
    if not isinstance(value, str) or not _SLUG.match(value.strip()):
        raise invalid(
            "is not a technique slug or id",
            value=value,
            fix="write the slug from the technique's FLORA address (…/techniques/<slug>) in "
            'quotes, e.g. technique = "cctv-cam"; `floradrop techniques list` lists them',
        )
    return value.strip()


def coerce_globs(value: object, *, what: str, allow_empty: bool) -> tuple[str, ...]:
    """One glob or a list of globs on file names, e.g. ``"*.png"`` or ``["*.png", "*.jpg"]``.

    ``".png"`` is read as ``"*.png"`` (a bare extension can only mean that: a file named
    ``.png`` is a hidden file, which is ignored anyway).
    """
    if isinstance(value, str):
        items: Sequence[object] = [value]
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise invalid(
            f"must be a {what} pattern or a list of them",
            value=value,
            fix='write e.g. "*.png" or ["*.png", "*.jpg"]',
        )
    if not items and not allow_empty:
        raise invalid(
            "is an empty list, so it matches nothing",
            value=value,
            fix='write at least one pattern, e.g. "*" for every file',
        )
    globs: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise invalid(
                f"has an empty or non-text {what} pattern",
                value=value,
                fix='write patterns in quotes, e.g. ["*.png", "*.jpg"]',
            )
        glob = item.strip()
        if "{" in glob or "}" in glob:
            raise invalid(
                "uses {a,b} braces, which patterns do not support",
                value=glob,
                fix='write a list instead, e.g. ["*.png", "*.jpg"]',
            )
        if glob.startswith(".") and not any(c in glob for c in "*?[/"):
            glob = "*" + glob
        globs.append(glob)
    return tuple(globs)


def check_schedule(value: object) -> object:
    """A schedule window (see :mod:`floradrop.workflows.schedule_window`), kept as its text
    (a list of spans is joined with ``;``); a window that cannot be read is refused here."""
    from floradrop.workflows.schedule_window import EXAMPLES, WindowError, parse

    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        value = "; ".join(v.strip() for v in value)
    if not isinstance(value, str):
        return value  # None, or a type error pydantic reports
    try:
        parse(value)
    except WindowError as exc:
        raise invalid(
            str(exc),
            value=value,
            fix=f"write hours, with days if you like, e.g. {EXAMPLES}",
        ) from None
    return value.strip()


LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})


def http_address(value: str, *, example: str, plain_http: str, plain_http_fix: str) -> SplitResult:
    """Check an http(s) address: a host is named, and plain http goes to loopback only.

    ``example`` is the fix for an address that is not http(s); ``plain_http`` says what plain
    http would expose, ``plain_http_fix`` what to do. Returns the parts for further checks."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("is not an http(s) address", value=value, fix=example)
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise invalid(plain_http, value=value, fix=plain_http_fix)
    return parts
