"""The actions' durable queue: one row per action to run, in the journal's SQLite file.

An action (a command to run, a webhook to call) is written here *before* its job's last
transition (``armed``), queued to run once the job is done or failed (``pending``), and
taken off the queue only once it ran (a command) or was delivered (a webhook), so nothing is
lost while a receiver is down, floradrop restarts or crashes. A separate connection to the
journal's file (WAL allows several); the table is ours alone.

Rows: ``armed`` (the job is about to finish: after a crash, :meth:`Outbox.armed` finds the
rows whose job did finish and they are queued then), ``pending`` (due at ``next_at``), then
``done``, ``failed`` (a command that failed: not run again, it may have done half its work),
``gave_up`` (a webhook undeliverable for :data:`GIVE_UP_SECONDS`) or ``void`` (armed for an
end the job did not reach: armed for done, and it failed).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ARMED: Final = "armed"
PENDING: Final = "pending"
DONE: Final = "done"
FAILED: Final = "failed"
GAVE_UP: Final = "gave_up"
VOID: Final = "void"
GIVE_UP_SECONDS: Final = 3 * 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS action_outbox (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL,
    event       TEXT NOT NULL,      -- done / failed
    kind        TEXT NOT NULL,      -- command / webhook
    action      TEXT NOT NULL,      -- the action's settings (JSON; never a secret)
    payload     TEXT NOT NULL,      -- the provenance (JSON)
    status      TEXT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     REAL NOT NULL,
    created_at  REAL NOT NULL,
    finished_at REAL,
    last_error  TEXT,
    running     TEXT,               -- a command's process while it runs (JSON: pid, start)
    UNIQUE (job_id, event, kind, action)
);
CREATE INDEX IF NOT EXISTS action_outbox_due ON action_outbox(status, kind, next_at);
"""


@dataclass(frozen=True)
class Item:
    id: int
    job_id: int
    event: str
    kind: str
    action: dict[str, Any]
    payload: str
    status: str
    attempts: int
    next_at: float
    created_at: float
    last_error: str | None


class Outbox:
    """Thread-safe; one per engine."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(action_outbox)")}
            if "running" not in columns:  # an outbox from before commands were tracked
                self._db.execute("ALTER TABLE action_outbox ADD COLUMN running TEXT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def arm(self, job_id: int, event: str, kind: str, action: dict[str, Any], payload: str) -> None:
        """Write an action down before its job finishes (a row already there is kept)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO action_outbox(job_id, event, kind, action, payload, "
                "status, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, event, kind, _key(action), payload, ARMED, now, now),
            )

    def add(self, job_id: int, event: str, kind: str, action: dict[str, Any], payload: str) -> bool:
        """Queue an action to run now, with the finished job's ``payload``: an armed row
        becomes pending; an action already queued or run for this job and event is left
        alone (never run twice). True when it was queued here."""
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO action_outbox(job_id, event, kind, action, payload, status, "
                "next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (job_id, event, kind, action) DO UPDATE SET status = excluded.status, "
                "payload = excluded.payload, next_at = excluded.next_at, "
                "created_at = excluded.created_at WHERE status = ?",
                (job_id, event, kind, _key(action), payload, PENDING, now, now, ARMED),
            )
        return cursor.rowcount == 1

    def void(self, job_id: int, keep_event: str) -> None:
        """The job finished as ``keep_event``: rows armed for its other end never run."""
        with self._lock:
            self._db.execute(
                "UPDATE action_outbox SET status = ?, finished_at = ? "
                "WHERE job_id = ? AND status = ? AND event != ?",
                (VOID, time.time(), job_id, ARMED, keep_event),
            )

    def armed(self) -> list[Item]:
        """Rows armed and never queued: after a crash, some belong to finished jobs."""
        return self.items(ARMED)

    def due(self, kind: str, now: float, limit: int = 20) -> list[Item]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM action_outbox WHERE status = ? AND kind = ? AND next_at <= ? "
                "ORDER BY next_at, id LIMIT ?",
                (PENDING, kind, now, limit),
            ).fetchall()
        return [_item(row) for row in rows]

    def next_due(self, kind: str) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_at) FROM action_outbox WHERE status = ? AND kind = ?",
                (PENDING, kind),
            ).fetchone()
        return None if row[0] is None else float(row[0])

    def running(self, item_id: int, process: dict[str, Any] | None) -> None:
        """Note the process a command runs in (None: it ended), so that one a crash left
        running can be stopped at the next start before it runs again."""
        with self._lock:
            self._db.execute(
                "UPDATE action_outbox SET running = ? WHERE id = ?",
                (None if process is None else json.dumps(process), item_id),
            )

    def left_running(self) -> list[tuple[int, dict[str, Any]]]:
        """Commands noted as running (after a crash: perhaps still running)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, running FROM action_outbox WHERE running IS NOT NULL"
            ).fetchall()
        return [(int(row[0]), json.loads(row[1])) for row in rows]

    def finish(self, item_id: int, status: str, error: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE action_outbox SET status = ?, finished_at = ?, last_error = ?, "
                "running = NULL, attempts = attempts + 1 WHERE id = ?",
                (status, time.time(), error, item_id),
            )

    def retry_at(self, item_id: int, when: float, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE action_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? "
                "WHERE id = ?",
                (when, error, item_id),
            )

    def items(self, status: str | None = None) -> list[Item]:
        query, args = "SELECT * FROM action_outbox", []
        if status is not None:
            query, args = query + " WHERE status = ?", [status]
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [_item(row) for row in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT status, COUNT(*) FROM action_outbox GROUP BY status"
            ).fetchall()
        return {row[0]: int(row[1]) for row in rows}


def _key(action: dict[str, Any]) -> str:
    return json.dumps(action, sort_keys=True)


def _item(row: sqlite3.Row) -> Item:
    data = dict(row)
    data.pop("finished_at", None)
    data.pop("running", None)
    data["action"] = json.loads(data["action"])
    return Item(**data)
