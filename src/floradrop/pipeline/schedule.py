"""When to poll each run, and when creates may run side by side. Pure: time is passed in.

Polling (:class:`PollSchedule`). Every run has its own due time:

* the first poll is at ``estimated_seconds`` after the run was created when FLORA gave one
  (../shared/flora-api/REFERENCE.md §7); else at the time this technique's recent runs took
  (the lower quartile of the last :data:`_LEARNED_RUNS` runs, from FLORA's own
  ``created_at``/``completed_at``), never sooner than :data:`FIRST_POLL_FLOOR`; else one
  interval after creation;
* then every ``interval`` seconds (at least :data:`MIN_POLL_INTERVAL`: FLORA asks for 2-5 s),
  counted from when the previous poll was sent, so no run is polled twice within 2 s.

The poller wakes at the earliest due time. Runs due within :data:`GATHER_SECONDS` of it are
polled together, at the latest of their due times (never before any of them is due), so that
runs created together are asked about with one run-list page rather than one request each.
When that page is asked for (``batch`` runs or more), the runs in their 2-5 s cadence that
would be due within one interval join it (if their last poll is 2 s old): one page then
answers for every run in flight, as in the former global cycle. A first poll aimed at an
estimate never joins early.

Creating (:class:`CreateGate`). FLORA answers a create whose answer was lost with a 409 that
does not say which run it was; the run is then found in the run list as the oldest run of the
technique created since, that no job claimed. That search is unambiguous only while no other
create of the technique is in flight. So creates run concurrently in the normal case; a search
waits until the creates in flight have their answers and runs alone; and while any outcome of
a technique is unknown its creates run one at a time, so at most one new unknown can arise.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MIN_POLL_INTERVAL = 2.0
FIRST_POLL_FLOOR = 0.5  # a learned first poll is never sooner than this after the create
GATHER_SECONDS = 0.25  # runs due within this of each other are polled with one request
BATCH = 3  # runs polled at once from which one run-list page is used (poll.BATCH_THRESHOLD)
_LEARNED_RUNS = 20


@dataclass
class _Due:
    technique: str
    due: float
    aimed: bool = False  # a first poll aimed at an estimate (FLORA's or learned)
    last: float | None = None  # when the previous poll was sent
    taken: bool = False  # a poll for it is under way


class PollSchedule:
    """Per-run due times. Not thread-safe: the caller serialises access."""

    def __init__(
        self,
        interval: float = MIN_POLL_INTERVAL,
        *,
        gather: float = GATHER_SECONDS,
        batch: int = BATCH,
    ) -> None:
        self.interval = max(MIN_POLL_INTERVAL, interval)
        self.gather = gather
        self.batch = batch  # from this many runs at once, one run-list page answers for all
        self._runs: dict[int, _Due] = {}
        self._durations: dict[str, deque[float]] = {}

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    @property
    def tracked(self) -> set[int]:
        return set(self._runs)

    def track(
        self,
        job_id: int,
        technique: str,
        *,
        now: float,
        age: float = 0.0,
        estimated_seconds: float | None = None,
    ) -> float:
        """Start polling a run created ``age`` seconds ago; returns its first due time.

        A run already tracked keeps its schedule."""
        known = self._runs.get(job_id)
        if known is not None:
            return known.due
        created = now - max(0.0, age)
        learned = self.expected_seconds(technique)
        if estimated_seconds is not None and estimated_seconds >= 0:
            delay = float(estimated_seconds)
        elif learned is not None:
            delay = max(FIRST_POLL_FLOOR, learned)
        else:
            delay = self.interval
        aimed = estimated_seconds is not None or learned is not None
        entry = _Due(technique, created + delay, aimed)
        self._runs[job_id] = entry
        return entry.due

    def forget(self, job_id: int) -> None:
        self._runs.pop(job_id, None)

    def learn(self, technique: str, seconds: float) -> None:
        """A run of ``technique`` took ``seconds`` from creation to its end (FLORA's clock)."""
        if seconds >= 0:
            self._durations.setdefault(technique, deque(maxlen=_LEARNED_RUNS)).append(seconds)

    def expected_seconds(self, technique: str) -> float | None:
        """How long this technique's runs take (the lower quartile of the recent ones)."""
        recent = self._durations.get(technique)
        if not recent:
            return None
        if len(recent) < 4:
            return min(recent)
        return statistics.quantiles(recent, n=4)[0]

    def _group(self) -> tuple[float, list[int]] | None:
        """(when to poll, which runs) for the earliest group, or None."""
        waiting = [(e.due, job_id) for job_id, e in self._runs.items() if not e.taken]
        if not waiting:
            return None
        earliest = min(due for due, _ in waiting)
        group = [(due, job_id) for due, job_id in waiting if due <= earliest + self.gather]
        return max(due for due, _ in group), sorted(job_id for _, job_id in group)

    def wake_at(self) -> float | None:
        """When the next poll is due (None: nothing to poll)."""
        group = self._group()
        return None if group is None else group[0]

    def take_due(self, now: float) -> list[int]:
        """The runs to poll now (empty until their time); they are not offered again until
        :meth:`polled` is called for them."""
        group = self._group()
        if group is None or group[0] > now:
            return []
        due = group[1]
        if len(due) >= self.batch:  # a run-list page: the runs in their cadence join it
            due += [
                job_id
                for job_id, e in self._runs.items()
                if not e.taken
                and not e.aimed
                and job_id not in due
                and e.due <= now + self.interval
                and (e.last is None or now - e.last >= MIN_POLL_INTERVAL)
            ]
        for job_id in due:
            self._runs[job_id].taken = True
        return sorted(due)

    def polled(self, job_ids: list[int], sent_at: float) -> None:
        """A poll for ``job_ids`` was sent at ``sent_at``: each is next due one interval later."""
        for job_id in job_ids:
            entry = self._runs.get(job_id)
            if entry is not None:
                entry.last = sent_at
                entry.due = sent_at + self.interval
                entry.taken = entry.aimed = False

    def last_polled(self, job_id: int) -> float | None:
        entry = self._runs.get(job_id)
        return None if entry is None else entry.last


class CreateGate:
    """Per technique: creates share the gate, a run-list search holds it alone.

    ``create`` waits while a search runs; while an outcome is unknown (``unknown``), a create
    also waits until no other create is in flight and keeps the gate to itself.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._creating: dict[str, int] = {}
        self._exclusive: set[str] = set()
        self._want_alone: dict[str, int] = {}  # searches waiting: new creates let them go first
        self._unknown: dict[str, set[int]] = {}
        self.peak: dict[str, int] = {}  # most creates in flight at once (for tests and logs)

    def unknown(self, technique: str) -> set[int]:
        with self._cond:
            return set(self._unknown.get(technique, ()))

    def mark_unknown(self, technique: str, job_id: int) -> None:
        with self._cond:
            self._unknown.setdefault(technique, set()).add(job_id)

    def mark_known(self, technique: str, job_id: int) -> None:
        with self._cond:
            unknown = self._unknown.get(technique)
            if unknown is not None:
                unknown.discard(job_id)
                if not unknown:
                    del self._unknown[technique]
            self._cond.notify_all()

    @contextmanager
    def create(self, technique: str) -> Iterator[None]:
        with self._cond:
            while True:
                if technique in self._exclusive or self._want_alone.get(technique, 0):
                    self._cond.wait()
                    continue
                if self._unknown.get(technique):
                    if self._creating.get(technique, 0):
                        self._cond.wait()
                        continue
                    self._exclusive.add(technique)
                    alone = True
                else:
                    alone = False
                break
            count = self._creating.get(technique, 0) + 1
            self._creating[technique] = count
            self.peak[technique] = max(self.peak.get(technique, 0), count)
        try:
            yield
        finally:
            with self._cond:
                self._creating[technique] -= 1
                if alone:
                    self._exclusive.discard(technique)
                self._cond.notify_all()

    @contextmanager
    def alone(self, technique: str) -> Iterator[None]:
        """Hold the technique's gate alone: no create in flight, none starts."""
        with self._cond:
            self._want_alone[technique] = self._want_alone.get(technique, 0) + 1
            try:
                while technique in self._exclusive or self._creating.get(technique, 0):
                    self._cond.wait()
            finally:
                self._want_alone[technique] -= 1
            self._exclusive.add(technique)
        try:
            yield
        finally:
            with self._cond:
                self._exclusive.discard(technique)
                self._cond.notify_all()
