"""The journal: every job, durably, before any side effect.

A SQLite database (WAL) in the state directory. A job row is written when a settled file is
decided to be work, *before* anything is uploaded, and every stage moves it from one durable
state to the next with a compare-and-set transition (:meth:`Journal.transition`): the update
only happens if the job is still in the state the stage expects. After a crash at any instant,
the next start finds each job in its last durable state and resumes from there (see
``floradrop.engine``).

``synchronous=NORMAL`` in WAL mode survives a crash or SIGKILL of the process (what the kill
tests exercise); a power loss may roll back the last transitions, which the engine recovers
from like any other crash: a run create is always resolved through its idempotency key.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from floradrop import budget
from floradrop.errors import FatalError
from floradrop.jobs import ACTIVE_STATES, JobState, check

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

_JSON_FIELDS = frozenset({"assets", "inputs", "outputs"})

# Columns added after the first schema: added to an older journal when it is opened.
_ADDED_COLUMNS = {
    "reserved": "REAL",  # the quote reserved against budgets when the job started uploading
    "approval": "TEXT",  # the big-drop guard: NULL (not reviewed), auto, asked, approved
}
# A reservation counts against budgets while its job is in one of these states, until the
# run's charged cost is known (then the spend counts).
_RESERVING = tuple(s.value for s in ACTIVE_STATES)


@dataclass(frozen=True)
class Job:
    """One row of the journal, as read at one instant."""

    id: int
    job_key: str
    attempt: int
    folder: str
    rel_path: str
    source_path: str
    size: int
    mtime_ns: int
    content_hash: str
    rule_index: int
    technique: str
    run_cost: float | None
    state: JobState
    idempotency_key: str | None
    assets: dict[str, Any]
    inputs: list[Any]
    run_id: str | None
    poll_url: str | None
    progress: float
    submit_started_at: float | None
    submitted_at: float | None
    completed_at: float | None
    cost: float | None
    outputs: list[Any]
    filed_path: str | None
    error_code: str | None
    error_message: str | None
    error_hint: str | None
    report_path: str | None
    note: str | None
    created_at: float
    updated_at: float
    finished_at: float | None
    day: str | None
    reserved: float | None = None
    approval: str | None = None

    @property
    def name(self) -> str:
        return Path(self.rel_path).name

    @classmethod
    def _from_row(cls, row: sqlite3.Row) -> Job:
        data = dict(row)
        for name in _JSON_FIELDS:
            data[name] = json.loads(data[name])
        data["state"] = JobState(data["state"])
        return cls(**data)


class StaleTransition(Exception):  # noqa: N818 - a signal, not an error a person sees
    """The job was not in the expected state (another stage or a retry moved it)."""


def today(now: float | None = None) -> str:
    """The local calendar day a cost counts for (budgets reset at local midnight)."""
    return date.fromtimestamp(time.time() if now is None else now).isoformat()


class Journal:
    """Thread-safe access to the journal database. One instance per process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._paused_folders: frozenset[str] | None = None
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

    def select(self, query: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """A read-only query (``floradrop.history`` builds its searches with this)."""
        with self._lock:
            return self._db.execute(query, tuple(args)).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- jobs ---------------------------------------------------------------------------------

    def add_job(self, **fields: Any) -> Job:
        """Insert a new job (state given in ``fields``) and return it."""
        now = time.time()
        fields.setdefault("created_at", now)
        fields["updated_at"] = now
        fields["state"] = JobState(fields["state"]).value
        if JobState(fields["state"]).terminal:  # e.g. a duplicate: finished as it is journaled
            fields.setdefault("finished_at", now)
        for name in _JSON_FIELDS & fields.keys():
            fields[name] = json.dumps(fields[name])
        columns = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        with self._tx() as db:
            cursor = db.execute(
                f"INSERT INTO jobs ({columns}) VALUES ({marks})", tuple(fields.values())
            )
            job_id = cursor.lastrowid
        assert job_id is not None
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise KeyError(job_id)
        return Job._from_row(row)

    def transition(
        self,
        job_id: int,
        expected: JobState | Iterable[JobState],
        new: JobState | None = None,
        **fields: Any,
    ) -> Job:
        """Compare-and-set: update the job only if it is in one of the ``expected`` states.

        Raises :class:`StaleTransition` otherwise, and :class:`floradrop.jobs.IllegalTransition`
        for a change of state that is not an edge of the state machine. ``fields`` are written
        in the same transaction; JSON fields (assets, inputs, outputs) take Python objects.
        """
        states = [expected] if isinstance(expected, JobState) else list(expected)
        check(states, new)  # only the edges of the state machine (floradrop.jobs)
        now = time.time()
        if new is not None:
            fields["state"] = new.value
            if new.terminal:
                fields.setdefault("finished_at", now)
        fields["updated_at"] = now
        for name in _JSON_FIELDS & fields.keys():
            fields[name] = json.dumps(fields[name])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        marks = ", ".join("?" for _ in states)
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? AND state IN ({marks})",
                (*fields.values(), job_id, *(s.value for s in states)),
            )
            if cursor.rowcount != 1:
                raise StaleTransition(job_id)
        return self.get(job_id)

    def jobs(
        self,
        states: Iterable[JobState] | None = None,
        *,
        folder: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        created_since: float | None = None,
        skip_folders: Iterable[str] = (),
    ) -> list[Job]:
        query = "SELECT * FROM jobs"
        where: list[str] = []
        args: list[Any] = []
        skipped = list(skip_folders)
        if skipped:
            where.append(f"folder NOT IN ({', '.join('?' for _ in skipped)})")
            args.extend(skipped)
        if states is not None:
            state_list = [s.value for s in states]
            where.append(f"state IN ({', '.join('?' for _ in state_list)})")
            args.extend(state_list)
        if folder is not None:
            where.append("folder = ?")
            args.append(folder)
        if created_since is not None:
            where.append("created_at >= ?")
            args.append(created_since)
        if where:
            query += " WHERE " + " AND ".join(where)
        query += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [Job._from_row(r) for r in rows]

    def startable(self, limit: int) -> list[Job]:
        """Waiting jobs, oldest first, except in folders paused on their own."""
        return self.jobs([JobState.WAITING], limit=limit, skip_folders=self.paused_folders)

    def find_by_key(self, job_key: str) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE job_key = ? ORDER BY id", (job_key,)
            ).fetchall()
        return [Job._from_row(r) for r in rows]

    def find_by_source(self, source_path: str) -> list[Job]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE source_path = ? ORDER BY id", (source_path,)
            ).fetchall()
        return [Job._from_row(r) for r in rows]

    def known_run_ids(self) -> set[str]:
        with self._lock:
            rows = self._db.execute("SELECT run_id FROM jobs WHERE run_id IS NOT NULL").fetchall()
        return {r[0] for r in rows}

    def counts(self) -> dict[str, dict[str, int]]:
        """folder -> state -> number of jobs."""
        with self._lock:
            rows = self._db.execute(
                "SELECT folder, state, COUNT(*) FROM jobs GROUP BY folder, state"
            ).fetchall()
        result: dict[str, dict[str, int]] = {}
        for folder, state, count in rows:
            result.setdefault(folder, {})[state] = count
        return result

    def finished_since(self, since: float, state: JobState) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) FROM jobs WHERE state = ? AND finished_at >= ?",
                (state.value, since),
            ).fetchone()
        return int(row[0])

    def spend(self, day: str, folder: str | None = None) -> float:
        """What was charged on ``day`` (from ``charged_cost``), for one folder or all."""
        query = "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE day = ?"
        args: list[Any] = [day]
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        return float(row[0])

    def spend_between(self, first: str, last: str, folder: str | None = None) -> float:
        """What was charged from day ``first`` to day ``last`` (ISO dates, both included)."""
        query = "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE day >= ? AND day <= ?"
        args: list[Any] = [first, last]
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        with self._lock:
            row = self._db.execute(query, args).fetchone()
        return float(row[0])

    def reserved(self, folder: str | None = None) -> float:
        """Money reserved by runs started but not yet charged (counted against budgets)."""
        with self._lock:
            return self._reserved(self._db, folder)

    def committed(self, folder: str | None = None) -> float:
        """Alias of :meth:`reserved` (the name older callers use)."""
        return self.reserved(folder)

    @staticmethod
    def _reserved(db: sqlite3.Connection, folder: str | None) -> float:
        query = (
            # (a job in flight from before reservations existed counts its quote)
            "SELECT COALESCE(SUM(COALESCE(reserved, run_cost)), 0) FROM jobs WHERE cost IS NULL "
            f"AND state IN ({', '.join('?' for _ in _RESERVING)})"
        )
        args: list[Any] = list(_RESERVING)
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        return float(db.execute(query, args).fetchone()[0])

    @staticmethod
    def _spent(db: sqlite3.Connection, day: str, folder: str | None) -> float:
        query = "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE day = ?"
        args: list[Any] = [day]
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        return float(db.execute(query, args).fetchone()[0])

    def usage(self, day: str, limit: budget.Limit) -> budget.Usage:
        with self._lock:
            return budget.Usage(
                self._spent(self._db, day, limit.folder), self._reserved(self._db, limit.folder)
            )

    def start_within_budget(
        self, job_id: int, cost: float, limits: Sequence[budget.Limit], day: str
    ) -> tuple[Job, budget.Hold | None]:
        """WAITING -> UPLOADING with ``cost`` reserved, if it fits every budget in ``limits``;
        else WAITING -> HELD (the hold's message in the note). One transaction: concurrent
        workers, in this process or another, each see the reservations made before theirs.

        Raises :class:`StaleTransition` if the job is not waiting.
        """
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row[0] != JobState.WAITING.value:
                raise StaleTransition(job_id)
            usages = [
                (
                    limit,
                    budget.Usage(
                        self._spent(db, day, limit.folder), self._reserved(db, limit.folder)
                    ),
                )
                for limit in limits
            ]
            hold = budget.first_hold(cost, usages)
            if hold is None:
                db.execute(
                    "UPDATE jobs SET state = ?, reserved = ?, updated_at = ? WHERE id = ?",
                    (JobState.UPLOADING.value, cost, now, job_id),
                )
            else:
                db.execute(
                    "UPDATE jobs SET state = ?, note = ?, updated_at = ? WHERE id = ?",
                    (JobState.HELD.value, hold.message, now, job_id),
                )
        return self.get(job_id), hold

    # -- settings ----------------------------------------------------------------------------

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else str(row[0])

    def set_setting(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO settings(key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    @property
    def paused(self) -> bool:
        return self.get_setting("paused", "0") == "1"

    def set_paused(self, paused: bool) -> None:
        self.set_setting("paused", "1" if paused else "0")

    @property
    def paused_folders(self) -> frozenset[str]:
        """Watched folders paused on their own (the dashboard's "Pause folder"): their
        waiting jobs are not started. Kept in memory too: the scheduler asks every round."""
        if self._paused_folders is None:
            self._paused_folders = frozenset(
                json.loads(self.get_setting("paused_folders", "[]") or "[]")
            )
        return self._paused_folders

    def set_folder_paused(self, folder: str, paused: bool) -> None:
        folders = set(self.paused_folders)
        if paused:
            folders.add(folder)
        else:
            folders.discard(folder)
        self.set_setting("paused_folders", json.dumps(sorted(folders)))
        self._paused_folders = frozenset(folders)

    # -- deliberate re-runs (`floradrop retry`) ---------------------------------------------

    def add_retry_request(self, path: str) -> None:
        """The next time the file at ``path`` settles, run it again even if it was done."""
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO retry_requests VALUES (?, ?)", (path, time.time()))

    def take_retry_request(self, path: str) -> bool:
        """Consume the re-run request for ``path``, if there is one."""
        with self._tx() as db:
            cursor = db.execute("DELETE FROM retry_requests WHERE path = ?", (path,))
            return cursor.rowcount > 0

    # -- fixed assets (a `path` binding uploaded once, reused while unchanged) -----------------

    def fixed_asset(
        self, path: str, content_hash: str, workspace_id: str
    ) -> Mapping[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT asset_id, url FROM fixed_assets WHERE path = ? AND content_hash = ? "
                "AND workspace_id = ?",
                (path, content_hash, workspace_id),
            ).fetchone()
        return None if row is None else dict(row)

    def remember_fixed_asset(
        self, path: str, content_hash: str, workspace_id: str, asset_id: str, url: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO fixed_assets VALUES (?, ?, ?, ?, ?, ?)",
                (path, content_hash, workspace_id, asset_id, url, time.time()),
            )

    def integrity_check(self) -> str:
        with self._lock:
            row = self._db.execute("PRAGMA integrity_check").fetchone()
        return str(row[0])


def start_of_today(now: float | None = None) -> float:
    moment = datetime.fromtimestamp(time.time() if now is None else now)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
