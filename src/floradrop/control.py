"""The local control channel between ``floradrop pause|resume|status|retry`` and the daemon.

A Unix domain socket (a named pipe on Windows) via :mod:`multiprocessing.connection`, which
authenticates every connection with an HMAC challenge over a random key that only this user can
read (``<state_dir>/control.key``, mode 0600, new at every daemon start). Messages are JSON
documents sent with ``send_bytes``: never pickle. The socket lives in the private (0700) state
directory, or in a private temporary directory when that path is too long for a socket name.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import tempfile
import threading
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from loguru import logger

from floradrop.errors import DaemonNotRunningError
from floradrop.instance import DaemonInfo

KEY_NAME = "control.key"
_MAX_UNIX_PATH = 100

# The commands a daemon answers (its handler is in floradrop.cli.run_cmd). Every client, the
# CLI, the tray and the dashboard, sends these names; a reply is ``{"ok": true, ...}`` or
# ``{"ok": false, "error": TEXT, "exit": CODE}``.
STATUS = "status"  # reply: {"snapshot": Snapshot.to_json()}
PAUSE = "pause"  # args (optional): {"folder": PATH}: only that watched folder (the dashboard)
RESUME = "resume"  # args (optional): {"folder": PATH}
RELOAD = "reload"  # re-read the config file now
RETRY = "retry"  # args: {"path": PATH}; reply: {"message": TEXT}
QUIT = "quit"  # stop gracefully
# The big-drop guard and cancel (floradrop.money); the open questions are in the status
# snapshot's "questions". args: {"targets": [TARGET, ...]}: job ids, file paths, or watched
# folders (path or name); none: every held big drop. reply: {"count": N, "message": TEXT}.
APPROVE = "approve"  # start the jobs held for the user's go-ahead
CANCEL = "cancel"  # jobs whose run was not created: to the failed folder, with a report
# Past failures and the last error need no more attention (``floradrop ack``, the tray's
# "Acknowledge"). Live problems (offline, key, credits, budget, config) stay until fixed.
ACKNOWLEDGE = "acknowledge"
COMMANDS = (STATUS, PAUSE, RESUME, RELOAD, RETRY, QUIT, ACKNOWLEDGE, APPROVE, CANCEL)

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _family() -> str:
    return "AF_PIPE" if os.name == "nt" else "AF_UNIX"


def _address(state_dir: Path) -> tuple[str, Path | None]:
    """The socket address for ``state_dir``, and a private temp dir to remove (if one was made)."""
    if os.name == "nt":  # pragma: no cover - Windows only
        digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
        return rf"\\.\pipe\floradrop-{digest}", None
    candidate = state_dir / "control.sock"
    if len(str(candidate)) <= _MAX_UNIX_PATH:
        return str(candidate), None
    private = Path(tempfile.mkdtemp(prefix="floradrop-"))  # mkdtemp makes it 0700
    return str(private / "control.sock"), private


class ControlServer:
    """Serves control requests on a named thread until :meth:`stop`."""

    def __init__(self, state_dir: Path, handler: Handler) -> None:
        self.state_dir = state_dir
        self.handler = handler
        self.address: str | None = None
        self._authkey = b""
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._private_dir: Path | None = None

    def start(self) -> str:
        self._authkey = secrets.token_bytes(32)
        key_file = self.state_dir / KEY_NAME
        key_file.unlink(missing_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self._authkey.hex().encode())
        address, self._private_dir = _address(self.state_dir)
        if _family() == "AF_UNIX":
            Path(address).unlink(missing_ok=True)
        self._listener = Listener(address, family=_family(), authkey=self._authkey)
        if _family() == "AF_UNIX":
            Path(address).chmod(0o600)
        self.address = address
        self._thread = threading.Thread(target=self._serve, name="floradrop-control", daemon=True)
        self._thread.start()
        return address

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn = self._listener.accept()
            except Exception as exc:
                if not self._stopping.is_set():
                    logger.warning("control channel: refused a connection ({})", exc)
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: Connection) -> None:
        try:
            if not conn.poll(5):
                return
            request = json.loads(conn.recv_bytes(1 << 20))
            if self._stopping.is_set() and request.get("command") == "__wake__":
                return
            reply = self.handler(request)
        except Exception as exc:
            logger.opt(exception=exc).warning("control request failed")
            reply = {"ok": False, "error": str(exc)}
        with contextlib.suppress(OSError):
            conn.send_bytes(json.dumps(reply).encode())

    def _wake(self) -> None:
        assert self.address is not None
        with (
            contextlib.suppress(Exception),
            Client(self.address, family=_family(), authkey=self._authkey) as conn,
        ):
            conn.send_bytes(b'{"command": "__wake__"}')

    def stop(self) -> None:
        if self._listener is None or self._stopping.is_set():
            return
        self._stopping.set()
        assert self.address is not None
        # Wake accept() so the thread sees the flag. The thread may have seen it already and
        # left, and then nobody answers the handshake: never wait for it for long.
        waker = threading.Thread(target=self._wake, name="floradrop-control-wake", daemon=True)
        waker.start()
        if self._thread is not None:
            self._thread.join(5)
        waker.join(1)
        self._listener.close()
        (self.state_dir / KEY_NAME).unlink(missing_ok=True)
        if self._private_dir is not None:
            with contextlib.suppress(OSError):
                Path(self.address).unlink(missing_ok=True)
                self._private_dir.rmdir()


def request(state_dir: Path, command: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    """Send one command to the daemon of ``state_dir`` and return its reply.

    Raises :class:`DaemonNotRunningError` when no daemon answers.
    """
    info = DaemonInfo.read(state_dir)
    key_file = state_dir / KEY_NAME
    if info is None or not info.control_address or not key_file.exists():
        raise DaemonNotRunningError(
            f"no floradrop daemon is running for {state_dir}.",
            hint="start it with 'floradrop run'",
        )
    try:
        authkey = bytes.fromhex(key_file.read_text().strip())
        with Client(info.control_address, family=_family(), authkey=authkey) as conn:
            conn.send_bytes(json.dumps({"command": command, **args}).encode())
            if not conn.poll(timeout):
                raise DaemonNotRunningError(
                    f"the floradrop daemon (pid {info.pid}) did not answer within {timeout:g} s.",
                    hint="check its log; if it hangs, stop it and start it again",
                )
            reply: dict[str, Any] = json.loads(conn.recv_bytes(16 << 20))
            return reply
    except (OSError, EOFError, ValueError) as exc:
        raise DaemonNotRunningError(
            f"could not reach the floradrop daemon for {state_dir} ({exc}).",
            hint="start it with 'floradrop run' (it may have just stopped)",
        ) from exc
