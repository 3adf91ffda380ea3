"""The journal of a team: one PostgreSQL database shared by several daemons.

The same jobs, states and compare-and-set transitions as the SQLite journal, plus what many
daemons on one folder need (see docs/team.md):

* **members**: each daemon registers as a member with a lease it renews (its heartbeat); the
  lease is measured on the database's clock, so the machines' clocks do not matter.
* **claims**: a waiting job has no owner; a daemon claims it when it starts it
  (:meth:`start_within_budget`: ``SELECT ... FOR UPDATE SKIP LOCKED``, the budget reserved in
  the same transaction under one team-wide lock). Jobs whose owner's lease expired are taken
  over by another member (:meth:`take_over`) and resume from their durable state with their
  journaled idempotency key, so FLORA never charges twice.
* **fencing**: every transition of a job checks that this daemon still owns it and that its
  lease is still valid, on the database, in the same statement. A daemon that lost its lease
  (it was frozen, or cut off) cannot move a job another member took over.
* **intake**: every daemon scans; one file is admitted by one daemon at a time (an advisory
  lock on folder and path) and becomes exactly one job (a unique index on folder, relative
  path, content and attempt).

The URL's password never appears in a log line, an error or the status (:func:`redact_url`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from loguru import logger
from psycopg import errors as pg_errors

from floradrop.config.journal import redact_url
from floradrop.errors import FatalError
from floradrop.jobs import ACTIVE_STATES, JobState
from floradrop.journal.base import (
    AlreadyAdmitted,
    Executor,
    Job,
    Journal,
    JournalUnreachableError,
    Row,
)
from floradrop.journal.pg_schema import MIGRATIONS, SCHEMA_VERSION
from floradrop.journal.places import JSON_PATH_COLUMNS, PATH_COLUMNS, Places

if TYPE_CHECKING:
    from floradrop.config import FolderConfig

_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"
# One team-wide lock serialises the starts (claim + budget check + reservation).
_BUDGET_LOCK = 0x666C6F7261  # "flora"
_MIGRATION_LOCK = _BUDGET_LOCK + 1
_RETRY_CONNECT_SECONDS = 1.0
# A job going back to one of these states is free for any member to start (or cancel).
_UNOWNED_STATES = frozenset({JobState.WAITING, JobState.HELD})


class PgRow(tuple[Any, ...]):
    """A row readable by position and by column name, like :class:`sqlite3.Row`."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> PgRow:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._index[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._index)


def _sql(query: str) -> str:
    """The journal's queries are written for SQLite's ``?``; psycopg takes ``%s`` (and LIKE
    is case-sensitive in PostgreSQL, not in SQLite)."""
    return query.replace("%", "%%").replace("?", "%s").replace(" LIKE ", " ILIKE ")


class _Tx:
    """A transaction's executor: SQLite-style queries on a psycopg connection."""

    def __init__(self, journal: PostgresJournal, conn: psycopg.Connection[Any]) -> None:
        self._journal = journal
        self._conn = conn

    def execute(self, sql: str, args: Sequence[Any] = (), /) -> Any:
        self._journal._count()
        return self._conn.execute(_sql(sql), self._journal.places.encode_args(args))


