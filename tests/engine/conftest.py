from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import pytest

from flora_emulator import Emulator
from floradrop.journal import Journal, SqliteJournal


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=7) as emulator:
        yield emulator


JournalFactory = Callable[[], Journal]


@pytest.fixture(params=["sqlite", "postgres"])
def journal_stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], JournalFactory]]:
    """Makes fresh, empty journal stores (a SQLite file, or a PostgreSQL database on the
    session's server); each store's opener opens one more journal on it, as another process
    would (its own connection). Every journal opened is closed after the test."""
    opened: list[Journal] = []
    numbers = itertools.count()

    def new_store() -> JournalFactory:
        root = tmp_path_factory.mktemp("journal")
        if request.param == "sqlite":
            path = root / "j.sqlite3"

            def make() -> Journal:
                journal = SqliteJournal(path)
                opened.append(journal)
                return journal

            return make
        from floradrop.journal.postgres import PostgresJournal

        server = request.getfixturevalue("postgres_server")
        url = server.create_database(f"store_{next(numbers)}_{root.name}".replace("-", "_"))

        def make_pg() -> Journal:
            journal = PostgresJournal(url, local_path=root / "local.sqlite3")
            opened.append(journal)
            return journal

        return make_pg

    yield new_store
    for journal in opened:
        journal.close()


@pytest.fixture
def journal_factory(journal_stores: Callable[[], JournalFactory]) -> JournalFactory:
    """Opens journals on one fresh store (see ``journal_stores``)."""
    return journal_stores()
