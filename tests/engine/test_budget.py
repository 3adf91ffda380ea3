"""Budgets as hard limits: the pure arithmetic, and a property test over a real journal.

The property: whatever the order of arrivals, pauses, restarts and concurrent workers (each
with its own SQLite connection, as separate processes would have), the runs created never cost
more than any budget allows: with one price, never more than floor(budget / cost) runs.
"""

from __future__ import annotations

import threading
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floradrop import budget
from floradrop.jobs import JobState
from floradrop.journal import Journal, StaleTransition

DAY = "2026-12-04"


def test_a_run_fits_only_within_every_budget() -> None:
    daily = budget.Limit(4.5)
    folder = budget.Limit(1.0, "/in", "budget_usd", "CCTV Cam")
    assert budget.first_hold(0.12, [(daily, budget.Usage(4.43, 0.0))]) is not None
    assert budget.first_hold(0.07, [(daily, budget.Usage(4.43, 0.0))]) is None
    assert budget.first_hold(0.05, [(daily, budget.Usage(4.0, 0.45))]) is None
    hold = budget.first_hold(
        0.05, [(daily, budget.Usage(4.0, 0.0)), (folder, budget.Usage(0.9, 0.1))]
    )
    assert hold is not None and hold.limit is folder
    assert "CCTV Cam's budget_usd is $1.00" in hold.message
    assert "$0.10 reserved" in hold.message
    assert "raise CCTV Cam's budget_usd" in hold.hint


def test_max_runs_is_floor_of_budget_over_cost_without_float_surprises() -> None:
    assert budget.max_runs(4.8, 0.12) == 40  # 4.8 / 0.12 is 39.99999... in floats
    assert budget.max_runs(0.2, 0.05) == 4
    assert budget.max_runs(0.19, 0.05) == 3
    with pytest.raises(ValueError, match="positive"):
        budget.max_runs(1.0, 0.0)


def test_limits_for_a_folder() -> None:
    assert budget.limits_for("/in", daily_usd=None, folder_usd=None) == []
    daily, own = budget.limits_for("/in", daily_usd=5.0, folder_usd=1.0, folder_name="Cam")
    assert (daily.folder, daily.label) == (None, "daily_budget_usd")
    assert (own.folder, own.label) == ("/in", "Cam's budget_usd")


def test_periods_today_week_month() -> None:
    today, week, month = budget.periods(date(2026, 12, 4))  # a Friday
    assert (today.first, today.last) == ("2026-12-04", "2026-12-04")
    assert (week.first, week.last) == ("2026-11-30", "2026-12-04")
    assert (month.first, month.last) == ("2026-12-01", "2026-12-04")


# -- the property, over a real journal ----------------------------------------------------------


def add_waiting(journal: Journal, folder: str, n: int, cost: float) -> None:
    for _ in range(n):
        journal.add_job(
            job_key="k",
            folder=folder,
            rel_path="f.png",
            source_path=f"{folder}/f.png",
            size=1,
            mtime_ns=1,
            content_hash="h",
            rule_index=0,
            technique="t",
            run_cost=cost,
            state=JobState.WAITING,
        )


class World:
    """Journals on one file, workers that start runs, runs that get charged."""

    def __init__(self, path: Path, limits: dict[str, list[budget.Limit]], costs: dict[str, float]):
        self.path = path
        self.limits = limits
        self.costs = costs
        self.main = Journal(path)

    def restart(self) -> None:
        """A crash and a new start: uploads in flight go back to waiting (engine._recover)."""
        self.main.close()
        self.main = Journal(self.path)
        for job in self.main.jobs([JobState.UPLOADING]):
            self.main.transition(job.id, JobState.UPLOADING, JobState.WAITING)

    def work(self, workers: int, attempts: int, abandon_every: int) -> None:
        """``workers`` threads, each with its own connection, start what they can."""

        def worker(n: int) -> None:
            journal = Journal(self.path)
            try:
                for attempt in range(attempts):
                    waiting = journal.jobs([JobState.WAITING], limit=workers + 1)
                    if not waiting:
                        return
                    job = waiting[(n + attempt) % len(waiting)]
                    try:
                        job, hold = journal.start_within_budget(
                            job.id, self.costs[job.folder], self.limits[job.folder], DAY
                        )
                    except StaleTransition:
                        continue  # another worker took it
                    if hold is not None:
                        continue
                    if abandon_every and (job.id + attempt) % abandon_every == 0:
                        # the upload failed and backs off: no run, the reservation goes
                        journal.transition(job.id, JobState.UPLOADING, JobState.WAITING)
                        continue
                    journal.transition(job.id, JobState.UPLOADING, JobState.SUBMITTING)
                    journal.transition(job.id, JobState.SUBMITTING, JobState.RUNNING)
            finally:
                journal.close()

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    def charge(self, how_many: int) -> None:
        """FLORA reports charged_cost (= the quote) for some running runs; they finish."""
        for job in self.main.jobs([JobState.RUNNING], limit=how_many):
            self.main.transition(
                job.id, JobState.RUNNING, JobState.FETCHING, cost=self.costs[job.folder], day=DAY
            )
            self.main.transition(job.id, JobState.FETCHING, JobState.FILING)
            self.main.transition(job.id, JobState.FILING, JobState.DONE)

    def release_holds(self) -> None:
        for job in self.main.jobs([JobState.HELD]):
            self.main.transition(job.id, JobState.HELD, JobState.WAITING)

    def runs(self, folder: str | None = None) -> list[float]:
        """The quoted cost of every run created so far."""
        created = [JobState.SUBMITTING, JobState.RUNNING, JobState.DONE]
        return [self.costs[j.folder] for j in self.main.jobs(created, folder=folder)]