class PostgresJournal(Journal):
    """The journal in a PostgreSQL database. Thread-safe; one instance per process."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        local_path: Path,
        lease_seconds: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.path = local_path  # the action outbox's SQLite file (this daemon's own)
        self.url = url
        self.where = redact_url(url)
        self.lease_seconds = lease_seconds
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._next_connect = 0.0
        self._member: str | None = None
        self._joined = False
        self.places = Places()  # folders by name, paths relative to them
        self._names: list[str] | None = None  # this daemon's folders (None: every folder)
        self._stats_lock = threading.Lock()
        self.round_trips = 0  # statements sent (benchmarks report them per file)
        #: Since when the database cannot be reached (monotonic), None when it can.
        self.unreachable_since: float | None = None
        self.last_problem: str | None = None
        with self._lock:
            self._connection()
            try:
                self._migrate()
            except BaseException:
                self.close()
                raise

    # -- connection ------------------------------------------------------------------------------

    def _count(self) -> None:
        with self._stats_lock:
            self.round_trips += 1

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        now = time.monotonic()
        if now < self._next_connect:
            raise self._unavailable(self.last_problem or "not connected")
        try:
            conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, int(self._connect_timeout)),
                application_name="floradrop",
            )
        except psycopg.Error as exc:
            self._next_connect = now + _RETRY_CONNECT_SECONDS
            raise self._unavailable(self._describe(exc)) from None
        conn.row_factory = self._row_factory
        self._conn = conn
        if self.unreachable_since is not None:
            self.unreachable_since = None
            self.last_problem = None
        return conn

    def _row_factory(self, cursor: Any) -> Callable[[Sequence[Any]], PgRow]:
        names = [column.name for column in cursor.description or ()]
        index = {name: i for i, name in enumerate(names)}
        places = self.places
        if not places.active or not (PATH_COLUMNS | JSON_PATH_COLUMNS) & index.keys():
            return lambda values: PgRow(values, index)
        return lambda values: PgRow(places.decode_row(names, values), index)

    def set_folders(self, folders: Iterable[FolderConfig]) -> None:
        """This daemon's folders: the team knows them by name, and this daemon takes only
        the jobs of folders it watches."""
        folders = list(folders)
        self.places.set_folders(folders)
        self._names = [f.name for f in folders]

    def _describe(self, exc: BaseException) -> str:
        """The driver's message without the password (libpq may quote the connection)."""
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        password = psycopg.conninfo.conninfo_to_dict(self.url).get("password")
        if password:
            text = text.replace(str(password), "***")
        return redact_url(text)

    def _unavailable(self, problem: str) -> JournalUnreachableError:
        if self.unreachable_since is None:
            self.unreachable_since = time.monotonic()
        self.last_problem = problem
        return JournalUnreachableError(
            f"the team's journal {self.where} cannot be reached ({problem})",
            hint="check that PostgreSQL runs and this machine can reach it; floradrop keeps "
            "every job and resumes by itself when it is back",
        )

    def _lost(self, exc: psycopg.Error) -> JournalUnreachableError:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()
        return self._unavailable(self._describe(exc))

    @staticmethod
    def _connection_problem(exc: psycopg.Error) -> bool:
        return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) and not (
            isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled)
        )

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
        if self._joined:  # a daemon's (a command's few are not worth a line)
            logger.info("{} round trips to the team's journal", self.round_trips)

    @contextmanager
    def _tx(self) -> Iterator[Executor]:
        with self._lock:
            conn = self._connection()
            try:
                with conn.transaction():
                    self._count()  # BEGIN (and COMMIT, below)
                    yield _Tx(self, conn)
                self._count()
            except psycopg.Error as exc:
                if self._connection_problem(exc):
                    raise self._lost(exc) from None
                raise

    def _read(self, query: str, args: Sequence[Any] = ()) -> list[Row]:
        with self._lock:
            conn = self._connection()
            self._count()
            try:
                rows: list[Row] = conn.execute(
                    _sql(query), self.places.encode_args(args)
                ).fetchall()
            except psycopg.Error as exc:
                if self._connection_problem(exc):
                    raise self._lost(exc) from None
                raise
        return rows

    def _insert_job(self, db: Executor, columns: Sequence[str], values: Sequence[Any]) -> int:
        marks = ", ".join("?" for _ in columns)
        row = db.execute(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({marks}) "
            "ON CONFLICT (job_key, attempt) DO NOTHING RETURNING id",
            tuple(values),
        ).fetchone()
        if row is None:
            raise AlreadyAdmitted(0)
        return int(row[0])

    def integrity_check(self) -> str:
        rows = self._read("SELECT COUNT(*) FROM jobs WHERE state IS NULL OR job_key IS NULL")
        return "ok" if int(rows[0][0]) == 0 else f"{rows[0][0]} job(s) without a state or key"

    # -- schema ------------------------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the database to :data:`SCHEMA_VERSION`, one version per transaction, under
        a lock: daemons starting together migrate once."""
        try:
            with self._tx() as db:
                db.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
                db.execute("CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT)")
                row = db.execute(
                    "SELECT value FROM settings WHERE key = 'schema_version'"
                ).fetchone()
                version = int(row[0]) if row else 0
                if version > SCHEMA_VERSION:
                    raise FatalError(
                        f"the team's journal {self.where} was written by a newer floradrop "
                        f"(schema {version}, this one knows {SCHEMA_VERSION}).",
                        hint="upgrade floradrop on this machine to the team's version",
                    )
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in MIGRATIONS[target].split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(
                        "INSERT INTO settings(key, value) VALUES ('schema_version', ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (str(target),),
                    )
        except pg_errors.InsufficientPrivilege as exc:
            raise FatalError(
                f"the team's journal {self.where} refused to create its tables: "
                f"{self._describe(exc)}",
                hint="give the role the CREATE privilege on the database (docs/team.md)",
            ) from None

    # -- members, leases and claims ------------------------------------------------------------

    @property
    def member(self) -> str | None:
        """This daemon's member id (its current incarnation), once registered."""
        return self._member

    def register(self, member: str, host: str, version: str, pid: int) -> None:
        """Join the team as ``member`` (a new id each time: an incarnation) with a lease."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO members(id, host, version, pid, started_at, heartbeat_at, "
                f"lease_until) VALUES (?, ?, ?, ?, {_NOW}, {_NOW}, {_NOW} + ?)",
                (member, host, version, pid, self.lease_seconds),
            )
        self._member = member
        self._joined = True

    def heartbeat(self) -> bool:
        """Renew this member's lease. False: the lease had already expired (others may have
        taken its jobs over); the caller registers again as a new incarnation."""
        if self._member is None:
            return False
        with self._tx() as db:
            cursor = db.execute(
                f"UPDATE members SET heartbeat_at = {_NOW}, lease_until = {_NOW} + ? "
                f"WHERE id = ? AND lease_until > {_NOW}",
                (self.lease_seconds, self._member),
            )
            alive = bool(cursor.rowcount == 1)
        # (not alive: the member id stays until it joins again, so the fencing keeps
        # refusing its work and it claims nothing meanwhile)
        return alive

    def leave(self) -> None:
        """A clean stop: end the lease now, so the others take over at once."""
        if self._member is None:
            return
        with self._tx() as db:
            db.execute(f"UPDATE members SET lease_until = {_NOW} WHERE id = ?", (self._member,))
            db.execute(
                "UPDATE jobs SET owner = NULL WHERE owner = ? AND state IN (?, ?)",
                (self._member, JobState.WAITING.value, JobState.HELD.value),
            )
        self._member = None

    def _live(self, owner: str) -> str:
        return f"EXISTS (SELECT 1 FROM members m WHERE m.id = {owner} AND m.lease_until > {_NOW})"

    def _fence(self, adopt: bool = False) -> tuple[str, list[Any]]:
        me = self._member
        if me is None:  # not a member (a command, not a daemon): only jobs nobody owns
            return " AND owner IS NULL", []
        if adopt:
            return f" AND {self._live('?')}", [me]
        return f" AND (owner IS NULL OR owner = ?) AND {self._live('?')}", [me, me]

    def _claimable(self) -> tuple[str, list[Any]]:
        return f"(owner IS NULL OR owner = ? OR NOT {self._live('jobs.owner')})", [
            self._member or ""
        ]

    def _claim_fields(self) -> dict[str, Any]:
        return {"owner": self._member}

    def _lock_for_start(self, db: Executor, job_id: int) -> Row | None:
        db.execute("SELECT pg_advisory_xact_lock(?)", (_BUDGET_LOCK,))
        me = self._member
        if me is not None and not db.execute(f"SELECT {self._live('?')}", (me,)).fetchone()[0]:
            return None  # this member's lease ended: it may not claim anything
        clause, args = self._claimable()
        row: Row | None = db.execute(
            f"SELECT state FROM jobs WHERE id = ? AND {clause} FOR UPDATE SKIP LOCKED",
            (job_id, *args),
        ).fetchone()
        return row

    def transition(
        self,
        job_id: int,
        expected: JobState | Iterable[JobState],
        new: JobState | None = None,
        *,
        adopt: bool = False,
        **fields: Any,
    ) -> Job:
        if new in _UNOWNED_STATES:
            fields.setdefault("owner", None)  # back in the queue: any member may start it
        return super().transition(job_id, expected, new, adopt=adopt, **fields)

    def create_lock(self, technique: str, *, alone: bool = False) -> AbstractContextManager[object]:
        return self._alone_lock(technique) if alone else self._shared_lock(technique)

    @contextmanager
    def _shared_lock(self, technique: str) -> Iterator[object]:
        key = f"create/{technique}"
        # Tried, not waited for: a search waiting for the lock alone goes first, and this
        # connection serves the other threads meanwhile.
        while not self._read("SELECT pg_try_advisory_lock_shared(hashtextextended(?, 0))", (key,))[
            0
        ][0]:
            time.sleep(0.05)
        try:
            yield None
        finally:
            with suppress(JournalUnreachableError):  # the session ended: its locks with it
                self._read("SELECT pg_advisory_unlock_shared(hashtextextended(?, 0))", (key,))

    @contextmanager
    def _alone_lock(self, technique: str) -> Iterator[object]:
        """Waited for in the queue of the lock (new creates wait behind it), on a connection
        of its own (this one serves the other threads meanwhile)."""
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.Error as exc:
            raise self._unavailable(self._describe(exc)) from None
        try:
            self._count()
            try:
                conn.execute(
                    "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"create/{technique}",)
                )
            except psycopg.Error as exc:
                raise self._unavailable(self._describe(exc)) from None
            yield None
        finally:
            with suppress(psycopg.Error):
                conn.close()  # the lock goes with the session

    def _watched(self) -> tuple[str, list[Any]]:
        """Only jobs of folders this daemon watches (another machine may watch others)."""
        if self._names is None:
            return "TRUE", []
        if not self._names:
            return "FALSE", []
        return f"folder IN ({', '.join('?' for _ in self._names)})", list(self._names)

    def startable(self, limit: int) -> list[Job]:
        """Waiting jobs this daemon may start: nobody's, its own, or a lost member's, in the
        folders it watches."""
        claimable, args = self._claimable()
        watched, more = self._watched()
        return self.jobs(
            [JobState.WAITING],
            limit=limit,
            skip_folders=self.paused_folders,
            where=(f"{claimable} AND {watched}", [*args, *more]),
        )

    def _mine(self) -> tuple[str, list[Any]]:
        return "owner = ?", [self._member or ""]

    def _to_store(self, fields: dict[str, Any]) -> dict[str, Any]:
        if "outputs" in fields and self.places.active:
            fields["outputs"] = self.places.encode_outputs(fields["outputs"])
        return fields

    @property
    def paused_folders(self) -> frozenset[str]:
        return frozenset(self.places.decode(f) for f in super().paused_folders)

    def set_folder_paused(self, folder: str, paused: bool) -> None:
        super().set_folder_paused(self.places.encode(folder), paused)

    def take_over(self, limit: int = 100) -> list[int]:
        """Claim jobs in progress (in folders this daemon watches) whose owner's lease
        expired; return their ids. They resume from their durable state: a run create with
        its journaled idempotency key, so FLORA does not charge twice."""
        me = self._member
        if me is None:
            return []
        states = [s.value for s in ACTIVE_STATES]
        marks = ", ".join("?" for _ in states)
        watched, more = self._watched()
        with self._tx() as db:
            alive = db.execute(f"SELECT {self._live('?')}", (me,)).fetchone()
            if not alive[0]:
                return []
            rows = db.execute(
                f"UPDATE jobs SET owner = ? WHERE id IN (SELECT id FROM jobs WHERE state IN "
                f"({marks}) AND owner IS DISTINCT FROM ? AND NOT {self._live('jobs.owner')} "
                f"AND {watched} ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING id",
                (me, *states, me, *more, limit),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def members(self) -> list[dict[str, Any]]:
        """Every member seen in the last day: host, version, last heartbeat (seconds ago),
        whether its lease holds, and the jobs in progress it owns."""
        states = [s.value for s in ACTIVE_STATES]
        marks = ", ".join("?" for _ in states)
        rows = self._read(
            f"SELECT m.id, m.host, m.version, m.pid, {_NOW} - m.heartbeat_at, "
            f"m.lease_until > {_NOW}, (SELECT COUNT(*) FROM jobs j WHERE j.owner = m.id AND "
            f"j.state IN ({marks})) FROM members m WHERE m.heartbeat_at > {_NOW} - 86400 "
            "ORDER BY m.host, m.started_at",
            states,
        )
        return [
            {
                "id": r[0],
                "host": r[1],
                "version": r[2],
                "pid": r[3],
                "heartbeat_ago": round(float(r[4]), 1),
                "alive": bool(r[5]),
                "jobs": int(r[6]),
                "me": r[0] == self._member,
            }
            for r in rows
        ]

    def _paused_folders_ttl(self) -> float:
        return 2.0  # another member may pause a folder

    def intake_lock(self, folder: str, rel_path: str) -> AbstractContextManager[object]:
        return self._intake_lock(f"{folder}/{rel_path}")

    @contextmanager
    def _intake_lock(self, key: str) -> Iterator[object]:
        # Tried, not waited for on the server: the connection serves this daemon's other
        # threads meanwhile (another member may be hashing a big file under this lock).
        while not self._read("SELECT pg_try_advisory_lock(hashtextextended(?, 0))", (key,))[0][0]:
            time.sleep(0.05)
        try:
            yield None
        finally:
            with suppress(JournalUnreachableError):  # the session ended: its locks with it
                self._read("SELECT pg_advisory_unlock(hashtextextended(?, 0))", (key,))
