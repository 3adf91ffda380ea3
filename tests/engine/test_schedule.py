"""The poll schedule and the create gate (pipeline/schedule.py), with an injected clock."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict

import pytest

from floradrop.pipeline.schedule import (
    FIRST_POLL_FLOOR,
    MIN_POLL_INTERVAL,
    CreateGate,
    PollSchedule,
)

from .harness import wait_for


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now


def drive(
    schedule: PollSchedule, clock: Clock, until: float, step: float = 0.01
) -> dict[int, list[float]]:
    """Run the poller against ``clock`` until ``until``: poll whatever is due, every step."""
    polls: dict[int, list[float]] = defaultdict(list)
    while clock.now < until:
        batch: list[int] = []
        while due := schedule.take_due(clock.now):
            assert not set(due) & set(batch), "a run offered twice"
            batch += due
        for job_id in batch:
            polls[job_id].append(clock.now)
        schedule.polled(batch, clock.now)
        clock.now = round(clock.now + step, 6)
    return polls


@pytest.mark.parametrize("batch", [3, 10**6])
@pytest.mark.parametrize("interval", [0.5, 2.0, 3.0])
def test_no_run_is_polled_twice_within_two_seconds(interval: float, batch: int) -> None:
    clock = Clock()
    schedule = PollSchedule(interval, batch=batch)
    # runs created at scattered times, some together, with and without estimates
    for job_id, at in enumerate([0.0, 0.05, 0.1, 0.9, 1.3, 1.31, 4.2, 7.77]):
        clock.now = 1000.0 + at
        schedule.track(job_id, "cctv-cam", now=clock.now, estimated_seconds=[None, 0][job_id % 2])
    schedule.learn("cctv-cam", 0.01)
    clock.now = 1000.0
    polls = drive(schedule, clock, 1030.0)
    assert len(polls) == 8
    for times in polls.values():
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert len(times) >= 5
        assert min(gaps) >= MIN_POLL_INTERVAL - 1e-9
        assert max(gaps) <= max(MIN_POLL_INTERVAL, interval) + schedule.gather + 0.011


def test_first_poll_at_estimated_seconds() -> None:
    schedule = PollSchedule(2.0)
    assert schedule.track(1, "cctv-cam", now=100.0, estimated_seconds=12) == 112.0
    assert schedule.take_due(111.99) == []
    assert schedule.take_due(112.0) == [1]
    schedule.polled([1], 112.0)
    assert schedule.wake_at() == 114.0
    # created 5 s ago (e.g. found again after a restart): 7 s to go
    assert schedule.track(2, "cctv-cam", now=200.0, age=5.0, estimated_seconds=12) == 207.0
    # FLORA's estimate wins over what was learned
    schedule.learn("cctv-cam", 3.0)
    assert schedule.track(3, "cctv-cam", now=300.0, estimated_seconds=30) == 330.0


def test_without_an_estimate_first_poll_after_one_interval_then_as_learned() -> None:
    schedule = PollSchedule(3.0)
    assert schedule.track(1, "slow", now=0.0) == 3.0  # nothing known: one interval
    for seconds in (6.0, 6.1, 6.0, 9.0, 6.05):
        schedule.learn("slow", seconds)
    assert schedule.track(2, "slow", now=10.0) == pytest.approx(16.0, abs=0.06)
    schedule.learn("instant", 0.02)
    assert schedule.track(3, "instant", now=20.0) == 20.0 + FIRST_POLL_FLOOR
    assert schedule.track(3, "instant", now=25.0) == 20.0 + FIRST_POLL_FLOOR  # kept


def test_runs_due_together_are_polled_together_never_early() -> None:
    schedule = PollSchedule(2.0)
    schedule.track(1, "t", now=0.0)  # due 2.0
    schedule.track(2, "t", now=0.1)  # due 2.1: with 1
    schedule.track(3, "t", now=1.0)  # due 3.0: on its own
    assert schedule.wake_at() == 2.1
    assert schedule.take_due(2.0) == []  # 2 is not due yet: wait for it rather than poll twice
    assert schedule.take_due(2.1) == [1, 2]
    assert schedule.take_due(2.5) == []  # taken until polled
    assert schedule.wake_at() == 3.0
    schedule.polled([1, 2], 2.1)
    assert schedule.take_due(3.0) == [3]
    schedule.forget(3)
    assert schedule.take_due(4.1) == [1, 2]


def test_runs_in_their_cadence_join_a_run_list_poll() -> None:
    schedule = PollSchedule(2.0, batch=3)
    for job_id, at in enumerate([0.0, 0.05, 0.1]):
        schedule.track(job_id, "t", now=at)  # due 2.0 to 2.1: three, so a run-list page
    schedule.track(10, "t", now=1.0)  # due 3.0, in its cadence: joins the page at 2.1
    schedule.learn("t", 6.0)
    schedule.track(11, "t", now=1.0)  # aimed at 7.0: never polled early
    assert schedule.take_due(2.1) == [0, 1, 2, 10]
    schedule.polled([0, 1, 2, 10], 2.1)
    schedule.track(12, "u", now=2.5)  # due 4.5, but ...
    assert schedule.take_due(4.1) == [0, 1, 2, 10, 12]  # (12 was never polled: it may join)
    schedule.polled([0, 1, 2, 10, 12], 4.1)
    assert schedule.take_due(5.0) == []
    # a run polled less than 2 s ago does not join; below the threshold nobody joins
    few = PollSchedule(2.0, batch=3)
    few.track(1, "t", now=0.0)
    few.track(2, "t", now=1.0)
    assert few.take_due(2.0) == [1]
    few.polled([1], 2.0)
    assert few.take_due(3.0) == [2]
    few.polled([2], 3.0)
    for job_id in (3, 4, 5):
        few.track(job_id, "t", now=2.0)  # due 4.0 with 1: a page
    assert few.take_due(4.0) == [1, 3, 4, 5]  # not 2, polled 1 s ago


def test_creates_run_concurrently_in_the_normal_case() -> None:
    gate = CreateGate()
    inside = threading.Barrier(8, timeout=10)  # passes only if all 8 are inside at once

    def create() -> None:
        with gate.create("cctv-cam"):
            inside.wait()

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not inside.broken
    assert gate.peak["cctv-cam"] == 8


def test_creates_are_serialised_while_an_outcome_is_unknown() -> None:
    gate = CreateGate()
    gate.mark_unknown("cctv-cam", 42)
    tried = threading.Semaphore(0)
    entered: list[int] = []
    first_in = threading.Event()
    release = threading.Event()
    lock = threading.Lock()
    now_inside = [0]
    most_inside = [0]

    def create(n: int) -> None:
        tried.release()
        with gate.create("cctv-cam"):
            with lock:
                now_inside[0] += 1
                most_inside[0] = max(most_inside[0], now_inside[0])
                entered.append(n)
            first_in.set()
            release.wait(10)
            with lock:
                now_inside[0] -= 1

    threads = [threading.Thread(target=create, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for _ in threads:
        assert tried.acquire(timeout=10)
    assert first_in.wait(10)
    # the others wait at the gate while the first is in flight
    assert not wait_for_entries(entered, 2)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(entered) == 4
    assert most_inside[0] == 1
    assert gate.peak["cctv-cam"] == 1
    # once the outcome is known, creates go side by side again
    gate.mark_known("cctv-cam", 42)
    test_barrier = threading.Barrier(3, timeout=10)

    def together() -> None:
        with gate.create("cctv-cam"):
            test_barrier.wait()

    more = [threading.Thread(target=together) for _ in range(3)]
    for thread in more:
        thread.start()
    for thread in more:
        thread.join(10)
    assert not test_barrier.broken


def wait_for_entries(entered: list[int], count: int) -> bool:
    """Whether ``count`` creates got in within a short grace period (they must not)."""
    done = threading.Event()
    done.wait(0.2)  # a grace period for a broken gate to let them in; the test never needs it
    return len(entered) >= count


def test_a_search_waits_for_creates_in_flight_and_holds_new_ones() -> None:
    gate = CreateGate()
    in_create, leave_create = threading.Event(), threading.Event()
    searching, leave_search = threading.Event(), threading.Event()
    late_create = threading.Event()

    def create() -> None:
        with gate.create("t"):
            in_create.set()
            leave_create.wait(10)

    def search() -> None:
        with gate.alone("t"):
            searching.set()
            leave_search.wait(10)

    def later_create() -> None:
        with gate.create("t"):
            late_create.set()

    first = threading.Thread(target=create)
    first.start()
    assert in_create.wait(10)
    finder = threading.Thread(target=search)
    finder.start()
    wait_for(lambda: gate._want_alone.get("t"), 10, "the search to wait")
    late = threading.Thread(target=later_create)
    late.start()  # a search is waiting: the new create lets it go first
    assert not searching.is_set()
    leave_create.set()
    assert searching.wait(10)
    assert not late_create.is_set()
    leave_search.set()
    assert late_create.wait(10)
    for thread in (first, finder, late):
        thread.join(10)
