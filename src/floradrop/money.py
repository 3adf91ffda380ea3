"""Money: the engine's budget holds, reservations, the big-drop guard, approve and cancel.

The arithmetic is in :mod:`floradrop.budget` (pure) and :mod:`floradrop.guard` (pure); this
module applies it to the journal, so the engine calls each with one line:

* :func:`start` moves a waiting job to uploading with its quote reserved, or holds it
  (one journal transaction: see :meth:`Journal.start_within_budget`);
* :func:`budget_hold` / :func:`release_holds`: the scheduler's cheap pre-check, and jobs held
  for budget going back to waiting once they fit (budget raised, a new day);
* :func:`review` asks the big-drop question (see :mod:`floradrop.guard`);
* :func:`approve` and :func:`cancel`: the answers, from the tray, the CLI or the dashboard.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from loguru import logger

from floradrop import budget, guard
from floradrop.config import Config, FolderConfig
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal, StaleTransition, today
from floradrop.pipeline.fileaway import Failure, file_failed
from floradrop.status import Attention, AttentionKind
from floradrop.workflows import schedule

CostOf = Callable[[Job], float]

# Guard states in the journal's ``approval`` column.
ASKED = "asked"  # held until the user answers the big-drop question
APPROVED = "approved"  # the user said Start
AUTO = "auto"  # reviewed: below the thresholds
CANCELLING = "cancelling"  # being cancelled: no worker may start it

CANCELLABLE = (JobState.WAITING, JobState.HELD, JobState.UPLOADING)


def limits(config: Config, folder_key: str) -> list[budget.Limit]:
    folder = next((f for f in config.folders if str(f.path) == folder_key), None)
    return budget.limits_for(
        folder_key,
        daily_usd=config.daemon.daily_budget_usd,
        folder_usd=folder.budget_usd if folder else None,
        folder_name=folder.name if folder else "",
    )


def start(journal: Journal, config: Config, job: Job, cost: float) -> Job | None:
    """WAITING -> UPLOADING with ``cost`` reserved; None when the job was held for budget."""
    job, hold = journal.start_within_budget(job.id, cost, limits(config, job.folder), today())
    if hold is not None:
        logger.bind(job=job.id).warning("{}: {}", job.name, hold.message)
        return None
    return job


def budget_hold(journal: Journal, config: Config, job: Job, cost: float) -> budget.Hold | None:
    """The budget ``job`` would pass if it started now (the scheduler's pre-check)."""
    day = today()
    usages = [(limit, journal.usage(day, limit)) for limit in limits(config, job.folder)]
    return budget.first_hold(cost, usages)


def hold(journal: Journal, job: Job, found: budget.Hold) -> None:
    with contextlib.suppress(StaleTransition):
        journal.transition(job.id, JobState.WAITING, JobState.HELD, note=found.message)
        logger.bind(job=job.id).warning("{}: {}", job.name, found.message)


def release_holds(journal: Journal, config: Config, cost_of: CostOf) -> int:
    """Jobs held for budget go back to waiting, in order, while they fit."""
    released = 0
    for job in journal.jobs([JobState.HELD], limit=200):
        if job.approval in (ASKED, CANCELLING) or schedule.is_schedule_hold(job):
            continue  # held for the big-drop question, being cancelled, or by a schedule
        if budget_hold(journal, config, job, cost_of(job)) is not None:
            break
        with contextlib.suppress(StaleTransition):
            journal.transition(job.id, JobState.HELD, JobState.WAITING, note=None)
            logger.bind(job=job.id).info("{}: budget available again", job.name)
            released += 1
    return released


# -- the big-drop guard ---------------------------------------------------------------------


def review(
    journal: Journal,
    config: Config,
    cost_of: CostOf,
    *,
    incoming: int,
    now: float | None = None,
) -> list[guard.Question]:
    """Review waiting jobs the guard has not seen; returns the questions newly asked.

    ``incoming``: files the intake has not handed over yet (a burst still arriving)."""
    unreviewed = [j for j in journal.jobs([JobState.WAITING]) if j.approval is None]
    if not unreviewed:
        return []
    d = config.daemon
    now = time.time() if now is None else now
    asked: list[guard.Question] = []
    for folder in config.folders:
        key = str(folder.path)
        mine = [j for j in unreviewed if j.folder == key]
        if not mine:
            continue
        since = min(j.created_at for j in mine) - guard.BURST_SECONDS
        recent = [
            guard.Item(j.id, cost_of(j), j.created_at, j.approval or "")
            for j in journal.jobs(folder=key, created_since=since)
            # (approved jobs are not counted: an answered question starts a new burst)
            if j.approval in (AUTO, ASKED) and j.state is not JobState.DUPLICATE
        ]
        verdict = guard.decide(
            [guard.Item(j.id, cost_of(j), j.created_at, "") for j in mine],
            recent,
            files_above=d.confirm_above_files,
            usd_above=d.confirm_above_usd,
            incoming=incoming,
            now=now,
        )
        if verdict.action is guard.Action.WAIT:
            continue
        state = ASKED if verdict.action is guard.Action.ASK else AUTO
        for job in mine:
            with contextlib.suppress(StaleTransition):
                if state == ASKED:
                    journal.transition(
                        job.id,
                        JobState.WAITING,
                        JobState.HELD,
                        approval=ASKED,
                        note="waiting for your go-ahead (a big drop)",
                    )
                else:
                    journal.transition(job.id, JobState.WAITING, approval=AUTO)
        if verdict.action is guard.Action.ASK:
            question = pending_question(journal, folder, cost_of)
            if question is not None and verdict.new_question:
                logger.warning(
                    "{} (held until approved: 'floradrop approve' or 'floradrop cancel')",
                    question.text,
                )
                asked.append(question)
    return asked


def pending_question(
    journal: Journal, folder: FolderConfig, cost_of: CostOf
) -> guard.Question | None:
    jobs = [
        j for j in journal.jobs([JobState.HELD], folder=str(folder.path)) if j.approval == ASKED
    ]
    if not jobs:
        return None
    return guard.Question(str(folder.path), folder.name, len(jobs), sum(cost_of(j) for j in jobs))


def questions(journal: Journal, config: Config, cost_of: CostOf) -> list[guard.Question]:
    """Every big-drop question waiting for an answer (for status, the tray, the dashboard)."""
    found = (pending_question(journal, f, cost_of) for f in config.folders)
    return [q for q in found if q is not None]


@dataclass(frozen=True)
class Answer:
    jobs: int
    message: str


def _targets(
    journal: Journal, config: Config, targets: Iterable[str], states: Iterable[JobState]
) -> list[Job]:
    """Jobs named by id, by file path, or by folder (path or name); none: every such job."""
    wanted = list(targets)
    jobs = journal.jobs(list(states))
    if not wanted:
        return jobs
    chosen: dict[int, Job] = {}
    for target in wanted:
        folder = next((f for f in config.folders if target in (f.name, str(f.path))), None) or next(
            (f for f in config.folders if _same(Path(target).expanduser(), f.path)), None
        )
        matched = [
            j
            for j in jobs
            if (target.isdigit() and j.id == int(target))
            or (folder is not None and j.folder == str(folder.path))
            or _same(Path(target).expanduser(), Path(j.source_path))
        ]
        if not matched:
            raise LookupError(target)
        chosen.update((j.id, j) for j in matched)
    return sorted(chosen.values(), key=lambda j: j.id)


def _same(a: Path, b: Path) -> bool:
    with contextlib.suppress(OSError):
        return a.resolve() == b.resolve()
    return a == b


def approve(journal: Journal, config: Config, targets: Iterable[str] = ()) -> Answer:
    """Start the jobs held by the big-drop question (all of them, or those named)."""
    try:
        jobs = [
            j for j in _targets(journal, config, targets, [JobState.HELD]) if j.approval == ASKED
        ]
    except LookupError as exc:
        return Answer(0, f"nothing held for approval matches {exc.args[0]}")
    started = 0
    for job in jobs:
        with contextlib.suppress(StaleTransition):
            journal.transition(
                job.id, JobState.HELD, JobState.WAITING, approval=APPROVED, note=None
            )
            started += 1
    if started:
        logger.info("approved: {} held file(s) start", started)
    return Answer(started, f"approved {started} file(s)" if started else "nothing to approve")


def cancel(journal: Journal, config: Config, targets: Iterable[str] = ()) -> Answer:
    """Cancel jobs whose run was not created yet (waiting, held, uploading): each original goes
    to the failed folder with a report saying so; ``floradrop retry`` brings it back."""
    targets = list(targets)
    try:
        jobs = _targets(journal, config, targets, CANCELLABLE)
    except LookupError as exc:
        return Answer(
            0,
            f"no job that can still be cancelled matches {exc.args[0]} "
            "(a run already created cannot be cancelled)",
        )
    if not targets:  # no names: only what the guard holds, never the whole queue by accident
        jobs = [j for j in jobs if j.approval == ASKED]
    cancelled = 0
    for candidate in jobs:
        try:
            # First out of reach of the workers: an upload under way can no longer create
            # its run (its UPLOADING -> SUBMITTING transition finds the job held).
            job = journal.transition(candidate.id, CANCELLABLE, JobState.HELD, approval=CANCELLING)
        except StaleTransition:
            continue  # its run was created meanwhile: it runs
        folder = next((f for f in config.folders if str(f.path) == job.folder), None)
        if folder is None:
            continue
        file_failed(
            job,
            folder,
            journal,
            Failure(
                "cancelled by you before its run was started; nothing was charged",
                "'floradrop retry' on this file runs it after all",
                "CANCELLED",
            ),
        )
        cancelled += 1
    return Answer(cancelled, f"cancelled {cancelled} file(s)" if cancelled else "nothing to cancel")


# -- what status, the tray and the dashboard show ---------------------------------------------


def _quoted(job: Job) -> float:
    return job.reserved if job.reserved is not None else job.run_cost or 0.0


def status(
    config: Config, journal: Journal, *, day: date | None = None
) -> tuple[dict[str, Any], tuple[guard.Question, ...], int]:
    """Spend today / this week / this month (total and per folder), money reserved, the open
    big-drop questions, and how many jobs wait for budget."""
    periods = budget.periods(day or date.today())
    folders = [(f.name, str(f.path)) for f in config.folders]
    spend = {
        p.name: {
            "total_usd": round(journal.spend_between(p.first, p.last), 6),
            "folders": {
                name: round(journal.spend_between(p.first, p.last, key), 6) for name, key in folders
            },
        }
        for p in periods
    }
    reserved = {
        "total_usd": round(journal.reserved(), 6),
        "folders": {name: round(journal.reserved(key), 6) for name, key in folders},
    }
    held = journal.jobs([JobState.HELD])
    budget_held = sum(
        1
        for j in held
        if j.approval not in (ASKED, CANCELLING) and not schedule.is_schedule_hold(j)
    )
    found = questions(journal, config, _quoted)
    d = config.daemon
    data: dict[str, Any] = {
        "spend": spend,
        "reserved": reserved,
        "waiting_for_budget": budget_held,
        "waiting_for_approval": sum(q.files for q in found),
        "budgets": {
            "daily_budget_usd": d.daily_budget_usd,
            "folders": {f.name: f.budget_usd for f in config.folders if f.budget_usd is not None},
            "confirm_above_files": d.confirm_above_files,
            "confirm_above_usd": d.confirm_above_usd,
        },
    }
    return data, tuple(found), budget_held


def question_attention(found: Iterable[guard.Question]) -> Attention:
    texts = [q.text for q in found]
    return Attention(
        AttentionKind.CONFIRM,
        " ".join(texts) + " Nothing is spent until you answer.",
        "Start or Cancel in the tray menu, or 'floradrop approve' / 'floradrop cancel'",
    )
