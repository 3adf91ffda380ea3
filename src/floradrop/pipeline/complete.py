"""Complete: cheap checks that a file's bytes are whole for the type its name declares.

A close-write or a quiet period is evidence that a writer is done, not proof: a writer that
appends in bursts, or truncates and rewrites, closes the file between bursts. Where the format
says where it ends, a few bytes read at the edges tell a half-written file from a whole one:

* JPEG: ends with the EOI marker ``FF D9``; else (a phone's "motion photo" appends a video
  after the image) the segments are walked to the image data, which must reach its EOI;
* PNG: ends with the ``IEND`` chunk; else its chunks are walked and must reach ``IEND``;
* GIF: ends with the trailer ``;``;
* WebP: the RIFF size in the header matches the file's size;
* MP4 / MOV / M4V: the top-level boxes tile the file exactly and one of them is ``moov``;
* text: UTF-8 not cut inside a multi-byte character.

:func:`check` answers :data:`COMPLETE`, :data:`INCOMPLETE` or :data:`UNKNOWN` (a type with no
end marker, such as text, which only a quiet period can settle). Reads at most a few KB and
never raises for I/O: a file that cannot be read is :data:`UNKNOWN` (the settler reports it).
"""

from __future__ import annotations

import enum
import os
import struct
from pathlib import PurePath
from typing import BinaryIO


class Completeness(enum.Enum):
    COMPLETE = "complete"  # the bytes end where the format says they end
    INCOMPLETE = "incomplete"  # cut short: still being written (or broken)
    UNKNOWN = "unknown"  # no cheap proof either way (text, other types)


COMPLETE = Completeness.COMPLETE
INCOMPLETE = Completeness.INCOMPLETE
UNKNOWN = Completeness.UNKNOWN

_TAIL = 64  # bytes read at the end of a file
_JPEG_PADDING = 32  # zero bytes some writers leave after EOI
_MAX_BOXES = 4096  # MP4 top-level boxes walked before giving up (UNKNOWN)

_JPEG = frozenset({"jpg", "jpeg", "jpe", "jfif"})
_PNG = frozenset({"png"})
_GIF = frozenset({"gif"})
_WEBP = frozenset({"webp"})
_MP4 = frozenset({"mp4", "m4v", "mov", "qt", "3gp"})
_TEXT = frozenset({"txt", "text", "md", "markdown", "prompt", "json", "csv"})


def has_end_marker(rel: PurePath | str) -> bool:
    """Whether a completed file of this name can be told from a cut one (not text)."""
    suffix = PurePath(rel).suffix.lower().lstrip(".")
    return suffix in _JPEG | _PNG | _GIF | _WEBP | _MP4


def check(path: str, size: int | None = None, *, fd: int | None = None) -> Completeness:
    """Whether the file at ``path`` looks completely written for its declared type (its
    bytes read from ``fd`` when given: a descriptor open on that file)."""
    suffix = PurePath(path).suffix.lower().lstrip(".")
    kind = _kind(suffix)
    if kind is None:
        return UNKNOWN
    try:
        # str paths on the settle thread
        with open(path if fd is None else os.dup(fd), "rb") as handle:  # noqa: PTH123
            handle.seek(0)
            if size is None:
                size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return UNKNOWN  # empty: admission leaves it in place until it has content
            if kind == "mp4":
                return _mp4(handle, size)
            head = handle.read(16)
            handle.seek(max(0, size - _TAIL))
            tail = handle.read(_TAIL)
            verdict = _CHECKS[kind](head, tail, size)
            if verdict is INCOMPLETE and kind in _WALKS:
                verdict = _WALKS[kind](handle, size)  # trailing data after a whole image?
            return verdict
    except OSError:
        return UNKNOWN


def _kind(suffix: str) -> str | None:
    for kind, suffixes in (
        ("jpeg", _JPEG),
        ("png", _PNG),
        ("gif", _GIF),
        ("webp", _WEBP),
        ("mp4", _MP4),
        ("text", _TEXT),
    ):
        if suffix in suffixes:
            return kind
    return None


def _jpeg(head: bytes, tail: bytes, size: int) -> Completeness:
    if not head.startswith(b"\xff\xd8"):
        return UNKNOWN  # not a JPEG at all: precheck says so, not the settler
    trimmed = tail.rstrip(b"\x00")
    if trimmed.endswith(b"\xff\xd9") and len(tail) - len(trimmed) <= _JPEG_PADDING:
        return COMPLETE
    return INCOMPLETE  # (or data after the image: the segment walk tells)


