"""The emulator's media files: names, content types, URLs, and resolving URLs back to files.

Asset bytes live at ``media_dir/asset_.../<name>`` and run outputs at
``media_dir/run_.../<output file>``; both are served at ``/_media/<owner>/<name>``, which
plays the part of FLORA's public media host (no key needed, none wanted).
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from flora_emulator.context import Context

# What FLORA accepts as assets (SDK docs).
ALLOWED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/avif",
        "image/heic",
        "image/heif",
        "video/mp4",
        "video/webm",
        "video/quicktime",
        "audio/mpeg",
        "audio/wav",
        "audio/ogg",
        "application/pdf",
    }
)
OWNER_RE = re.compile(r"^(asset|run)_[0-9a-f]+$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_name(name: str, default: str = "upload") -> str:
    """A file name that is safe on disk and in a URL path segment."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("-", base).strip(" .-")[:120]
    return base or default


def guess_type(name: str) -> str | None:
    kind, _ = mimetypes.guess_type(name, strict=False)
    if kind == "audio/x-wav":
        return "audio/wav"
    return kind


def media_url(ctx: Context, owner: str, name: str) -> str:
    return f"{ctx.origin}/_media/{owner}/{quote(name)}"


@dataclass(frozen=True)
class Located:
    path: Path
    content_type: str


def resolve(ctx: Context, url: str) -> Located | str:
    """The local file behind one of the emulator's media URLs, or why it cannot be fetched.

    Only this emulator's own ``/_media/`` URLs resolve: the emulator has no internet, just
    as a FLORA run can only read media it can reach.
    """
    parts = urlsplit(url)
    if not ctx.is_own_host(parts.netloc):
        return f"the host {parts.netloc} could not be reached"
    segments = parts.path.split("/")
    if len(segments) != 4 or segments[1] != "_media" or not OWNER_RE.match(segments[2]):
        return "no media exists at this URL (404)"
    owner, name = segments[2], unquote(segments[3])
    with ctx.state.lock:
        asset = ctx.state.assets.get(owner)
        if asset is not None:
            if asset.status != "ready" or asset.file is None or asset.file.name != name:
                return "the asset is not ready or does not exist (404)"
            return Located(asset.file, asset.content_type or "application/octet-stream")
    path = ctx.media_dir / owner / name
    if owner.startswith("run_") and safe_name(name) == name and path.is_file():
        return Located(path, guess_type(name) or "application/octet-stream")
    return "no media exists at this URL (404)"
