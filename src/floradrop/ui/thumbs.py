"""Small thumbnails of outputs for the history page, made locally with Pillow and cached.

A thumbnail is a JPEG of at most :data:`SIZE` pixels a side, kept in ``<state_dir>/thumbs``
under a name derived from the file's path, size and modification time (a changed file gets a
new one). It is written to a temporary file and renamed, so a half-written thumbnail is never
served. Files that are not images (text, video) have none.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from pathlib import Path

SIZE = 160
_QUALITY = 80


def thumbnail(path: Path, cache_dir: Path) -> Path | None:
    """The cached thumbnail of the image at ``path`` (made now if needed), or None."""
    from PIL import Image, UnidentifiedImageError

    try:
        stat = path.stat()
    except OSError:
        return None
    key = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:40]
    target = cache_dir / f"{key}.jpg"
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = cache_dir / f".{key}.{os.getpid()}.tmp"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.draft("RGB", (SIZE, SIZE))  # JPEG: decode at a fraction of the size
                image.thumbnail((SIZE, SIZE))
                if image.mode in ("RGBA", "LA", "P"):
                    rgba = image.convert("RGBA")
                    flat = Image.new("RGB", rgba.size, (255, 255, 255))
                    flat.paste(rgba, mask=rgba.getchannel("A"))
                    small = flat
                else:
                    small = image.convert("RGB")
                small.save(temp, "JPEG", quality=_QUALITY)
        temp.replace(target)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombWarning):
        with contextlib.suppress(OSError):
            temp.unlink()
        return None
    except Image.DecompressionBombError:
        return None
    return target
