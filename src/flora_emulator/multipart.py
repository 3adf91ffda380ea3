"""Streaming ``multipart/form-data`` parsing: file parts go straight to disk, never to RAM.

Built on python-multipart's push parser (the one Starlette uses). Text fields are kept in
memory up to a small limit; each file part is written to a temporary file in ``tmp_dir``
as its bytes arrive, so a 1 GB upload costs a 256 KiB buffer.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from flora_emulator.wire import BodyReader

MAX_FIELD_SIZE = 64 * 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart (or a text field is too large)."""


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str | None
    path: Path
    size: int = 0
    too_large: bool = False  # more than ``max_file_size`` arrived; the rest was discarded


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def discard(self) -> None:
        """Delete the temporary files."""
        for upload in self.files.values():
            upload.path.unlink(missing_ok=True)


def boundary_of(content_type: str) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise MultipartError("Expected multipart/form-data with a boundary.")
    return boundary


class _Collector:
    """The parser's callbacks: where each part's bytes go."""

    def __init__(self, tmp_dir: Path, max_file_size: int | None) -> None:
        self.form = Form()
        self.tmp_dir = tmp_dir
        self.max_file_size = max_file_size
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._name = ""
        self._file: UploadedFile | None = None
        self._sink: IO[bytes] | None = None
        self._buffer = bytearray()

    def on_part_begin(self) -> None:
        self._headers = {}
        self._file = None
        self._sink = None
        self._buffer = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self._header_name.decode("latin-1").strip().lower()
        # latin-1 keeps every byte: parse_options_header encodes values back to latin-1, and
        # a UTF-8 file name (sent raw, as browsers and httpx do) is decoded from those bytes.
        self._headers[name] = self._header_value.decode("latin-1").strip()
        self._header_name.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition", ""))
        if disposition != b"form-data" or b"name" not in options:
            raise MultipartError("A part has no Content-Disposition: form-data name.")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in on_part_end
                dir=self.tmp_dir, prefix="upload-", delete=False
            )
            self._sink = handle
            self._file = UploadedFile(
                field=self._name,
                filename=options[b"filename"].decode("utf-8", "replace"),
                content_type=self._headers.get("content-type") or None,
                path=Path(handle.name),
            )
            self.form.files[self._name] = self._file

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is None:
            self._buffer += chunk
            if len(self._buffer) > MAX_FIELD_SIZE:
                raise MultipartError(f"Field {self._name!r} is larger than {MAX_FIELD_SIZE} bytes.")
            return
        self._file.size += len(chunk)
        if self.max_file_size is not None and self._file.size > self.max_file_size:
            self._file.too_large = True
            return
        assert self._sink is not None
        self._sink.write(chunk)

    def on_part_end(self) -> None:
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        elif self._file is None:
            self.form.fields[self._name] = self._buffer.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.ended = True

    def close(self) -> None:
        if self._sink is not None:
            self._sink.close()


def parse(
    body: BodyReader, content_type: str, tmp_dir: Path, *, max_file_size: int | None = None
) -> Form:
    """Read the whole body; file parts land in ``tmp_dir`` (the caller moves or deletes them).

    Raises :class:`MultipartError` for a malformed or truncated body (temporary files are
    removed then) and ``ConnectionError`` if the client went away.
    """
    collector = _Collector(tmp_dir, max_file_size)
    parser = MultipartParser(
        boundary_of(content_type),
        {
            "on_part_begin": collector.on_part_begin,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_end": collector.on_end,
        },
    )
    try:
        for data in body:
            parser.write(data)
        parser.finalize()
        if not collector.ended:
            raise MultipartError("The multipart body ended before its closing boundary.")
    except (MultipartParseError, MultipartError) as exc:
        collector.close()
        collector.form.discard()
        with contextlib.suppress(ConnectionError):
            body.drain()
        if isinstance(exc, MultipartError):
            raise
        raise MultipartError(f"Malformed multipart body: {exc}") from None
    except BaseException:
        collector.close()
        collector.form.discard()
        raise
    return collector.form
