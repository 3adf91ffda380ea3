"""The dashboard's HTTP server: the standard library's ``ThreadingHTTPServer`` on 127.0.0.1.

No framework: the page is a handful of static files and a JSON API of eight routes, and the
standard library keeps a PyInstaller build small and offline (see the README, "The
dashboard"). Every request passes :meth:`Handler._allowed` first (Host header, token cookie,
and for a POST the page's CSRF header and a same-origin ``Origin``); see
:mod:`floradrop.ui.access`. No response carries CORS headers.

The server thread sleeps in ``select`` until a request comes (no periodic wake-ups: a daemon
with the dashboard enabled and no browser open costs nothing more), and :meth:`Dashboard.stop`
wakes it with a connection of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from loguru import logger

from floradrop.ui import access, api

_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_MAX_BODY = 64 * 1024
_IDLE_SELECT_SECONDS = 3600.0  # the server thread's select() timeout: stop() wakes it


def _asset(name: str) -> bytes:
    return resources.files("floradrop.ui").joinpath("assets", name).read_bytes()


def _refused_page(reason: str) -> bytes:
    return (
        "<!doctype html><meta charset=utf-8><title>floradrop</title>"
        "<p>This is floradrop's dashboard. "
        f"{reason} Open it with <code>floradrop dashboard</code> or the tray's "
        "<b>Open dashboard</b>.</p>"
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = False  # never share the port with another process
    dashboard: Dashboard


class Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "floradrop"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # a client that stops sending frees its thread
    _GET: ClassVar[dict[str, str]] = {
        "/api/now": "now",
        "/api/history": "history_page",
        "/api/job": "job",
        "/api/spend": "spend",
    }

    # -- plumbing ---------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        # Never the query (/login carries the token) nor a malformed request line (it may).
        path = urlsplit(getattr(self, "path", "") or "").path
        outcome = args[1] if format.startswith('"%s"') and len(args) > 1 else "refused"
        logger.trace("dashboard: {} {} {}", self.command or "-", path, outcome)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy", _CSP)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _refuse(self, status: int, reason: str) -> None:
        if self.path.startswith("/api/"):
            self._json(status, {"error": reason})
        else:
            self._send(status, _refused_page(reason), "text/html; charset=utf-8")

    # -- access -----------------------------------------------------------------------------

    def _allowed(self, *, post: bool) -> bool:
        dash = self.server.dashboard
        host = self.headers.get("Host", "")
        if host not in access.allowed_hosts(dash.port):
            self._refuse(HTTPStatus.FORBIDDEN, "Wrong Host header.")
            return False
        if not dash.signed_in(self.headers):
            self._refuse(HTTPStatus.FORBIDDEN, "This needs the dashboard's token.")
            return False
        if post:
            origin = self.headers.get("Origin")
            if origin is not None and origin not in access.allowed_origins(dash.port):
                self._refuse(HTTPStatus.FORBIDDEN, "Cross-site request refused.")
                return False
            if not access.same(self.headers.get(access.CSRF_HEADER), dash.csrf):
                self._refuse(HTTPStatus.FORBIDDEN, "Missing or wrong CSRF header.")
                return False
        return True

    # -- methods ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        dash = self.server.dashboard
        if parts.path == "/login":
            self._login(dict(parse_qsl(parts.query)))
            return
        if not self._allowed(post=False):
            return
        params = dict(parse_qsl(parts.query))
        try:
            if parts.path in _ASSETS:
                name, content_type = _ASSETS[parts.path]
                body = _asset(name)
                if name == "index.html":
                    body = body.replace(b"{{CSRF}}", dash.csrf.encode())
                self._send(HTTPStatus.OK, body, content_type)
            elif parts.path in self._GET:
                route = getattr(api, self._GET[parts.path])
                data = (
                    route(dash.context) if parts.path == "/api/now" else route(dash.context, params)
                )
                self._json(HTTPStatus.OK, data)
            elif parts.path == "/api/thumb":
                image = api.thumb(dash.context, params)
                self._send(HTTPStatus.OK, image.read_bytes(), "image/jpeg")
            else:
                self._refuse(HTTPStatus.NOT_FOUND, "Not found.")
        except api.ApiError as exc:
            self._json(exc.status, {"error": exc.message})
        except Exception as exc:
            logger.opt(exception=exc).error("dashboard: {} failed", parts.path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc!r}"})

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        if not self._allowed(post=True):
            return
        dash = self.server.dashboard
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > _MAX_BODY:
                raise api.ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                raise api.ApiError(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "send JSON")
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise api.ApiError(HTTPStatus.BAD_REQUEST, "send a JSON object")
            if parts.path == "/api/action":
                self._json(HTTPStatus.OK, api.action(dash.context, body))
            elif parts.path == "/api/open":
                self._json(HTTPStatus.OK, api.open_path(dash.context, body))
            else:
                raise api.ApiError(HTTPStatus.NOT_FOUND, "not found")
        except api.ApiError as exc:
            self._json(exc.status, {"error": exc.message})
        except ValueError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": f"bad request: {exc}"})
        except Exception as exc:
            logger.opt(exception=exc).error("dashboard: {} failed", parts.path)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {exc!r}"})

    def _login(self, params: dict[str, str]) -> None:
        dash = self.server.dashboard
        if self.headers.get("Host", "") not in access.allowed_hosts(dash.port):
            self._refuse(HTTPStatus.FORBIDDEN, "Wrong Host header.")
            return
        if not access.same(params.get("token"), dash.secret):
            self._refuse(HTTPStatus.FORBIDDEN, "The link's token is wrong or missing.")
            return
        cookie = f"{dash.cookie_name}={dash.session}; Path=/; HttpOnly; SameSite=Strict"
        self._send(
            HTTPStatus.SEE_OTHER,
            b"",
            "text/plain",
            {"Location": "/", "Set-Cookie": cookie},
        )


class Dashboard:
    """The dashboard of one daemon: :meth:`start` serves it, :meth:`stop` ends it."""

    def __init__(self, state_dir: Path, port: int, context: api.Context) -> None:
        self.state_dir = state_dir
        self.requested_port = port
        self.port = port
        self.context = context
        self.secret = access.token(state_dir)
        self.csrf = access.csrf_token(self.secret)
        self.session = access.csrf_token(self.secret + "/session")
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def cookie_name(self) -> str:
        return f"{access.COOKIE}_{self.port}"

    def signed_in(self, headers: Any) -> bool:
        if access.same(headers.get(access.TOKEN_HEADER), self.secret):
            return True
        for part in (headers.get("Cookie") or "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.cookie_name and access.same(value, self.session):
                return True
        return False

    @property
    def address(self) -> access.Address:
        return access.Address(self.port, os.getpid())

    def start(self) -> access.Address | None:
        """Serve on 127.0.0.1; None (and a log line) if the port is taken."""
        try:
            server = _Server((access.HOST, self.requested_port), Handler)
        except OSError as exc:
            logger.warning(
                "the dashboard cannot listen on {}:{} ({}); set another [ui] port",
                access.HOST,
                self.requested_port,
                exc.strerror or exc,
            )
            return None
        server.dashboard = self
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": _IDLE_SELECT_SECONDS},
            name="floradrop-dashboard",
            daemon=True,
        )
        self._thread.start()
        self.address.publish(self.state_dir)
        logger.info("dashboard on {} ('floradrop dashboard' opens it)", self.address.url())
        return self.address

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        access.Address.withdraw(self.state_dir)
        stopper = threading.Thread(
            target=server.shutdown, name="floradrop-dashboard-stop", daemon=True
        )
        stopper.start()
        for _ in range(50):  # wake select(): shutdown() is seen after the next request
            with contextlib.suppress(OSError):
                socket.create_connection((access.HOST, self.port), timeout=1).close()
            stopper.join(0.1)
            if not stopper.is_alive():
                break
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
