"""The journal: every job, durably, before any side effect.

A job row is written when a settled file is decided to be work, *before* anything is uploaded,
and every stage moves it from one durable state to the next with a compare-and-set transition
(:meth:`Journal.transition`). After a crash at any instant, the next start finds each job in
its last durable state and resumes from there.

One interface (:class:`Journal`, in ``base``), two implementations: ``sqlite`` (the default, a
file in the state directory) and ``postgres`` (``[journal] url``: a database shared by a team
of daemons; needs the ``team`` extra). :func:`open_journal` picks the one the config names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from floradrop.errors import FatalError
from floradrop.journal.base import (
    AlreadyAdmitted,
    Job,
    Journal,
    JournalUnreachableError,
    Row,
    StaleTransition,
    start_of_today,
    today,
)
from floradrop.journal.sqlite import SCHEMA_VERSION, SqliteJournal

if TYPE_CHECKING:
    from floradrop.config import Config

JOURNAL_NAME = "journal.sqlite3"

__all__ = [
    "JOURNAL_NAME",
    "SCHEMA_VERSION",
    "AlreadyAdmitted",
    "Job",
    "Journal",
    "JournalUnreachableError",
    "Row",
    "SqliteJournal",
    "StaleTransition",
    "journal_path",
    "open_journal",
    "start_of_today",
    "today",
]


def journal_path(config: Config) -> Path:
    """The SQLite file in the state directory (in team mode: the action outbox's)."""
    return config.daemon.state_dir / JOURNAL_NAME


def open_journal(config: Config) -> Journal:
    """The journal ``config`` names: ``[journal] url`` (PostgreSQL), else the SQLite file."""
    url = config.journal.postgres_url
    if url is None:
        return SqliteJournal(journal_path(config))
    try:
        from floradrop.journal.postgres import PostgresJournal
    except ImportError:
        raise FatalError(
            "[journal] url names a PostgreSQL database, but its client is not installed",
            hint="install the team extra: pip install 'floradrop[team]'",
        ) from None
    journal = PostgresJournal(
        url, local_path=journal_path(config), lease_seconds=config.journal.lease_seconds
    )
    journal.set_folders(config.folders)  # the team knows folders by name
    return journal
