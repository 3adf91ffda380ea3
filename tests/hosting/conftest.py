"""Hosting tests: a real S3-compatible server (moto's, threaded, on a free loopback port) and
a small HTTP file server on loopback (what a dropped link points at)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

ACCESS_KEY = "AKIAFLORADROPTEST0001"
SECRET_KEY = "S3CANARY-secret-8f1e2d3c4b5a69788796a5b4c3d2e1f0"
BUCKET = "floradrop-test"


@dataclass
class S3:
    endpoint: str
    bucket: str
    client: Any  # minio.Minio with the test credentials

    def keys(self) -> list[str]:
        return sorted(o.object_name for o in self.client.list_objects(self.bucket, recursive=True))

    def uploads_in_progress(self) -> list[tuple[str, str]]:
        result = self.client._list_multipart_uploads(self.bucket)
        return [(u.object_name, u.upload_id) for u in result.uploads]

    def parts(self, key: str, upload_id: str) -> int:
        return len(self.client._list_parts(self.bucket, key, upload_id).parts)

    def toml(self, extra: str = "") -> str:
        return f"[hosting]\nendpoint = {self.endpoint!r}\nbucket = {self.bucket!r}\n{extra}\n"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """moto's S3 server on a free loopback port, with one bucket; the AWS_* variables set."""
    from minio import Minio
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its state per process, not per server: start each test from nothing
    httpx.post(f"http://{host}:{port}/moto-api/reset").raise_for_status()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    client = Minio(
        f"{host}:{port}",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=False,
        region="us-east-1",
    )
    client.make_bucket(BUCKET)
    try:
        yield S3(f"http://{host}:{port}", BUCKET, client)
    finally:
        server.stop()


@dataclass
class FileServer:
    """Serves ``routes`` (path -> (status, headers, body)) on loopback; counts requests."""

    url: str
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)


@pytest.fixture
def file_server() -> Iterator[FileServer]:
    state = FileServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits.append(self.path)
            route = self.path.split("?", 1)[0]
            status, headers, body = state.routes.get(route, (404, {}, b"not found"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-file-server", daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def big_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes of varied content (``head`` first)."""
    import os

    with path.open("wb") as handle:
        handle.write(head)
        left = size - len(head)
        while left > 0:
            chunk = os.urandom(min(left, 1 << 20))
            handle.write(chunk)
            left -= len(chunk)
    return path
