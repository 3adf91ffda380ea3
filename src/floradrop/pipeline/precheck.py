"""Precheck: refuse, before uploading, a file that FLORA cannot take (part of the upload stage).

An upload costs time and a broken input can cost a run, so what can be known cheaply is
checked here and reported as a failed job (the file goes to the failed folder with a report):

* **size**: more than :data:`MAX_UPLOAD_BYTES`. FLORA documents no maximum for signed uploads
  (../shared/flora-api/REFERENCE.md §8.1), so this is floradrop's own bound, the same as for
  outputs;
* **images**: Pillow must recognise the bytes as a JPEG, PNG, WebP or GIF picture (a text file
  named ``.png`` is not one; a BMP or TIFF is one FLORA does not take), PNG chunks must pass
  their CRC check (a truncated or damaged PNG fails it), and the picture may have at most
  :data:`MAX_IMAGE_PIXELS` (FLORA's documented limit, 150 megapixels). Only the header is
  decoded, never the pixels, so the check costs one read of the file at most (PNG) and a few
  kilobytes otherwise.

HEIC, HEIF and AVIF pass unchecked (Pillow may not read them here; FLORA decides), as do videos
and other media: decoding them to find damage would cost more than the upload. A JPEG cut short
also passes (its header is intact); FLORA fails such a run, and the job fails with its report.

The check returns the content type of what the bytes are, so a PNG named ``.jpg`` is uploaded
as ``image/png`` instead of what its name claims.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Final

from floradrop.errors import JobError
from floradrop.flora.models import IMAGE
from floradrop.pipeline import complete
from floradrop.pipeline.source import reader

MAX_UPLOAD_BYTES: Final = 2 * 1024**3
"""The largest file floradrop uploads (2 GiB)."""

MAX_IMAGE_PIXELS: Final = 150_000_000
"""FLORA's documented maximum for images: 150 megapixels."""

_UNCHECKED_SUFFIXES: Final = frozenset({".heic", ".heif", ".avif"})
_FORMATS: Final = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")  # JPEG also opens MPO
# What FLORA takes (../shared/flora-api/REFERENCE.md §8.1), by Pillow's format name.
_ACCEPTED: Final = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # a camera JPEG with a second picture inside
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
_IMAGE_HINT: Final = (
    "open it in an image viewer: if it does not open, export or copy it again from its "
    "source, then drop it again"
)

# Pillow warns about large images through the warnings module, whose filters are global:
# the check swaps them under this lock so that two uploads never undo each other's swap.
_pillow_lock = threading.Lock()


def check_upload(
    path: Path, media_type: str | None, size: int, *, fd: int | None = None
) -> str | None:
    """Raise :class:`JobError` if ``path`` (``size`` bytes) cannot be a FLORA input of
    ``media_type``; return the content type of its bytes when the check learned it. With
    ``fd`` (open on ``path``'s file) the bytes are read from it, not from ``path``."""
    if size > MAX_UPLOAD_BYTES:
        raise JobError(
            f"{path.name} is {_size(size)}; floradrop uploads files of up to "
            f"{_size(MAX_UPLOAD_BYTES)}.",
            hint="make the file smaller (shorter, or compressed) and drop it again",
        )
    if media_type != IMAGE or path.suffix.lower() in _UNCHECKED_SUFFIXES:
        return None
    return _check_image(path, fd)


def _check_image(path: Path, fd: int | None) -> str:
    from PIL import Image, UnidentifiedImageError

    try:
        handle = path.open("rb") if fd is None else reader(fd)
    except FileNotFoundError:
        raise  # gone since it was dropped: the caller cancels the job
    except OSError as exc:
        raise JobError(
            f"cannot read {path.name}: {exc.strerror or exc}.",
            hint="give your user read access to the file, then 'floradrop retry' it",
        ) from None
    with handle:
        try:
            with _pillow_lock, warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(handle, formats=_FORMATS)
            with image:
                width, height = image.size
                kind = image.format or ""
                if width * height > MAX_IMAGE_PIXELS:
                    raise _too_many_pixels(path, f"{width} x {height} pixels")
                image.verify()  # PNG: every chunk's CRC; other formats: nothing more to read
        except JobError:
            raise
        except Image.DecompressionBombError:
            raise _too_many_pixels(path, "more than twice that") from None
        except UnidentifiedImageError:
            raise JobError(
                f"{path.name} is not an image floradrop can read (its name says "
                f"{path.suffix or 'nothing'}, but the bytes are not a JPEG, PNG, WebP, GIF, "
                "BMP or TIFF picture).",
                hint=_IMAGE_HINT,
            ) from None
        except Exception as exc:  # any parser error: the bytes are not a whole image
            raise JobError(
                f"{path.name} is a damaged or incomplete image ({exc}).", hint=_IMAGE_HINT
            ) from None
    # JPEG and PNG say exactly where the image ends (data after it is fine)
    if kind in ("JPEG", "PNG") and complete.check(str(path), fd=fd) is complete.INCOMPLETE:
        raise JobError(
            f"{path.name} is an incomplete image: its bytes stop before the end the format "
            "marks (cut short while it was written or copied).",
            hint=_IMAGE_HINT,
        )
    content_type = _ACCEPTED.get(kind)
    if content_type is None:
        raise JobError(
            f"{path.name} is a {kind} image; FLORA takes JPEG, PNG, WebP, GIF, AVIF and HEIC "
            "images.",
            hint="save it as PNG or JPEG and drop it again",
        )
    return content_type


def _too_many_pixels(path: Path, what: str) -> JobError:
    return JobError(
        f"{path.name} has {what}; FLORA takes images of up to "
        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels.",
        hint="scale the image down and drop it again",
    )


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"
