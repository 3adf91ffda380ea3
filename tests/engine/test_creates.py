"""Concurrent creates, and answers lost among them, against the emulator's lost-answer fault.

The emulator carries the create out and then drops the connection (its ``lose_response``
fault); the client retries with the same idempotency key, FLORA answers 409, and the run is
found in the run list, alone (pipeline/schedule.py ``CreateGate``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flora_emulator import Emulator, routes
from floradrop.jobs import JobState

from .harness import drop, folder_toml, png_bytes, running, write_config

CREATE = ("POST", "/api/v1/techniques/cctv-cam/runs")


class LoseCreates:
    """Makes the emulator lose the answers of chosen creates (1-based, in arrival order)."""

    def __init__(self, emu: Emulator, losing: set[int], monkeypatch: pytest.MonkeyPatch) -> None:
        self.losing = losing
        self.creates = 0
        self.lock = threading.Lock()
        self.current = threading.local()
        original_handle, original_decide = routes.handle_api, emu.decide

        def handle_api(ctx: Any, req: Any, found: Any) -> Any:
            self.current.request = (req.method, req.path)
            return original_handle(ctx, req, found)

        def decide(kind: str, rate: float) -> bool:
            if kind == "lose_response" and getattr(self.current, "request", None) == CREATE:
                with self.lock:
                    self.creates += 1
                    return self.creates in self.losing
            return original_decide(kind, rate)

        monkeypatch.setattr(routes, "handle_api", handle_api)
        monkeypatch.setattr(emu, "decide", decide)


@pytest.fixture
def slow_emu() -> Iterator[Emulator]:
    with Emulator(seed=3, run_seconds=1.0) as emulator:
        yield emulator


def drop_and_finish(tmp_path: Path, emu: Emulator, files: int) -> tuple[Any, list[Any]]:
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon="max_concurrent_runs = 8\nmax_concurrent_uploads = 8",
    )
    (tmp_path / "in").mkdir()
    with running(config, emu) as daemon:
        for n in range(files):
            drop(tmp_path / "in", f"photo{n:02d}.png", png_bytes(300 + n))
        daemon.wait_state(files, JobState.DONE, timeout=90)
        submitter = daemon.engine.work.submitter
        gate = submitter.gate if submitter else None
        return gate, daemon.jobs()


def check_exactly_once(emu: Emulator, jobs: list[Any], files: int) -> None:
    runs = emu.runs()
    assert emu.stats.runs_by_technique == {"cctv-cam": files}
    assert Counter(r.inputs["input_image"] for r in runs).most_common(1)[0][1] == 1
    assert sorted(j.run_id for j in jobs) == sorted(r.run_id for r in runs)


def test_creates_go_side_by_side_and_a_lost_answer_finds_its_own_run(
    tmp_path: Path, slow_emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    LoseCreates(slow_emu, {3}, monkeypatch)
    gate, jobs = drop_and_finish(tmp_path, slow_emu, 12)
    check_exactly_once(slow_emu, jobs, 12)
    assert slow_emu.stats.faults["lose_response"] == 1
    assert slow_emu.stats.idempotency_duplicates >= 1  # the retry was told it exists
    # every job has the run made from its own file
    by_id = {r.run_id: r for r in slow_emu.runs()}
    for job in jobs:
        assert by_id[job.run_id].inputs["input_image"] == job.assets["input_image"]["url"]
        assert by_id[job.run_id].idempotency_key == job.idempotency_key
    assert gate is not None and gate.peak["cctv-cam"] > 1  # not serialised in the normal case
    assert not gate.unknown("cctv-cam")


def test_answers_lost_together_never_pay_twice(
    tmp_path: Path, slow_emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    LoseCreates(slow_emu, {2, 3, 4}, monkeypatch)
    gate, jobs = drop_and_finish(tmp_path, slow_emu, 10)
    check_exactly_once(slow_emu, jobs, 10)
    assert slow_emu.stats.faults["lose_response"] == 3
    assert gate is not None and not gate.unknown("cctv-cam")


def test_the_next_files_are_uploaded_ahead_once_and_then_run(
    tmp_path: Path, slow_emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon="max_concurrent_runs = 3\nmax_concurrent_uploads = 4",
    )
    (tmp_path / "in").mkdir()
    tasks: Counter[tuple[int, bool]] = Counter()
    most_running = [0]
    with running(config, slow_emu) as daemon:
        engine = daemon.engine
        upload_task = engine.work.upload

        def counted(job: Any, ahead: bool = False) -> None:
            tasks[(job.id, ahead)] += 1
            running_now = len(daemon.jobs(JobState.SUBMITTING, JobState.RUNNING))
            most_running[0] = max(most_running[0], running_now)
            upload_task(job, ahead)

        monkeypatch.setattr(engine.work, "upload", counted)
        for n in range(9):
            drop(tmp_path / "in", f"photo{n}.png", png_bytes(700 + n))
        daemon.wait_state(9, JobState.DONE, timeout=90)
        jobs = daemon.jobs()
    check_exactly_once(slow_emu, jobs, 9)
    assert slow_emu.stats.requests[("POST", "/assets")] == 9  # each file uploaded once
    ahead = [job_id for (job_id, is_ahead) in tasks if is_ahead]
    assert ahead, "no file was uploaded ahead of its run"
    assert all(n == 1 for n in tasks.values()), tasks  # uploaded ahead once, run once
    assert all(tasks[(job_id, False)] == 1 for job_id in ahead)
    assert most_running[0] <= 3
