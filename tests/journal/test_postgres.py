"""The PostgreSQL journal's team rules, on a real server: claims, leases, fencing, intake.

(The rules it shares with the SQLite journal are tested on both by test_journal.py and
test_budget.py.)"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floradrop import budget
from floradrop.errors import FatalError
from floradrop.journal import AlreadyAdmitted, JournalUnreachableError, StaleTransition
from floradrop.journal.postgres import PostgresJournal
from floradrop.status import JobState
from tests.engine.harness import wait_for
from tests.journal.test_journal import new_job
from tests.pgserver import PASSWORD

DAY = "2026-12-04"


@pytest.fixture
def team(pg_url: str, tmp_path: Path) -> Iterator[list[PostgresJournal]]:
    """Three members of one team (short leases), each with its own connection."""
    members = []
    for n in range(3):
        journal = PostgresJournal(pg_url, local_path=tmp_path / f"m{n}.sqlite3", lease_seconds=2)
        journal.register(f"m{n}", f"host{n}", "test", 1000 + n)
        members.append(journal)
    yield members
    for journal in members:
        journal.close()


def test_a_started_job_belongs_to_its_claimer_and_others_are_fenced_off(
    team: list[PostgresJournal],
) -> None:
    a, b, _ = team
    job_id = new_job(a)
    assert a.get(job_id).owner is None  # waiting: nobody's yet
    job, hold = b.start_within_budget(job_id, 0.05, [], DAY)
    assert hold is None and job.owner == "m1" and job.state is JobState.UPLOADING
    with pytest.raises(StaleTransition):
        a.transition(job_id, JobState.UPLOADING, JobState.SUBMITTING)
    with pytest.raises(StaleTransition):  # already started: nobody starts it twice
        a.start_within_budget(job_id, 0.05, [], DAY)
    # back in the queue (an upload that backs off): anyone may start it again
    b.transition(job_id, JobState.UPLOADING, JobState.WAITING)
    assert a.get(job_id).owner is None
    assert [j.id for j in a.startable(10)] == [job_id]


def test_members_racing_for_the_queue_start_each_job_once(team: list[PostgresJournal]) -> None:
    ids = [new_job(team[0], f"f{n}.png") for n in range(30)]
    started: dict[str, list[int]] = {m.member or "": [] for m in team}

    def work(journal: PostgresJournal) -> None:
        for _ in range(40):
            for waiting in journal.startable(5):
                try:
                    job, _ = journal.start_within_budget(waiting.id, 0.01, [], DAY)
                except StaleTransition:
                    continue  # another member has it
                started[journal.member or ""].append(job.id)

    threads = [threading.Thread(target=work, args=(m,)) for m in team]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [i for ids_ in started.values() for i in ids_]
    assert sorted(claimed) == ids  # every job once, none twice
    for member, mine in started.items():
        assert all(team[0].get(i).owner == member for i in mine)


def test_a_shared_budget_holds_across_members(team: list[PostgresJournal]) -> None:
    limits = budget.limits_for("/in", daily_usd=1.0, folder_usd=None)
    for n in range(40):
        new_job(team[0], f"b{n}.png")
    runs: list[int] = []

    def work(journal: PostgresJournal) -> None:
        for waiting in journal.startable(40):
            try:
                job, hold = journal.start_within_budget(waiting.id, 0.1, limits, DAY)
            except StaleTransition:
                continue
            if hold is None:
                runs.append(job.id)

    threads = [threading.Thread(target=work, args=(m,)) for m in team]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(runs) == 10  # $1.00 / $0.10, whichever member started them
    assert team[1].reserved() == pytest.approx(1.0)


def test_a_silent_members_jobs_are_taken_over_and_it_is_fenced_off(
    team: list[PostgresJournal],
) -> None:
    a, b, c = team
    job_id = new_job(a)
    a.start_within_budget(job_id, 0.05, [], DAY)
    a.transition(job_id, JobState.UPLOADING, JobState.SUBMITTING, idempotency_key="idem-1")
    assert b.take_over() == []  # a's lease holds

    # a stops heartbeating (frozen, cut off); b and c keep theirs
    def taken() -> list[int]:
        b.heartbeat()
        c.heartbeat()
        return b.take_over()

    assert wait_for(taken, timeout=20, what="the lease to expire") == [job_id]
    job = b.get(job_id)
    assert job.owner == "m1" and job.state is JobState.SUBMITTING
    assert job.idempotency_key == "idem-1"  # resumed with the same key: FLORA dedupes
    assert c.take_over() == []  # taken once
    with pytest.raises(StaleTransition):  # a comes back: it may not act on the job
        a.transition(job_id, JobState.SUBMITTING, JobState.RUNNING, run_id="r")
    assert not a.heartbeat()  # and learns it lost its lease: it must join again
    a.register("m0-2", "host0", "test", 1000)
    assert a.take_over() == []
    b.transition(job_id, JobState.SUBMITTING, JobState.RUNNING, run_id="r")
    members = {m["id"]: m for m in c.members()}
    assert members["m1"]["jobs"] == 1 and members["m1"]["alive"]
    assert not members["m0"]["alive"] and members["m0"]["host"] == "host0"


def test_a_clean_stop_hands_the_jobs_over_at_once(team: list[PostgresJournal]) -> None:
    a, b, _ = team
    job_id = new_job(a)
    a.start_within_budget(job_id, 0.05, [], DAY)
    a.leave()
    assert b.take_over() == [job_id]


def test_a_drop_becomes_one_job_whoever_admits_it(team: list[PostgresJournal]) -> None:
    a, b, _ = team
    new_job(a, "same.png", job_key="drop-1")
    with pytest.raises(AlreadyAdmitted):
        new_job(b, "same.png", job_key="drop-1")
    assert len(a.find_by_key("drop-1")) == 1
    new_job(b, "same.png", job_key="drop-1", attempt=1)  # `floradrop retry`: a new attempt


def test_one_file_is_admitted_by_one_member_at_a_time(team: list[PostgresJournal]) -> None:
    a, b, _ = team
    inside = threading.Event()
    order: list[str] = []

    def other() -> None:
        inside.wait(10)
        with b.intake_lock("CCTV", "x.png"):
            order.append("b")

    thread = threading.Thread(target=other)
    thread.start()
    with a.intake_lock("CCTV", "x.png"):
        inside.set()
        time.sleep(0.3)  # b must wait here (not a pacing sleep: the wait is what is tested)
        order.append("a")
    thread.join(10)
    assert order == ["a", "b"]
    with a.intake_lock("CCTV", "y.png"), b.intake_lock("CCTV", "z.png"):
        pass  # other files do not wait


def test_the_schema_is_versioned_and_migrated_once(pg_url: str, tmp_path: Path) -> None:
    first = PostgresJournal(pg_url, local_path=tmp_path / "a.sqlite3")
    assert first.get_setting("schema_version") == "1"
    first.add_job(**_fields())
    second = PostgresJournal(pg_url, local_path=tmp_path / "b.sqlite3")  # nothing to do
    assert len(second.jobs()) == 1
    second.set_setting("schema_version", "99")
    with pytest.raises(FatalError, match="newer floradrop"):
        PostgresJournal(pg_url, local_path=tmp_path / "c.sqlite3")
    first.close()
    second.close()


def test_the_password_is_never_shown(postgres_server: object, tmp_path: Path) -> None:
    from tests.pgserver import PostgresServer

    assert isinstance(postgres_server, PostgresServer)
    wrong = postgres_server.url("postgres", password="wr0ng-" + PASSWORD)
    with pytest.raises(JournalUnreachableError) as caught:
        PostgresJournal(wrong, local_path=tmp_path / "x.sqlite3")
    text = caught.value.describe() + repr(caught.value) + str(caught.value.__cause__)
    assert PASSWORD not in text and "wr0ng" not in text
    assert "***" in text  # the URL is named, without its password
    closed = f"postgresql://floradrop:{PASSWORD}@127.0.0.1:1/none"
    with pytest.raises(JournalUnreachableError) as caught:
        PostgresJournal(closed, local_path=tmp_path / "y.sqlite3")
    assert PASSWORD not in caught.value.describe()
    assert "127.0.0.1" in caught.value.describe()


def _fields() -> dict[str, object]:
    return {
        "job_key": "k",
        "folder": "/in",
        "rel_path": "a.png",
        "source_path": "/in/a.png",
        "size": 1,
        "mtime_ns": 1,
        "content_hash": "h",
        "rule_index": 0,
        "technique": "t",
        "state": JobState.WAITING,
    }


def test_the_config_picks_the_journal_and_hides_the_password(pg_url: str, tmp_path: Path) -> None:
    from floradrop.config import ConfigError, parse_config
    from floradrop.journal import SqliteJournal, open_journal

    daemon = {"state_dir": str(tmp_path / "state")}
    with pytest.raises(ConfigError) as caught:
        parse_config({"daemon": daemon, "journal": {"url": f"mysql://u:{PASSWORD}@db/x"}})
    text = caught.value.describe()
    assert "journal.url" in text and "postgresql://" in text and PASSWORD not in text
    config = parse_config({"daemon": daemon, "journal": {"url": pg_url}})
    assert PASSWORD not in repr(config) and PASSWORD not in str(config.model_dump())
    journal = open_journal(config)
    try:
        assert isinstance(journal, PostgresJournal) and journal.shared
        assert PASSWORD not in journal.where and journal.path.parent == tmp_path / "state"
    finally:
        journal.close()
    default = open_journal(parse_config({"daemon": daemon}))
    try:
        assert isinstance(default, SqliteJournal) and not default.shared
        assert default.path == tmp_path / "state" / "journal.sqlite3"
    finally:
        default.close()


def test_folders_are_known_by_name_and_paths_are_relative_to_them(
    pg_url: str, tmp_path: Path
) -> None:
    """One share mounted at /mnt/drop on one machine and /Volumes/drop on another."""
    from floradrop.config import parse_config

    def machine(mount: Path, names: tuple[str, ...] = ("drop",)) -> PostgresJournal:
        config = parse_config(
            {
                "daemon": {"state_dir": str(tmp_path / mount.name / "state")},
                "folders": [
                    {"path": str(mount / n / "inbox"), "name": n, "technique": "t"} for n in names
                ],
            }
        )
        journal = PostgresJournal(pg_url, local_path=tmp_path / f"{mount.name}.sqlite3")
        journal.set_folders(config.folders)
        journal.register(mount.name, mount.name, "test", 1)
        return journal

    linux, mac = tmp_path / "mnt", tmp_path / "Volumes"
    a, b = machine(linux), machine(mac)
    other = machine(tmp_path / "elsewhere", ("other",))
    inbox = linux / "drop" / "inbox"
    job_id = new_job(
        a,
        "sub/x.png",
        folder=str(inbox),
        source_path=str(inbox / "sub" / "x.png"),
        outputs=[{"path": str(linux / "drop" / "inbox-outputs" / "x.t.png"), "sidecar": True}],
    )
    stored = a.select("SELECT folder, source_path FROM jobs WHERE id = ?", [job_id])
    assert stored[0]["folder"] == str(inbox)  # decoded for a
    raw = PostgresJournal(pg_url, local_path=tmp_path / "raw.sqlite3")  # no folders: as stored
    row = raw.select("SELECT folder, source_path, outputs FROM jobs")[0]
    assert row["folder"] == "drop" and row["source_path"] == "drop|path|sub/x.png"
    assert str(tmp_path) not in row["outputs"]
    raw.close()
    seen = b.get(job_id)
    assert seen.folder == str(mac / "drop" / "inbox")
    assert seen.source_path == str(mac / "drop" / "inbox" / "sub" / "x.png")
    assert seen.outputs == [
        {"path": str(mac / "drop" / "inbox-outputs" / "x.t.png"), "sidecar": True}
    ]
    assert [j.id for j in b.find_by_source(seen.source_path)] == [job_id]
    assert b.counts() == {str(mac / "drop" / "inbox"): {"waiting": 1}}
    assert [j.id for j in b.startable(10)] == [job_id]
    assert other.startable(10) == []  # a machine that does not watch the folder leaves it
    b.set_folder_paused(str(mac / "drop" / "inbox"), True)
    assert a.paused_folders == {str(inbox)}  # paused for the whole team
    for journal in (a, b, other):
        journal.close()


def test_a_search_holding_the_create_lock_alone_may_adopt_any_members_job(
    team: list[PostgresJournal],
) -> None:
    a, b, _ = team
    job_id = new_job(a)
    a.start_within_budget(job_id, 0.05, [], DAY)
    a.transition(job_id, JobState.UPLOADING, JobState.SUBMITTING, idempotency_key="k1")
    with pytest.raises(StaleTransition):  # not a's: fenced off
        b.transition(job_id, JobState.SUBMITTING, JobState.RUNNING, run_id="r1")
    with b.create_lock("cctv-cam", alone=True):
        job = b.transition(job_id, JobState.SUBMITTING, JobState.RUNNING, adopt=True, run_id="r1")
    assert job.owner == "m1" and job.run_id == "r1"
    with a.create_lock("cctv-cam"), b.create_lock("cctv-cam"):
        pass  # creates share the lock
