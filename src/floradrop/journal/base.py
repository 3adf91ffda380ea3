"""The journal's interface and everything its two implementations share.

:class:`Journal` holds the queries (written once, with ``?`` placeholders) and the rules of
the journal: compare-and-set transitions, budgets reserved in the same transaction as the
start of a run, settings, retry requests, fixed assets. An implementation supplies the
connection and the few statements its database spells differently:

* :class:`floradrop.journal.sqlite.SqliteJournal`: one SQLite file (WAL) in the state
  directory, the default for one machine;
* :class:`floradrop.journal.postgres.PostgresJournal`: a PostgreSQL database shared by the
  daemons of a team (``[journal] url = "postgresql://..."``), with claims, leases and fencing.
"""

from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from floradrop import budget
from floradrop.errors import TransientError
from floradrop.jobs import ACTIVE_STATES, JobState, check

JSON_FIELDS = frozenset({"assets", "inputs", "outputs"})

# A reservation counts against budgets while its job is in one of these states, until the
# run's charged cost is known (then the spend counts).
RESERVING = tuple(s.value for s in ACTIVE_STATES)


class Row(Protocol):
    """A result row: by position (``row[0]``) and by column name (``row["state"]``)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Executor(Protocol):
    """What a transaction offers: ``execute`` returns a cursor (``rowcount``, ``fetch*``)."""

    def execute(self, sql: str, args: Sequence[Any] = ..., /) -> Any: ...


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
    owner: str | None = None  # team mode: the member that works on the job now

    @property
    def name(self) -> str:
        return Path(self.rel_path).name

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Job:
        for name in JSON_FIELDS:
            if isinstance(data[name], str):
                data[name] = json.loads(data[name])
        data["state"] = JobState(data["state"])
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def _from_row(cls, row: Row) -> Job:
        return cls.from_mapping({k: row[k] for k in row.keys()})  # noqa: SIM118 - a Row


class StaleTransition(Exception):  # noqa: N818 - a signal, not an error a person sees
    """The job was not in the expected state (another stage or a retry moved it), or, in
    team mode, this daemon no longer owns it (its lease expired and another took it over)."""


class JournalUnreachableError(TransientError):
    """The team's database cannot be reached: intake pauses, and work resumes by itself when
    it is back (every job stays in its durable state)."""

    title = "The team's journal cannot be reached"


class AlreadyAdmitted(StaleTransition):
    """This drop (content and rule, at this attempt) is already a job: another daemon of the
    team admitted it first."""


def today(now: float | None = None) -> str:
    """The local calendar day a cost counts for (budgets reset at local midnight)."""
    return date.fromtimestamp(time.time() if now is None else now).isoformat()


def start_of_today(now: float | None = None) -> float:
    moment = datetime.fromtimestamp(time.time() if now is None else now)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def placeholders(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values)


class Journal(ABC):
    """Thread-safe access to the journal. One instance per process.

    ``path`` is the local SQLite file: the journal itself by default, the action outbox's home
    in team mode (actions are run by the daemon that owns the job).
    """

    path: Path
    #: True when the journal is shared by several daemons (claims and leases apply).
    shared = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Journal:
        """``Journal(path)``, the name older code opens the SQLite file with, still does:
        it makes a :class:`~floradrop.journal.sqlite.SqliteJournal` (new code names it)."""
        if cls is Journal:
            from floradrop.journal.sqlite import SqliteJournal

            return super().__new__(SqliteJournal)
        return super().__new__(cls)

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._paused_folders: frozenset[str] | None = None
        self._paused_folders_at = 0.0

    # -- what an implementation supplies --------------------------------------------------------

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Executor]:
        """One write transaction (serialised with every other writer of the journal)."""

    @abstractmethod
    def _read(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        """One read-only query, outside any transaction of the caller."""

    @abstractmethod
    def _insert_job(self, db: Executor, columns: Sequence[str], values: Sequence[Any]) -> int:
        """Insert one job row; return its id."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def integrity_check(self) -> str:
        """ "ok", or what the database found wrong."""

    # Team mode hooks (no-ops for one machine).

    def _fence(self, adopt: bool = False) -> tuple[str, list[Any]]:
        """A condition every update of a job adds: "this daemon may act on it"."""
        return "", []

    def _claim_fields(self) -> dict[str, Any]:
        """Columns set when a job is started (the claim)."""
        return {}

    def _lock_for_start(self, db: Executor, job_id: int) -> Row | None:
        """Read (and lock) the job about to be started; None: missing or taken."""
        row: Row | None = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row

    def _to_store(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Job fields as the store keeps them (team mode: paths relative to folders)."""
        return fields

    def _mine(self) -> tuple[str, list[Any]] | None:
        """A condition for "the jobs this daemon works on" (None: all of them)."""
        return None

    def _paused_folders_ttl(self) -> float:
        """How long the paused-folders list is trusted from memory (forever on one machine:
        only this process changes it)."""
        return float("inf")

    def create_lock(self, technique: str, *, alone: bool = False) -> AbstractContextManager[object]:
        """Held around a run create (shared) or a run-list search (``alone``): in team mode
        no member creates a run of ``technique`` while any member searches the run list for
        the run of a create whose answer was lost (on one machine the submitter's own gate
        does this)."""
        return nullcontext()

    def intake_lock(self, folder: str, rel_path: str) -> AbstractContextManager[object]:
        """Held while one file is admitted: in team mode, no two daemons admit one file at
        once (each may scan every folder)."""
        return nullcontext()

    # -- queries -----------------------------------------------------------------------------

    def select(self, query: str, args: Iterable[Any] = ()) -> list[Row]:
        """A read-only query (``floradrop.history`` builds its searches with this)."""
        return self._read(query, tuple(args))

    def add_job(self, **fields: Any) -> Job:
        """Insert a new job (state given in ``fields``) and return it."""
        now = time.time()
        fields.setdefault("created_at", now)
        fields["updated_at"] = now
        fields["state"] = JobState(fields["state"]).value
        if JobState(fields["state"]).terminal:  # e.g. a duplicate: finished as it is journaled
            fields.setdefault("finished_at", now)
        fields = self._to_store(fields)
        for name in JSON_FIELDS & fields.keys():
            fields[name] = json.dumps(fields[name])
        with self._tx() as db:
            job_id = self._insert_job(db, list(fields), list(fields.values()))
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        rows = self._read("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise KeyError(job_id)
        return Job._from_row(rows[0])

    def transition(
        self,
        job_id: int,
        expected: JobState | Iterable[JobState],
        new: JobState | None = None,
        *,
        adopt: bool = False,
        **fields: Any,
    ) -> Job:
        """Compare-and-set: update the job only if it is in one of the ``expected`` states.

        Raises :class:`StaleTransition` otherwise (and, in team mode, when this daemon does
        not own the job, unless ``adopt``: it takes the job, which only a run-list search
        holding the team's create lock alone may do), and
        :class:`floradrop.jobs.IllegalTransition` for a change of state that is not an edge of
        the state machine. ``fields`` are written in the same transaction; JSON fields
        (assets, inputs, outputs) take Python objects.
        """
        states = [expected] if isinstance(expected, JobState) else list(expected)
        check(states, new)  # only the edges of the state machine (floradrop.jobs)
        now = time.time()
        if new is not None:
            fields["state"] = new.value
            if new.terminal:
                fields.setdefault("finished_at", now)
        fields["updated_at"] = now
        if adopt:
            fields.update(self._claim_fields())
        fields = self._to_store(fields)
        for name in JSON_FIELDS & fields.keys():
            fields[name] = json.dumps(fields[name])
        assignments = ", ".join(f"{name} = ?" for name in fields)
        fence, fence_args = self._fence(adopt)
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? "
                f"AND state IN ({placeholders(states)}){fence}",
                (*fields.values(), job_id, *(s.value for s in states), *fence_args),
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
        where: tuple[str, Sequence[Any]] | None = None,
        mine: bool = False,
    ) -> list[Job]:
        """Jobs, oldest first (or newest); ``mine``: only those this daemon works on (in team
        mode the ones it owns; on one machine all of them)."""
        query = "SELECT * FROM jobs"
        clauses: list[str] = []
        args: list[Any] = []
        skipped = list(skip_folders)
        if skipped:
            clauses.append(f"folder NOT IN ({placeholders(skipped)})")
            args.extend(skipped)
        if states is not None:
            state_list = [s.value for s in states]
            clauses.append(f"state IN ({placeholders(state_list)})")
            args.extend(state_list)
        if folder is not None:
            clauses.append("folder = ?")
            args.append(folder)
        if created_since is not None:
            clauses.append("created_at >= ?")
            args.append(created_since)
        for condition in (where, self._mine() if mine else None):
            if condition is not None:
                clauses.append(condition[0])
                args.extend(condition[1])
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY id DESC" if newest_first else " ORDER BY id"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        return [Job._from_row(r) for r in self._read(query, args)]

    def startable(self, limit: int) -> list[Job]:
        """Waiting jobs, oldest first, except in folders paused on their own."""
        return self.jobs([JobState.WAITING], limit=limit, skip_folders=self.paused_folders)

    def find_by_key(self, job_key: str) -> list[Job]:
        rows = self._read("SELECT * FROM jobs WHERE job_key = ? ORDER BY id", (job_key,))
        return [Job._from_row(r) for r in rows]

    def find_by_source(self, source_path: str) -> list[Job]:
        rows = self._read("SELECT * FROM jobs WHERE source_path = ? ORDER BY id", (source_path,))
        return [Job._from_row(r) for r in rows]

    def known_run_ids(self) -> set[str]:
        rows = self._read("SELECT run_id FROM jobs WHERE run_id IS NOT NULL")
        return {r[0] for r in rows}

    def counts(self) -> dict[str, dict[str, int]]:
        """folder -> state -> number of jobs."""
        rows = self._read("SELECT folder, state, COUNT(*) FROM jobs GROUP BY folder, state")
        result: dict[str, dict[str, int]] = {}
        for folder, state, count in rows:
            result.setdefault(folder, {})[state] = int(count)
        return result

    def finished_since(self, since: float, state: JobState) -> int:
        rows = self._read(
            "SELECT COUNT(*) FROM jobs WHERE state = ? AND finished_at >= ?",
            (state.value, since),
        )
        return int(rows[0][0])

    def spend(self, day: str, folder: str | None = None) -> float:
        """What was charged on ``day`` (from ``charged_cost``), for one folder or all."""
        return self.spend_between(day, day, folder)

    def spend_between(self, first: str, last: str, folder: str | None = None) -> float:
        """What was charged from day ``first`` to day ``last`` (ISO dates, both included)."""
        query = "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE day >= ? AND day <= ?"
        args: list[Any] = [first, last]
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        return float(self._read(query, args)[0][0])

    def reserved(self, folder: str | None = None) -> float:
        """Money reserved by runs started but not yet charged (counted against budgets)."""
        query, args = self._reserved_query(folder)
        return float(self._read(query, args)[0][0])

    def committed(self, folder: str | None = None) -> float:
        """Alias of :meth:`reserved` (the name older callers use)."""
        return self.reserved(folder)

    @staticmethod
    def _reserved_query(folder: str | None) -> tuple[str, list[Any]]:
        query = (
            # (a job in flight from before reservations existed counts its quote)
            "SELECT COALESCE(SUM(COALESCE(reserved, run_cost)), 0) FROM jobs WHERE cost IS NULL "
            f"AND state IN ({placeholders(RESERVING)})"
        )
        args: list[Any] = list(RESERVING)
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        return query, args

    @staticmethod
    def _spent_query(day: str, folder: str | None) -> tuple[str, list[Any]]:
        query = "SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE day = ?"
        args: list[Any] = [day]
        if folder is not None:
            query += " AND folder = ?"
            args.append(folder)
        return query, args

    def usage(self, day: str, limit: budget.Limit) -> budget.Usage:
        spent, reserved = self._spent_query(day, limit.folder), self._reserved_query(limit.folder)
        return budget.Usage(float(self._read(*spent)[0][0]), float(self._read(*reserved)[0][0]))

    def start_within_budget(
        self, job_id: int, cost: float, limits: Sequence[budget.Limit], day: str
    ) -> tuple[Job, budget.Hold | None]:
        """WAITING -> UPLOADING with ``cost`` reserved, if it fits every budget in ``limits``;
        else WAITING -> HELD (the hold's message in the note). One transaction: concurrent
        workers, in this process or another (in team mode: on another machine), each see the
        reservations made before theirs. In team mode this is also the claim: the job becomes
        this daemon's.

        Raises :class:`StaleTransition` if the job is not waiting (or another daemon has it).
        """
        now = time.time()
        with self._tx() as db:
            row = self._lock_for_start(db, job_id)
            if row is None or row[0] != JobState.WAITING.value:
                raise StaleTransition(job_id)
            usages = []
            for limit in limits:
                spent = db.execute(*self._spent_query(day, limit.folder)).fetchone()[0]
                held = db.execute(*self._reserved_query(limit.folder)).fetchone()[0]
                usages.append((limit, budget.Usage(float(spent), float(held))))
            hold = budget.first_hold(cost, usages)
            if hold is None:
                fields = {"state": JobState.UPLOADING.value, "reserved": cost, "updated_at": now}
                fields.update(self._claim_fields())
            else:
                fields = {"state": JobState.HELD.value, "note": hold.message, "updated_at": now}
            assignments = ", ".join(f"{name} = ?" for name in fields)
            db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*fields.values(), job_id))
        return self.get(job_id), hold

    # -- settings ----------------------------------------------------------------------------

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        rows = self._read("SELECT value FROM settings WHERE key = ?", (key,))
        return default if not rows else str(rows[0][0])

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
        now = time.monotonic()
        if (
            self._paused_folders is None
            or now - self._paused_folders_at > self._paused_folders_ttl()
        ):
            self._paused_folders = frozenset(
                json.loads(self.get_setting("paused_folders", "[]") or "[]")
            )
            self._paused_folders_at = now
        return self._paused_folders

    def set_folder_paused(self, folder: str, paused: bool) -> None:
        folders = set(json.loads(self.get_setting("paused_folders", "[]") or "[]"))
        if paused:
            folders.add(folder)
        else:
            folders.discard(folder)
        self.set_setting("paused_folders", json.dumps(sorted(folders)))
        self._paused_folders = frozenset(folders)
        self._paused_folders_at = time.monotonic()

    # -- deliberate re-runs (`floradrop retry`) ---------------------------------------------

    def add_retry_request(self, path: str) -> None:
        """The next time the file at ``path`` settles, run it again even if it was done."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO retry_requests(path, requested_at) VALUES (?, ?) ON CONFLICT(path) "
                "DO UPDATE SET requested_at = excluded.requested_at",
                (path, time.time()),
            )

    def take_retry_request(self, path: str) -> bool:
        """Consume the re-run request for ``path``, if there is one."""
        with self._tx() as db:
            cursor = db.execute("DELETE FROM retry_requests WHERE path = ?", (path,))
            return bool(cursor.rowcount > 0)

    # -- fixed assets (a `path` binding uploaded once, reused while unchanged) -----------------

    def fixed_asset(
        self, path: str, content_hash: str, workspace_id: str
    ) -> Mapping[str, Any] | None:
        rows = self._read(
            "SELECT asset_id, url FROM fixed_assets WHERE path = ? AND content_hash = ? "
            "AND workspace_id = ?",
            (path, content_hash, workspace_id),
        )
        return None if not rows else {"asset_id": rows[0][0], "url": rows[0][1]}

    def remember_fixed_asset(
        self, path: str, content_hash: str, workspace_id: str, asset_id: str, url: str
    ) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO fixed_assets(path, content_hash, workspace_id, asset_id, url, "
                "uploaded_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(path, content_hash, workspace_id) DO UPDATE SET "
                "asset_id = excluded.asset_id, url = excluded.url, "
                "uploaded_at = excluded.uploaded_at",
                (path, content_hash, workspace_id, asset_id, url, time.time()),
            )
