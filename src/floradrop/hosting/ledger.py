"""The hosting ledger: what floradrop put in the bucket, and which uploads are half done.

A small SQLite file (``hosting.sqlite3``, WAL) in the state directory, next to the journal:

* ``uploads``: a multipart upload in progress (object key -> S3 ``UploadId``), written right
  after S3 hands out the id and *before* the first part is sent, so a restart after a crash
  continues that upload (the parts S3 already holds are not sent again) instead of starting
  a second one;
* ``objects``: every object floradrop wrote or reused, and when it last handed out a link to
  it, for the optional clean-up (``[hosting] cleanup_days``).

It holds object keys and upload ids only: no credential, no signature.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

LEDGER_NAME = "hosting.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    bucket TEXT NOT NULL, key TEXT NOT NULL, upload_id TEXT NOT NULL, started_at REAL NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
    uploaded_at REAL NOT NULL, last_used_at REAL NOT NULL,
    PRIMARY KEY (bucket, key)
);
"""


class Ledger:
    """Thread-safe: one connection, one lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def upload_id(self, bucket: str, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT upload_id FROM uploads WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def start_upload(self, bucket: str, key: str, upload_id: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?)",
                (bucket, key, upload_id, time.time()),
            )

    def end_upload(self, bucket: str, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM uploads WHERE bucket = ? AND key = ?", (bucket, key))

    def uploads_started_before(self, bucket: str, before: float) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, upload_id FROM uploads WHERE bucket = ? AND started_at < ?",
                (bucket, before),
            ).fetchall()
        return [(str(r[0]), str(r[1])) for r in rows]

    def used(self, bucket: str, key: str, size: int) -> None:
        """Record that a link to ``key`` was just handed out (the object exists)."""
        now = time.time()
        with self._lock:
            self._conn.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?, ?) ON CONFLICT (bucket, key) "
                "DO UPDATE SET last_used_at = excluded.last_used_at, size = excluded.size",
                (bucket, key, size, now, now),
            )

    def unused_since(self, bucket: str, before: float) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key FROM objects WHERE bucket = ? AND last_used_at < ? ORDER BY key",
                (bucket, before),
            ).fetchall()
        return [str(r[0]) for r in rows]

    def forget(self, bucket: str, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))

    def objects(self, bucket: str) -> list[tuple[str, int]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, size FROM objects WHERE bucket = ? ORDER BY key", (bucket,)
            ).fetchall()
        return [(str(r[0]), int(r[1])) for r in rows]
