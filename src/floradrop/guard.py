"""The big-drop guard: a burst that would start many runs, or spend much, waits for a yes.

Pure decisions (no I/O, no clock: ``now`` is passed in); :func:`floradrop.money.review`
applies them to the journal. A *burst* is a folder's jobs admitted close together: each within
:data:`BURST_SECONDS` of the one before. When a burst holds more than ``confirm_above_files``
runs or costs more than ``confirm_above_usd``, its jobs that have not started are held and the
user is asked once; jobs that join the burst while the question is open join the question.

While the intake still has files to hand over (a burst still arriving), a new job waits up to
:data:`WAIT_SECONDS` before it starts, so the first files of a big drop do not start before
the question is asked; a lone file starts at once.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

BURST_SECONDS = 10.0
WAIT_SECONDS = 3.0


class Action(enum.Enum):
    START = "start"  # below the thresholds: start as usual
    ASK = "ask"  # hold and ask
    WAIT = "wait"  # more of the burst may be arriving: decide at the next round


@dataclass(frozen=True)
class Item:
    job_id: int
    cost: float
    created_at: float
    approval: str = ""  # "" for new jobs, else the journal's approval (auto, asked)


@dataclass(frozen=True)
class Verdict:
    action: Action
    files: int = 0
    cost: float = 0.0
    new_question: bool = False  # ASK: a new question (else the new jobs join an open one)


@dataclass(frozen=True)
class Question:
    """An open big-drop question: ``files`` held in ``folder`` for ``cost_usd``."""

    folder: str
    name: str
    files: int
    cost_usd: float

    @property
    def text(self) -> str:
        files = "1 file" if self.files == 1 else f"{self.files} files"
        return f"Start {files} in {self.name} for ${self.cost_usd:.2f}?"

    def to_json(self) -> dict[str, object]:
        return {
            "folder": self.folder,
            "name": self.name,
            "files": self.files,
            "cost_usd": round(self.cost_usd, 4),
            "text": self.text,
        }


def burst(items: Sequence[Item], gap: float = BURST_SECONDS) -> list[Item]:
    """The items chained to the newest one by gaps of at most ``gap`` seconds."""
    ordered = sorted(items, key=lambda i: i.created_at)
    if not ordered:
        return []
    start = len(ordered) - 1
    while start > 0 and ordered[start].created_at - ordered[start - 1].created_at <= gap:
        start -= 1
    return ordered[start:]


def decide(
    new: Sequence[Item],
    recent: Sequence[Item],
    *,
    files_above: int,
    usd_above: float,
    incoming: int = 0,
    now: float,
) -> Verdict:
    """What to do with ``new`` (jobs not reviewed yet) given the folder's ``recent`` reviewed
    jobs (approval ``auto``: started; ``asked``: held for an open question)."""
    if not new:
        return Verdict(Action.START)
    chained = burst([*recent, *new])
    files = len(chained)
    cost = sum(i.cost for i in chained)
    if any(i.approval == "asked" for i in chained):
        return Verdict(Action.ASK, files, cost, new_question=False)

    def over(n: int, usd: float) -> bool:
        return n > files_above or usd > usd_above + 1e-9

    if over(files, cost):
        return Verdict(Action.ASK, files, cost, new_question=True)
    if incoming > 0:
        each = max((i.cost for i in new), default=0.0)
        oldest = min(i.created_at for i in new)
        if over(files + incoming, cost + each * incoming) and now - oldest < WAIT_SECONDS:
            return Verdict(Action.WAIT, files, cost)
    return Verdict(Action.START, files, cost)
