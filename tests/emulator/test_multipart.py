"""The streaming multipart parser: parts to disk, any chunking, malformed bodies refused."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest

from flora_emulator.multipart import MultipartError, parse
from flora_emulator.wire import BodyReader


def _encoded(files: dict[str, tuple[str, bytes, str]], data: dict[str, str]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=data, files=files)
    return request.read(), request.headers["content-type"]


class _Trickle(io.RawIOBase):
    """A stream that returns at most ``step`` bytes per read (to split every boundary)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = io.BytesIO(data)
        self._step = step

    def read(self, size: int = -1) -> bytes:
        return self._data.read(min(self._step, size if size >= 0 else self._step))

    def readline(self, size: int = -1) -> bytes:
        return self._data.readline(size)


@pytest.mark.parametrize("step", [1, 7, 64, 1 << 20])
def test_parts_arrive_whatever_the_chunking(tmp_path: Path, step: int) -> None:
    payload = bytes(range(256)) * 40 + b"\r\n--not-the-boundary\r\n"
    body, content_type = _encoded(
        {"file": ("pic.png", payload, "image/png")}, {"workspace_id": "ws_1", "folder": "f"}
    )
    reader = BodyReader(_Trickle(body, step), length=len(body), chunked=False)
    form = parse(reader, content_type, tmp_path)
    assert form.fields == {"workspace_id": "ws_1", "folder": "f"}
    upload = form.files["file"]
    assert (upload.filename, upload.content_type, upload.size) == (
        "pic.png",
        "image/png",
        len(payload),
    )
    assert upload.path.parent == tmp_path
    assert upload.path.read_bytes() == payload
    form.discard()
    assert not list(tmp_path.iterdir())


def test_a_truncated_body_is_refused_and_leaves_no_files(tmp_path: Path) -> None:
    body, content_type = _encoded({"file": ("a.bin", b"x" * 1000, "application/octet-stream")}, {})
    cut = body[:-30]
    with pytest.raises(MultipartError, match="closing boundary"):
        parse(BodyReader(io.BytesIO(cut), length=len(cut), chunked=False), content_type, tmp_path)
    assert not list(tmp_path.iterdir())


def test_a_size_limit_marks_the_file_and_keeps_reading(tmp_path: Path) -> None:
    body, content_type = _encoded({"file": ("a.bin", b"x" * 5000, "application/octet-stream")}, {})
    reader = BodyReader(io.BytesIO(body), length=len(body), chunked=False)
    form = parse(reader, content_type, tmp_path, max_file_size=1000)
    assert form.files["file"].too_large and form.files["file"].size == 5000
    assert form.files["file"].path.stat().st_size <= 1000  # the rest was not kept
    assert reader.exhausted


def test_not_multipart_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MultipartError, match="boundary"):
        parse(BodyReader(io.BytesIO(b""), length=0, chunked=False), "multipart/form-data", tmp_path)


def test_chunked_transfer_coding_is_read(tmp_path: Path) -> None:
    body, content_type = _encoded({"file": ("a.bin", b"hello world", "text/plain")}, {"k": "v"})
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 10]), body[i : i + 10]) for i in range(0, len(body), 10)
    )
    chunked += b"0\r\n\r\n"
    reader = BodyReader(io.BytesIO(chunked), length=None, chunked=True)
    form = parse(reader, content_type, tmp_path)
    assert form.fields == {"k": "v"}
    assert form.files["file"].path.read_bytes() == b"hello world"
