"""The socket side: one HTTP/1.1 keep-alive connection per thread, recording as it goes.

Everything the API does is in :mod:`flora_emulator.routes` and the endpoint modules;
this module turns bytes into a :class:`~flora_emulator.wire.Request`, writes the
:class:`~flora_emulator.wire.Response` (streaming files), drops connections when a
fault says so, and records an :class:`~flora_emulator.recording.Exchange`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import struct
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from flora_emulator import routes
from flora_emulator.recording import Exchange, Kind
from flora_emulator.wire import CHUNK, BodyReader, Request, Response

if TYPE_CHECKING:
    from flora_emulator.server import Emulator

DRAIN_LIMIT = 8 * 1024 * 1024  # read at most this much of an unread body before closing


class HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins the connection threads
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._closing = False
        super().__init__(address, Handler)

    def track(self, conn: socket.socket) -> None:
        with self.emulator.state.lock:
            if self._closing:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            self._connections.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self.emulator.state.lock:
            self._connections.discard(conn)

    def close_connections(self) -> None:
        """Wake every connection thread blocked on a read so that it ends."""
        with self.emulator.state.lock:
            self._closing = True
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if self._closing or isinstance(error, ConnectionError | TimeoutError):
            return  # the client went away, or we are stopping: nothing went wrong here
        self.emulator.report_crash(f"connection from {client_address[0]} crashed")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "floradrop-emulator"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms ACK stalls
    server: HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access lines are written by _serve, without headers

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -- one request -----------------------------------------------------------------------

    def _serve(self) -> None:
        emu = self.server.emulator
        started = time.monotonic()
        url = urlsplit(self.path)
        method, path = self.command, url.path
        headers = {k.lower(): v for k, v in self.headers.items()}
        found = routes.match(method, path)
        kind: Kind | None = found.kind if found else None
        route = found.route.template if found and found.route else None
        emu.stats.count_request(method, route or path)
        if kind in ("storage", "media") and "authorization" in headers:
            emu.stats.count_auth_to(kind)

        kept = bytearray()
        overflow = False

        def tee(data: bytes) -> None:
            nonlocal overflow
            if not overflow and len(kept) + len(data) <= emu.record_body_limit:
                kept.extend(data)
            else:
                overflow = True
                kept.clear()

        try:
            body = BodyReader(
                self.rfile,
                length=self._content_length(headers),
                chunked="chunked" in headers.get("transfer-encoding", "").lower(),
                tee=tee if emu.recording else None,
                pace=emu.upload_pause if kind == "storage" else None,
            )
        except ValueError:
            bad = Response(400, b"Bad Content-Length\n", "text/plain")
            self._send(bad, self._headers_for(bad, close=True))
            return
        req = Request(method, path, parse_qs(url.query, keep_blank_values=True), headers, body)
        req.route, req.params = route, dict(found.params) if found else {}

        fault = None
        response: Response | None = None
        try:
            if found is None:
                response = Response(404, b"Not Found\n", "text/plain; charset=utf-8")
            elif found.kind == "api":
                response = routes.handle_api(emu, req, found)
            elif found.route is None:
                response = Response(405, b"Method Not Allowed\n", "text/plain; charset=utf-8")
            else:
                response = found.route.endpoint(emu, req)
        except routes.DropConnectionError as drop:
            fault = drop.fault
        except ConnectionError:
            self.close_connection = True
            return
        headers_out: dict[str, str] = {}
        if response is not None:
            if kind == "api":
                response.headers["request-id"] = "req_" + uuid.uuid4().hex[:24]
            headers_out = self._headers_for(response, close=not self._finish_body(body))
        if emu.recording:  # before answering: a client that has its answer sees the record
            emu.record(
                Exchange(
                    kind=kind or "other",
                    method=method,
                    path=path,
                    route=route,
                    query={k: tuple(v) for k, v in req.query.items()},
                    request_headers=headers,
                    request_body=None if overflow else bytes(kept),
                    request_body_size=body.consumed,
                    status=response.status if response is not None else None,
                    response_headers=headers_out,
                    response_body=(
                        response.body if response is not None and response.file is None else None
                    ),
                    request_form=req.form,
                    request_files=req.files,
                    fault=fault,
                )
            )
        if response is None:
            self._drop(reset=fault == "reset")
            outcome = f"dropped ({fault})"
        else:
            self._send(response, headers_out)
            outcome = str(response.status)
        elapsed_ms = (time.monotonic() - started) * 1000
        emu.access(f"{method} {path} {outcome} {elapsed_ms:.0f}ms")

    @staticmethod
    def _content_length(headers: dict[str, str]) -> int | None:
        raw = headers.get("content-length")
        if raw is None:
            return None
        value = int(raw)
        if value < 0:
            raise ValueError(raw)
        return value

    def _finish_body(self, body: BodyReader) -> bool:
        """Consume what the endpoint left unread; ``False`` if the connection must close."""
        if body.exhausted:
            return True
        try:
            return body.drain(DRAIN_LIMIT)
        except ConnectionError:
            return False

    def _headers_for(self, response: Response, *, close: bool) -> dict[str, str]:
        headers = {
            "content-type": response.content_type,
            "content-length": str(response.file_size if response.file else len(response.body)),
            **response.headers,
        }
        if close:
            headers["connection"] = "close"
            self.close_connection = True
        return headers

    def _send(self, response: Response, headers: dict[str, str]) -> None:
        try:
            self.send_response(response.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command == "HEAD":
                return
            if response.file is not None:
                with response.file.open("rb") as handle:
                    shutil.copyfileobj(handle, self.wfile, CHUNK)
            elif response.body:
                self.wfile.write(response.body)
        except (ConnectionError, OSError):
            self.close_connection = True

    def _drop(self, *, reset: bool) -> None:
        """End the connection without a response: with a TCP reset, or a plain close."""
        self.close_connection = True
        if reset:
            linger = struct.pack("ii", 1, 0)
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        else:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            # The socket closes for real (and sends its RST now) once its reader is closed.
            self.rfile.close()
            self.connection.close()
