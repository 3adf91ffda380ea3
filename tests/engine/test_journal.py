from __future__ import annotations

import threading
from pathlib import Path

import pytest

from floradrop.jobs import JobState
from floradrop.journal import Journal, StaleTransition, today


def new_job(journal: Journal, name: str = "a.png", **extra: object) -> int:
    fields = {
        "job_key": f"key-{name}",
        "folder": "/in",
        "rel_path": name,
        "source_path": f"/in/{name}",
        "size": 10,
        "mtime_ns": 1,
        "content_hash": "h",
        "rule_index": 0,
        "technique": "cctv-cam",
        "run_cost": 0.05,
        "state": JobState.WAITING,
    }
    fields.update(extra)
    return journal.add_job(**fields).id


def test_compare_and_set_transitions(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    job_id = new_job(journal)
    job = journal.transition(
        job_id, JobState.WAITING, JobState.UPLOADING, assets={"x": {"url": "u"}}
    )
    assert job.state is JobState.UPLOADING and job.assets == {"x": {"url": "u"}}
    with pytest.raises(StaleTransition):
        journal.transition(job_id, JobState.WAITING, JobState.UPLOADING)
    failed = journal.transition(job_id, [JobState.UPLOADING], JobState.FAILED)
    assert failed.finished_at is not None
    journal.close()


def test_only_one_of_many_racing_transitions_wins(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    job_id = new_job(journal)
    wins: list[int] = []

    def race(n: int) -> None:
        try:
            journal.transition(job_id, JobState.WAITING, JobState.UPLOADING, note=str(n))
            wins.append(n)
        except StaleTransition:
            pass

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert journal.get(job_id).note == str(wins[0])
    journal.close()


def test_state_survives_reopen_and_spend_is_per_day(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    journal = Journal(path)
    a = new_job(journal, "a.png")
    b = new_job(journal, "b.png", folder="/other")
    journal.transition(a, JobState.WAITING, JobState.FAILED, cost=0.05, day=today())
    journal.transition(b, JobState.WAITING, JobState.UPLOADING)
    journal.set_paused(True)
    journal.close()
    again = Journal(path)
    assert again.paused
    assert again.spend(today()) == pytest.approx(0.05)
    assert again.spend(today(), "/other") == 0
    assert again.committed() == pytest.approx(0.05)  # b is in flight, not yet charged
    assert again.counts() == {"/in": {"failed": 1}, "/other": {"uploading": 1}}
    assert again.integrity_check() == "ok"
    again.close()


def test_retry_requests_are_consumed_once(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.add_retry_request("/in/a.png")
    assert journal.take_retry_request("/in/a.png")
    assert not journal.take_retry_request("/in/a.png")
    journal.close()
