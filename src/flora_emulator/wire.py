"""Request and response values passed between the HTTP handler and the endpoint functions.

Endpoints never touch sockets: they get a :class:`Request` (whose body is read on demand,
streamed for uploads) and return a :class:`Response` or raise :class:`ApiError`, which becomes
FLORA's error envelope ``{"error": {"code", "message", "fields"?}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

MAX_JSON_BODY = 1024 * 1024
CHUNK = 256 * 1024


class ApiError(Exception):
    """An API failure: becomes ``{"error": {...}}`` with this status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        fields: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = dict(headers or {})

    def envelope(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            error["fields"] = [{"field": f, "message": m} for f, m in self.fields]
        return {"error": error}


def validation_error(fields: list[tuple[str, str]]) -> ApiError:
    """``400 input_validation_error``; the message joins the fields like FLORA's (zod) does."""
    message = "; ".join(f"{f}: {m}" if f else m for f, m in fields)
    return ApiError(400, "input_validation_error", message, fields=fields)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found.")


class Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...

    def readline(self, size: int, /) -> bytes: ...


class BodyReader:
    """Reads a request body once, by ``Content-Length`` or chunked transfer coding.

    Everything read can be teed to ``tee`` (the recorder keeps small bodies).
    """

    def __init__(
        self,
        stream: Stream,
        *,
        length: int | None,
        chunked: bool,
        tee: Callable[[bytes], None] | None = None,
        pace: Callable[[], None] | None = None,
    ) -> None:
        self._stream = stream
        self._remaining = length if length is not None else 0
        self._chunked = chunked
        self._chunk_left = 0
        self._done = not chunked and not self._remaining
        self._tee = tee
        self._pace = pace
        self.consumed = 0

    @property
    def exhausted(self) -> bool:
        return self._done

    def read(self, size: int = CHUNK) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end. Raises ``ConnectionError`` if cut short."""
        if self._done:
            return b""
        if self._pace is not None:
            self._pace()
        data = self._read_chunked(size) if self._chunked else self._read_plain(size)
        self.consumed += len(data)
        if data and self._tee is not None:
            self._tee(data)
        return data

    def _read_plain(self, size: int) -> bytes:
        data = self._stream.read(min(size, self._remaining))
        if not data:
            raise ConnectionError("request body ended early")
        self._remaining -= len(data)
        self._done = self._remaining == 0
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self._stream.readline(1024)
            if not line:
                raise ConnectionError("chunked body ended early")
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as exc:
                raise ConnectionError("bad chunk size line") from exc
            if self._chunk_left == 0:
                while self._stream.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                self._done = True
                return b""
        data = self._stream.read(min(size, self._chunk_left))
        if not data:
            raise ConnectionError("chunked body ended early")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self._stream.readline(8)  # the CRLF after each chunk
        return data

    def __iter__(self) -> Iterator[bytes]:
        while data := self.read():
            yield data

    def read_all(self, limit: int) -> bytes:
        """The whole body; raises :class:`ApiError` if it is larger than ``limit``."""
        parts: list[bytes] = []
        total = 0
        for data in self:
            total += len(data)
            if total > limit:
                self.drain()
                raise ApiError(400, "invalid_json", f"Request body is larger than {limit} bytes.")
            parts.append(data)
        return b"".join(parts)

    def drain(self, limit: int | None = None) -> bool:
        """Read and discard the rest; ``False`` if more than ``limit`` bytes were left."""
        skipped = 0
        while data := self.read():
            skipped += len(data)
            if limit is not None and skipped > limit:
                return False
        return True


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: BodyReader
    route: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    # filled by endpoints that parse multipart, for the recorder
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, int]] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    def arg(self, name: str) -> str | None:
        """A query parameter; an empty value counts as absent (``allowEmptyValue``)."""
        values = self.query.get(name)
        if not values or values[-1] == "":
            return None
        return values[-1]

    def json(self) -> Any:
        """The parsed JSON body, or ``400 invalid_json``."""
        raw = self.body.read_all(MAX_JSON_BODY)
        if self.content_type not in ("application/json", "") and not self.content_type.endswith(
            "+json"
        ):
            raise ApiError(
                400, "invalid_json", f"Expected a JSON body, got Content-Type {self.content_type}."
            )
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "invalid_json", "Request body is not valid JSON.") from None


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    file: Path | None = None  # streamed from disk instead of ``body``
    file_size: int = 0

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(status, body, "application/json", dict(headers or {}))

    @classmethod
    def error(cls, error: ApiError) -> Response:
        return cls.json(error.status, error.envelope(), error.headers)

    @classmethod
    def from_file(cls, path: Path, content_type: str) -> Response:
        return cls(200, b"", content_type, {}, path, path.stat().st_size)
