"""The actions' durable queue: one row per action to run, in the journal's SQLite file.

An action (a command to run, a webhook to call) is written here when its job reaches done or
failed, and removed from the queue only once it ran (a command) or was delivered (a webhook),
so nothing is lost while a receiver is down or floradrop restarts. A separate connection to
the journal's file (WAL allows several); the table is ours alone.

Rows: ``pending`` (due at ``next_at``), then ``done``, ``failed`` (a command that failed: not
run again, it may have done half its work) or ``gave_up`` (a webhook undeliverable for
:data:`GIVE_UP_SECONDS`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

PENDING: Final = "pending"
DONE: Final = "done"
FAILED: Final = "failed"
GAVE_UP: Final = "gave_up"
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

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, job_id: int, event: str, kind: str, action: dict[str, Any], payload: str) -> bool:
        """Queue an action (once per job, event and action: a second add is ignored)."""
        now = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO action_outbox(job_id, event, kind, action, payload, "
                "status, next_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    event,
                    kind,
                    json.dumps(action, sort_keys=True),
                    payload,
                    PENDING,
                    now,
                    now,
                ),
            )
        return cursor.rowcount == 1

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

    def finish(self, item_id: int, status: str, error: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE action_outbox SET status = ?, finished_at = ?, last_error = ?, "
                "attempts = attempts + 1 WHERE id = ?",
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


def _item(row: sqlite3.Row) -> Item:
    data = dict(row)
    data.pop("finished_at", None)
    data["action"] = json.loads(data["action"])
    return Item(**data)
