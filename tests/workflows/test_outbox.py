"""The action outbox over a real journal file: armed before a job's last transition, queued
after it, found again after a crash, never run twice. (The same through a real daemon killed
at the fail point: ``test_actions_daemon.py``.)"""

from __future__ import annotations

import json
from pathlib import Path

from floradrop.config import FolderConfig, parse_config
from floradrop.jobs import JobState
from floradrop.journal import Journal
from floradrop.workflows.actions import Actions
from floradrop.workflows.outbox import ARMED, DONE, PENDING, VOID


def _setup(tmp_path: Path) -> tuple[Journal, Actions, FolderConfig]:
    config = parse_config(
        {
            "folders": [
                {
                    "path": str(tmp_path / "cam"),
                    "technique": "cctv-cam",
                    "on_done": [{"command": ["true"]}, {"notify": True}],
                    "on_failed": [{"command": ["false"]}],
                }
            ]
        },
        source=tmp_path / "c.toml",
    )
    journal = Journal(tmp_path / "journal.sqlite3")
    return journal, Actions(journal.path), config.folders[0]


def _job(journal: Journal, tmp_path: Path, name: str, state: JobState) -> int:
    return journal.add_job(
        folder=str(tmp_path / "cam"),
        size=1,
        mtime_ns=1,
        rule_index=0,
        technique="cctv-cam",
        job_key=name,
        content_hash=name,
        rel_path=name,
        source_path=str(tmp_path / "cam" / name),
        state=state,
        run_id=f"run_{name}",
    ).id


def test_armed_actions_of_a_job_that_finished_before_a_crash_are_queued_at_start(
    tmp_path: Path,
) -> None:
    journal, actions, folder = _setup(tmp_path)
    finished, failed, going = (
        _job(journal, tmp_path, name, JobState.FILING) for name in ("a.png", "b.png", "c.png")
    )
    for job_id in (finished, failed, going):
        actions.arm(journal.get(job_id), folder, "done")
    actions.arm(journal.get(failed), folder, "failed")
    filed = str(tmp_path / "cam-done" / "a.png")
    journal.transition(finished, JobState.FILING, JobState.DONE, source_path=filed)
    journal.transition(failed, JobState.FILING, JobState.FAILED)
    actions.outbox.close()  # the crash: finished() never ran

    again = Actions(journal.path)
    assert again.recover(journal.get) == 2
    rows = {(i.job_id, i.event): i for i in again.outbox.items()}
    assert len(rows) == 4  # one command each (a notification is not written down)
    assert rows[finished, "done"].status == PENDING
    assert json.loads(rows[finished, "done"].payload)["source"]["path"] == filed
    assert rows[failed, "failed"].status == PENDING
    assert rows[failed, "done"].status == VOID  # it did not end that way
    assert rows[going, "done"].status == ARMED  # still on its way: queued when it finishes

    # queued once: a second queueing (a repeated finish, another start) changes nothing
    again.outbox.finish(rows[finished, "done"].id, DONE)
    again.finished(journal.get(finished), folder)
    assert again.recover(journal.get) == 0
    assert again.outbox.items(DONE)[0].job_id == finished
    assert [i.job_id for i in again.outbox.items(PENDING)] == [failed]
    again.outbox.close()
    journal.close()
