"""Who may use the dashboard: whoever holds this install's token, from this machine.

* The token is made once per install (``<state_dir>/ui.token``, mode 0600, readable only by
  this user) and kept: ``floradrop dashboard`` and the tray open ``/login?token=…``, which
  sets a ``SameSite=Strict; HttpOnly`` cookie and redirects to ``/`` so the token leaves the
  address bar. Every other request needs that cookie (or the token in ``X-Floradrop-Token``).
* The Host header must be ``127.0.0.1:PORT`` or ``localhost:PORT``: a page on another site
  whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
* A change of state is a POST that carries, besides the cookie, a second token in the
  ``X-Floradrop-CSRF`` header, which only the dashboard page itself knows (it is in the page,
  and no other site can read the page: there are no CORS headers). A cross-site form cannot
  set that header, and SameSite=Strict keeps the cookie off cross-site requests anyway.

The server binds 127.0.0.1 only (like Syncthing's GUI default, whose API key and CSRF header
and Host check are the model here).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

TOKEN_NAME = "ui.token"  # noqa: S105 - a file name
ADDRESS_NAME = "dashboard.json"  # where the running dashboard says its port
COOKIE = "floradrop_ui"
TOKEN_HEADER = "X-Floradrop-Token"  # noqa: S105 - a header name
CSRF_HEADER = "X-Floradrop-CSRF"
HOST = "127.0.0.1"


def token(state_dir: Path) -> str:
    """This install's dashboard token: read, or made once (0600) and kept."""
    path = state_dir / TOKEN_NAME
    try:
        existing = path.read_text("ascii").strip()
    except FileNotFoundError:
        existing = ""
    if len(existing) >= 32:
        return existing
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    value = secrets.token_urlsafe(32)
    temp = path.with_name(f".{TOKEN_NAME}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value + "\n")
    temp.replace(path)
    return value


def csrf_token(secret: str) -> str:
    """The page's second token, derived from the first (so it survives a restart)."""
    return hmac.new(secret.encode(), b"floradrop-csrf", hashlib.sha256).hexdigest()


def same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def allowed_origins(port: int) -> frozenset[str]:
    return frozenset(f"http://{host}" for host in allowed_hosts(port))


@dataclass(frozen=True)
class Address:
    """Where the running daemon's dashboard listens (``<state_dir>/dashboard.json``)."""

    port: int
    pid: int

    def url(self, secret: str | None = None) -> str:
        base = f"http://{HOST}:{self.port}/"
        return f"{base}login?token={secret}" if secret else base

    def publish(self, state_dir: Path) -> None:
        path = state_dir / ADDRESS_NAME
        temp = path.with_name(f".{ADDRESS_NAME}.{os.getpid()}")
        temp.unlink(missing_ok=True)
        # Private like every file in the state dir (the trust-boundary test checks them all).
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(temp, flags, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"port": self.port, "pid": self.pid}))
        temp.replace(path)

    @classmethod
    def read(cls, state_dir: Path) -> Address | None:
        try:
            data = json.loads((state_dir / ADDRESS_NAME).read_text("utf-8"))
            return cls(int(data["port"]), int(data["pid"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def withdraw(state_dir: Path) -> None:
        (state_dir / ADDRESS_NAME).unlink(missing_ok=True)
