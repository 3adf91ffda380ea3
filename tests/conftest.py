"""Shared test set-up: every test is isolated from the real home, config, state and key.

Area fixtures live in each folder's own conftest.py; the emulator fixtures are here because
every area uses them.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from floradrop.journal import Journal, SqliteJournal

if TYPE_CHECKING:
    from flora_emulator import Emulator

# No test may touch a real tray, and importing pystray must not need a display.
os.environ["PYSTRAY_BACKEND"] = "dummy"

_ISOLATED_VARS = (
    "FLORA_API_KEY",
    "FLORA_BASE_URL",
    "FLORA_CUSTOM_HEADERS",
    "FLORADROP_CONFIG",
)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A fresh HOME and XDG dirs for every test; FLORA_/FLORADROP_ variables cleared."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_CACHE_HOME", ".cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    for name in list(os.environ):
        if name in _ISOLATED_VARS or name.startswith("FLORADROP_"):
            monkeypatch.delenv(name, raising=False)
    # Daemons started by tests serve their dashboard on a free port, never on the default one
    # (tests run side by side, and a real floradrop may be using it).
    monkeypatch.setenv("FLORADROP_UI__PORT", "0")
    return home


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running, daemon threads included: every thread
    floradrop starts (the engine's admit and scheduler threads, watchdog's observers, the
    control server …) must be stopped and joined by whatever started it."""
    before = set(threading.enumerate())
    yield
    deadline = threading.Event()
    leaked: list[threading.Thread] = []
    for _ in range(100):
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked:
            break
        deadline.wait(0.1)
    assert not leaked, f"threads leaked: {[(t.name, t.daemon) for t in leaked]}"


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start FLORA emulators with knobs, e.g. ``emulator_factory(run_seconds=1, seed=3)``.

    Every emulator made here is stopped (threads joined, temp data removed) after the test.
    """
    from flora_emulator import Emulator

    started: list[Emulator] = []

    def make(**knobs: Any) -> Emulator:
        emulator = Emulator(**knobs).start()
        started.append(emulator)
        return emulator

    yield make
    for emulator in reversed(started):
        emulator.stop()
    crashed = [e.base_url for e in started if e.stats.internal_errors]
    assert not crashed, f"the emulator crashed inside (see the log): {crashed}"


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A running FLORA emulator on a free port, with default knobs (fast runs, no faults)."""
    return emulator_factory()


# -- PostgreSQL (team mode) ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One real PostgreSQL server per test session (tests/pgserver.py). Skipped, with the
    reason, only on a developer's machine without the server binaries; in CI it must run."""
    from tests.pgserver import PostgresServer, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = (
            "PostgreSQL's server (initdb, pg_ctl) is not installed: the team-mode tests need "
            "it (Debian/Ubuntu: apt-get install postgresql)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres_server: Any) -> Iterator[str]:
    """A fresh, empty database on the session's server, for one test; its URL."""
    url: str = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


# -- journals on both stores (the journal suite runs on SQLite and PostgreSQL) ----------------

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