def _png(head: bytes, tail: bytes, size: int) -> Completeness:
    if not head.startswith(b"\x89PNG\r\n\x1a\n"):
        return UNKNOWN
    # The IEND chunk: length 0, type IEND, CRC AE 42 60 82.
    return COMPLETE if tail.endswith(b"IEND\xae\x42\x60\x82") else INCOMPLETE


def _gif(head: bytes, tail: bytes, size: int) -> Completeness:
    if not head.startswith((b"GIF87a", b"GIF89a")):
        return UNKNOWN
    return COMPLETE if tail.endswith(b";") else UNKNOWN  # (cannot tell a cut from trailing data)


def _webp(head: bytes, tail: bytes, size: int) -> Completeness:
    if not (head.startswith(b"RIFF") and head[8:12] == b"WEBP"):
        return UNKNOWN
    declared = struct.unpack("<I", head[4:8])[0] + 8
    if declared == size:
        return COMPLETE
    return INCOMPLETE if declared > size else UNKNOWN


def _jpeg_walk(stream: BinaryIO, size: int) -> Completeness:
    """Skip the segments before the image data (EXIF thumbnails included), then look for the
    EOI in the rest: found, the image is whole (with data after it); else it is cut short."""
    offset = 2
    for _ in range(_MAX_BOXES):
        stream.seek(offset)
        marker = stream.read(4)
        if len(marker) < 4 or marker[0] != 0xFF:
            return INCOMPLETE if len(marker) < 4 else UNKNOWN
        kind = marker[1]
        if kind == 0xFF:  # fill byte
            offset += 1
            continue
        length = struct.unpack(">H", marker[2:4])[0]
        if kind == 0xDA:  # start of scan: the image data follows
            return _find(stream, offset + 2 + length, size, b"\xff\xd9")
        offset += 2 + length
    return UNKNOWN


def _png_walk(stream: BinaryIO, size: int) -> Completeness:
    """Walk the chunks: reaching ``IEND`` means whole (with data after it)."""
    offset = 8
    for _ in range(1 << 20):
        stream.seek(offset)
        header = stream.read(8)
        if len(header) < 8:
            return INCOMPLETE
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            return COMPLETE if offset + 12 <= size else INCOMPLETE
        offset += 12 + length
        if offset > size:
            return INCOMPLETE
    return UNKNOWN


def _find(stream: BinaryIO, start: int, size: int, needle: bytes) -> Completeness:
    stream.seek(start)
    carry = b""
    while True:
        block = stream.read(1 << 20)
        if not block:
            return INCOMPLETE
        if needle in carry + block:
            return COMPLETE
        carry = block[-(len(needle) - 1) :]


def _text(head: bytes, tail: bytes, size: int) -> Completeness:
    """UTF-8 cut inside a character is incomplete; anything else cannot be proven either way."""
    end = tail[-4:]
    for back in range(1, len(end) + 1):
        byte = end[-back]
        if byte < 0x80:
            return UNKNOWN  # ASCII: a character boundary
        if byte >= 0xC0:  # a lead byte: how long its sequence should be
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return INCOMPLETE if back < need else UNKNOWN
    return UNKNOWN  # only continuation bytes: not UTF-8 we can judge


def _mp4(stream: BinaryIO, size: int) -> Completeness:
    """Walk the top-level boxes: they must end exactly at the file's end, with a ``moov``."""
    offset = 0
    seen_moov = False
    first = True
    for _ in range(_MAX_BOXES):
        if offset == size:
            return COMPLETE if seen_moov else INCOMPLETE
        stream.seek(offset)
        header = stream.read(16)
        if len(header) < 8:
            return INCOMPLETE
        length, box = struct.unpack(">I4s", header[:8])
        if first and box not in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
            return UNKNOWN  # not an ISO media file: precheck decides
        first = False
        if length == 1:
            if len(header) < 16:
                return INCOMPLETE
            length = struct.unpack(">Q", header[8:16])[0]
        elif length == 0:  # "to the end of the file": only legal for the last box
            return COMPLETE if seen_moov or box == b"moov" else INCOMPLETE
        if length < 8:
            return UNKNOWN
        if box == b"moov":
            seen_moov = True
        offset += length
        if offset > size:
            return INCOMPLETE
    return UNKNOWN


_CHECKS = {"jpeg": _jpeg, "png": _png, "gif": _gif, "webp": _webp, "text": _text}
_WALKS = {"jpeg": _jpeg_walk, "png": _png_walk}