operation = st.one_of(
    st.tuples(st.just("arrive"), st.sampled_from(["/a", "/b"]), st.integers(1, 12)),
    st.tuples(st.just("work"), st.integers(1, 4), st.integers(1, 8)),
    st.tuples(st.just("charge"), st.integers(0, 6), st.just(0)),
    st.tuples(st.just("restart"), st.just(0), st.just(0)),
    st.tuples(st.just("pause"), st.just(0), st.just(0)),  # resume: the next "work"
    st.tuples(st.just("release"), st.just(0), st.just(0)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    daily=st.sampled_from([0.2, 0.5, 1.0, 4.8]),
    own=st.sampled_from([None, 0.12, 0.3]),
    cost_a=st.sampled_from([0.05, 0.12]),
    cost_b=st.sampled_from([0.05, 0.08, 0.35]),
    abandon_every=st.sampled_from([0, 3]),
    ops=st.lists(operation, min_size=1, max_size=14),
)
def test_runs_never_exceed_what_the_budgets_allow(
    tmp_path_factory: pytest.TempPathFactory,
    daily: float,
    own: float | None,
    cost_a: float,
    cost_b: float,
    abandon_every: int,
    ops: list[tuple[str, object, int]],
) -> None:
    path = tmp_path_factory.mktemp("budget") / "journal.sqlite3"
    limits = {
        "/a": budget.limits_for("/a", daily_usd=daily, folder_usd=own, folder_name="A"),
        "/b": budget.limits_for("/b", daily_usd=daily, folder_usd=None),
    }
    world = World(path, limits, {"/a": cost_a, "/b": cost_b})
    paused = False
    try:
        for op, x, y in ops:
            if op == "arrive":
                add_waiting(world.main, str(x), y, world.costs[str(x)])
            elif op == "work":
                if paused:
                    paused = False  # resume: the queue built while paused starts now
                world.work(int(str(x)), y, abandon_every)
            elif op == "charge":
                world.charge(int(str(x)))
            elif op == "restart":
                world.restart()
            elif op == "pause":
                paused = True
            elif op == "release":
                world.release_holds()  # budget raised, or the scheduler's pre-check
            runs = world.runs()
            assert sum(runs) <= daily + 1e-9, (runs, daily)
            if own is not None:
                assert sum(world.runs("/a")) <= own + 1e-9
            if cost_a == cost_b:
                assert len(runs) <= budget.max_runs(daily, cost_a)
            only_a = world.runs("/a")
            assert len(only_a) <= budget.max_runs(daily if own is None else min(daily, own), cost_a)
    finally:
        world.main.close()


def test_files_arriving_together_start_only_what_fits(tmp_path: Path) -> None:
    """The issue's case: $4.43 spent of $4.50, four $0.05 files at once: one starts ($4.48),
    three wait (before, all four ran: $4.63)."""
    journal = Journal(tmp_path / "j.sqlite3")
    limits = budget.limits_for("/in", daily_usd=4.5, folder_usd=None)
    add_waiting(journal, "/in", 1, 4.43)
    (spent,) = journal.jobs([JobState.WAITING])
    journal.transition(spent.id, JobState.WAITING, JobState.FAILED, cost=4.43, day=DAY)
    add_waiting(journal, "/in", 4, 0.05)
    held = 0
    for job in journal.jobs([JobState.WAITING]):
        _, hold = journal.start_within_budget(job.id, 0.05, limits, DAY)
        held += hold is not None
    assert held == 3
    assert journal.reserved() == pytest.approx(0.05)
    assert all(j.note and "waiting for budget" in j.note for j in journal.jobs([JobState.HELD]))
    journal.close()
