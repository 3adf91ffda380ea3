"""The journal on one machine: a SQLite database (WAL) in the state directory.

Every job, durably, before any side effect. A job row is written when a settled file is
decided to be work, *before* anything is uploaded, and every stage moves it from one durable
state to the next with a compare-and-set transition (``Journal.transition``): the update
only happens if the job is still in the state the stage expects. After a crash at any instant,
the next start finds each job in its last durable state and resumes from there (see
``floradrop.engine``).

``synchronous=NORMAL`` in WAL mode survives a crash or SIGKILL of the process (what the kill
tests exercise); a power loss may roll back the last transitions, which the engine recovers
from like any other crash: a run create is always resolved through its idempotency key.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from floradrop.errors import FatalError
from floradrop.journal.base import Executor, Journal, Row

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id               INTEGER PRIMARY KEY,
    job_key          TEXT NOT NULL,      -- content hash + rule: the identity of a drop
    attempt          INTEGER NOT NULL DEFAULT 0,  -- bumped by `floradrop retry`
    folder           TEXT NOT NULL,      -- the watched folder (resolved path)
    rel_path         TEXT NOT NULL,      -- the file relative to the folder when it was dropped
    source_path      TEXT NOT NULL,      -- where the original is now
    size             INTEGER NOT NULL,
    mtime_ns         INTEGER NOT NULL,
    content_hash     TEXT NOT NULL,
    rule_index       INTEGER NOT NULL,
    technique        TEXT NOT NULL,
    run_cost         REAL,
    state            TEXT NOT NULL,
    idempotency_key  TEXT,
    assets           TEXT NOT NULL DEFAULT '{}',   -- input id -> {asset_id, url}
    inputs           TEXT NOT NULL DEFAULT '[]',   -- the run inputs as sent
    run_id           TEXT,
    poll_url         TEXT,
    progress         REAL NOT NULL DEFAULT 0,
    submit_started_at REAL,
    submitted_at     REAL,
    completed_at     REAL,
    cost             REAL,
    outputs          TEXT NOT NULL DEFAULT '[]',   -- per output: planned/written name, hash
    filed_path       TEXT,                          -- where the original was filed away
    error_code       TEXT,
    error_message    TEXT,
    error_hint       TEXT,
    report_path      TEXT,
    note             TEXT,
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL,
    finished_at      REAL,
    day              TEXT                           -- local day the cost counts for
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_key ON jobs(job_key);
CREATE INDEX IF NOT EXISTS jobs_source ON jobs(source_path);
CREATE INDEX IF NOT EXISTS jobs_run ON jobs(run_id);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS retry_requests (path TEXT PRIMARY KEY, requested_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS fixed_assets (
    path TEXT NOT NULL, content_hash TEXT NOT NULL, workspace_id TEXT NOT NULL,
    asset_id TEXT NOT NULL, url TEXT NOT NULL, uploaded_at REAL NOT NULL,
    PRIMARY KEY (path, content_hash, workspace_id)
);
"""

# Schema migrations: version -> the statements that bring version - 1 up to it. Applied in
# order, each in one transaction with its version bump, on opening an older journal.
_MIGRATIONS: dict[int, str] = {
    # The dashboard's history and spend (floradrop.history): newest first within a folder,
    # a technique or a state; by date; spend per day, folder and technique from the index alone;
    # the jobs per folder and state (the status snapshot's counts) from the index alone.
    2: """
    CREATE INDEX IF NOT EXISTS jobs_folder ON jobs(folder);
    CREATE INDEX IF NOT EXISTS jobs_folder_state ON jobs(folder, state);
    CREATE INDEX IF NOT EXISTS jobs_folder_finished ON jobs(folder, finished_at);
    CREATE INDEX IF NOT EXISTS jobs_technique ON jobs(technique);
    CREATE INDEX IF NOT EXISTS jobs_created ON jobs(created_at);
    CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(state, finished_at);
    CREATE INDEX IF NOT EXISTS jobs_spend ON jobs(day, folder, technique, cost);
    """,
}

# Columns added after the first schema: added to an older journal when it is opened.
_ADDED_COLUMNS = {
    "reserved": "REAL",  # the quote reserved against budgets when the job started uploading
    "approval": "TEXT",  # the big-drop guard: NULL (not reviewed), auto, asked, approved
}


class SqliteJournal(Journal):
    """The journal in one SQLite file. Thread-safe; one instance per process."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():  # private from the start: SQLite gives its WAL files this mode
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise FatalError(
                f"cannot open the journal {path}: {exc}",
                hint="check that the state directory is writable ([daemon] state_dir)",
            ) from exc
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in present:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
            # A journal without a version is version 1 (the tables above); migrate from there.
            self._db.execute(
                "INSERT OR IGNORE INTO settings(key, value) VALUES ('schema_version', '1')"
            )
            self._migrate()
        if path.exists():
            path.chmod(0o600)

    def _migrate(self) -> None:
        version = int(self.get_setting("schema_version", "1") or 1)
        if version > SCHEMA_VERSION:
            raise FatalError(
                f"the journal {self.path} was written by a newer floradrop "
                f"(schema {version}, this one knows {SCHEMA_VERSION}).",
                hint="upgrade floradrop, or point [daemon] state_dir at another folder",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self._tx() as db:
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(
                    "UPDATE settings SET value = ? WHERE key = 'schema_version'", (str(target),)
                )

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[Executor]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _read(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            rows: list[Row] = self._db.execute(query, tuple(args)).fetchall()
        return rows

    def _insert_job(self, db: Executor, columns: Sequence[str], values: Sequence[Any]) -> int:
        marks = ", ".join("?" for _ in columns)
        cursor = db.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({marks})", tuple(values)
        )
        job_id = cursor.lastrowid
        assert job_id is not None
        return int(job_id)

    def integrity_check(self) -> str:
        with self._lock:
            row = self._db.execute("PRAGMA integrity_check").fetchone()
        return str(row[0])
