"""What the workflow tests share: a watcher that checks every file a folder shows is whole,
and a loopback webhook receiver that checks the HMAC signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler

from floradrop.workflows.actions import SIGNATURE_HEADER


class Seen(FileSystemEventHandler):
    """Every file the second inbox ever shows, checked complete the moment it shows up."""

    def __init__(self, inbox: Path) -> None:
        self.inbox = inbox
        self.names: set[str] = set()
        self.partial: list[str] = []
        self.lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            path = Path(os.fsdecode(raw)) if raw else None
            if path is None or path.parent != self.inbox or event.is_directory:
                continue
            with self.lock:
                self.names.add(path.name)
            try:
                data = path.read_bytes()
            except OSError:
                continue  # already taken away
            complete = (
                data.endswith(b"IEND\xaeB`\x82")
                if path.suffix == ".png"
                else path.suffix == ".json" and json.loads(data) is not None
            )
            if not complete:
                with self.lock:
                    self.partial.append(path.name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Receiver:
    """A webhook receiver on a loopback port that can be down (not listening) and up again.

    Every POST is kept with whether its HMAC-SHA256 signature checks out against ``secret``;
    a bad signature gets 401."""

    def __init__(self, secret: str, port: int | None = None) -> None:
        self.secret = secret.encode()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.got: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def verify(self, header: str, body: bytes) -> bool:
        fields = dict(part.split("=", 1) for part in header.split(","))
        expected = hmac.new(self.secret, fields["t"].encode() + b"." + body, hashlib.sha256)
        return hmac.compare_digest(expected.hexdigest(), fields["v1"])

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = receiver.verify(self.headers.get(SIGNATURE_HEADER, "t=0,v1=x"), body)
                with receiver.lock:
                    receiver.got.append(
                        {
                            "ok": ok,
                            "event": self.headers["X-Floradrop-Event"],
                            "delivery": self.headers["X-Floradrop-Delivery"],
                            "body": json.loads(body),
                        }
                    )
                self.send_response(204 if ok else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="test-receiver", daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(10)
            self._server = self._thread = None

    def deliveries(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.got)
