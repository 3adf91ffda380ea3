"""The job state machine: the states a job passes through and the only edges between them.

Every state change goes through :meth:`floradrop.journal.Journal.transition`, which refuses an
edge that is not in :data:`EDGES` (:class:`IllegalTransition`: a bug, never a user's problem).
Each edge names the rooms that take it, so "who may move a job from here to there" has one
answer. :func:`mermaid` renders the table as the diagram in ``ARCHITECTURE.md`` (a test keeps
the two in step). A transition that keeps the state (``new`` is ``None`` or the same state)
only updates fields and is always allowed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable


class JobState(enum.StrEnum):
    """Where a job is on its way. Stored in the journal; shown by ``status``."""

    WAITING = "waiting"  # journaled, not yet uploading (queued, paused or offline)
    HELD = "held"  # waiting for budget, the big-drop go-ahead or a schedule window
    UPLOADING = "uploading"
    SUBMITTING = "submitting"  # a run create was (maybe) sent: resolved by idempotency key
    RUNNING = "running"  # the run exists at FLORA; polled
    FETCHING = "fetching"  # completed; outputs being downloaded
    FILING = "filing"  # outputs written; original being moved away
    DONE = "done"
    FAILED = "failed"
    DUPLICATE = "duplicate"  # same bytes and rule seen before: skipped
    CANCELLED = "cancelled"  # the file was deleted or replaced before its run was started

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATES

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


ACTIVE_STATES = frozenset(
    {JobState.UPLOADING, JobState.SUBMITTING, JobState.RUNNING, JobState.FETCHING, JobState.FILING}
)
TERMINAL_STATES = frozenset(
    {JobState.DONE, JobState.FAILED, JobState.DUPLICATE, JobState.CANCELLED}
)
# A job is journaled (pipeline.admit) in one of these.
START_STATES = (JobState.WAITING, JobState.DUPLICATE)

W, H, U, S, R = (
    JobState.WAITING,
    JobState.HELD,
    JobState.UPLOADING,
    JobState.SUBMITTING,
    JobState.RUNNING,
)
FE, FI = JobState.FETCHING, JobState.FILING

# (from, to) -> the rooms that take this edge (module names under src/floradrop).
EDGES: dict[tuple[JobState, JobState], tuple[str, ...]] = {
    (W, U): ("money",),  # a worker starts the upload within the budgets (reserves the cost)
    (W, H): ("money",),  # a budget would be passed, a big drop waits, or being cancelled
    (H, W): ("money", "workflows.schedule"),  # budget back, approved, or the window opened
    (U, H): ("money", "workflows.schedule"),  # being cancelled by a person; window closed
    (U, W): ("engine", "work"),  # a restart; uploaded ahead, paused, stopping, backing off
    (U, S): ("pipeline.submit",),  # the create is about to be sent (idempotency key first)
    (S, R): ("pipeline.submit",),  # the run exists (created, or found by its key)
    (R, FE): ("work",),  # the poll saw the run succeed
    (FE, FI): ("pipeline.fileaway",),  # outputs written; the original is filed away
    (FI, JobState.DONE): ("pipeline.fileaway",),
    (W, JobState.CANCELLED): ("pipeline.admit", "work"),  # renamed, deleted or replaced
    (H, JobState.CANCELLED): ("pipeline.admit", "work"),
    (U, JobState.CANCELLED): ("pipeline.admit", "work"),
    **{
        (state, JobState.FAILED): ("pipeline.fileaway",)  # file_failed, from any live state
        for state in JobState
        if not state.terminal
    },
}


class IllegalTransition(Exception):  # noqa: N818 - a bug in floradrop, raised loudly
    """A state change that is not an edge of the job state machine."""


def check(expected: Iterable[JobState], new: JobState | None) -> None:
    """Raise :class:`IllegalTransition` unless every ``expected`` -> ``new`` is an edge."""
    if new is None:
        return
    wrong = [s for s in expected if s is not new and (s, new) not in EDGES]
    if wrong:
        edges = ", ".join(f"{s.value} -> {new.value}" for s in wrong)
        raise IllegalTransition(f"not an edge of the job state machine (floradrop.jobs): {edges}")


def mermaid() -> str:
    """The state machine as a Mermaid ``stateDiagram-v2`` (the one in ``ARCHITECTURE.md``)."""
    lines = ["stateDiagram-v2"]
    lines += [f"    [*] --> {s.value}" for s in START_STATES]
    order = list(JobState)
    for (source, target), owners in sorted(
        EDGES.items(), key=lambda e: (order.index(e[0][0]), order.index(e[0][1]))
    ):
        lines.append(f"    {source.value} --> {target.value}: {', '.join(owners)}")
    lines += [f"    {s.value} --> [*]" for s in order if s.terminal]
    return "\n".join(lines) + "\n"
