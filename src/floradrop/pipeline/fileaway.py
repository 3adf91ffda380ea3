"""File away: the original goes to the done folder (or stays, with ``after = "keep"``); a failed
one goes to the failed folder next to ``{name}.error.txt`` saying what happened and what to do.

floradrop never deletes or overwrites a person's file: moves never replace anything (a taken
name gets " (2)"), and a file that changed since it was dropped is left where it is, because
its new content is a new job.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from floradrop.config import FolderConfig
from floradrop.files import MAX_NAME_BYTES, move_no_clobber, truncate_name
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal
from floradrop.logs import redact
from floradrop.pipeline.reports import (
    ORIGINAL,
    charge_note,
    original_line,
    point_sidecars_at,
    write_report,
)
from floradrop.pipeline.source import still_ours

REPORT_SUFFIX = ".error.txt"


@dataclass(frozen=True)
class Failure:
    """What went wrong with a job, for the journal and the error report."""

    message: str
    hint: str = ""
    code: str | None = None  # FLORA's error code (API or run error)
    flora_message: str | None = None

    def __post_init__(self) -> None:
        # FLORA may echo an input URL back in a run's error: a presigned link's signature
        # (or any registered secret) never reaches the journal or the report.
        object.__setattr__(self, "message", redact(self.message))
        if self.flora_message is not None:
            object.__setattr__(self, "flora_message", redact(self.flora_message))


def _move_original(job: Job, directory: Path, journal: Journal, state: JobState) -> Job:
    source = Path(job.source_path)
    if not still_ours(job):  # never through a link
        if os.path.lexists(source):
            note = f"{source.name} changed after it was dropped, so it was left in place"
            logger.bind(job=job.id).warning(note)
            return journal.transition(job.id, state, note=note)
        return job
    try:
        filed = move_no_clobber(source, directory, source.name)
    except OSError as exc:
        logger.bind(job=job.id).warning("could not move {} to {}: {}", source.name, directory, exc)
        return journal.transition(job.id, state, note=f"could not move the original: {exc}")
    logger.bind(job=job.id).info("filed {} in {}", source.name, directory)
    return journal.transition(job.id, state, filed_path=str(filed), source_path=str(filed))


def file_done(
    job: Job, folder: FolderConfig, journal: Journal, *, staging: Path | None = None
) -> Job:
    """FETCHING -> FILING -> DONE (``staging``: see :func:`point_sidecars_at`)."""
    job = journal.transition(job.id, [JobState.FETCHING, JobState.FILING], JobState.FILING)
    if folder.after == "move" and job.filed_path is None:
        job = _move_original(job, folder.done, journal, JobState.FILING)
    if job.filed_path:
        point_sidecars_at(job, job.filed_path, staging=staging)
    return journal.transition(job.id, JobState.FILING, JobState.DONE)


def file_duplicate(job: Job, folder: FolderConfig, journal: Journal) -> Job:
    """A duplicate drop: filed with the done originals (its outputs exist already)."""
    if folder.after == "move" and job.filed_path is None:
        job = _move_original(job, folder.done, journal, JobState.DUPLICATE)
    return job


def file_failed(job: Job, folder: FolderConfig, journal: Journal, failure: Failure) -> Job:
    """Any non-terminal state -> FAILED, the original moved to the failed folder with a report."""
    job = journal.transition(
        job.id,
        [s for s in JobState if not s.terminal],
        JobState.FAILED,
        error_code=failure.code,
        error_message=failure.message,
        error_hint=failure.hint,
    )
    if folder.after == "move":
        job = _move_original(job, folder.failed, journal, JobState.FAILED)
    report_name = report_name_for(Path(job.filed_path or job.rel_path).name)
    with contextlib.suppress(OSError):
        report = write_report(
            folder.failed,
            report_name,
            error_report(job, failure, journal),
            original=job.filed_path or job.source_path,
            stale_ok=job.filed_path is not None,  # its name was free: no live file has it
        )
        job = journal.transition(job.id, JobState.FAILED, report_path=str(report))
    logger.bind(job=job.id).error("{} failed: {}", Path(job.rel_path).name, failure.message)
    return job


def report_name_for(name: str) -> str:
    """``photo.png.error.txt``; a name near the 255-byte limit is shortened to leave room."""
    return truncate_name(name, MAX_NAME_BYTES - len(REPORT_SUFFIX)) + REPORT_SUFFIX


def error_report(job: Job, failure: Failure, journal: Journal | None = None) -> str:
    name = Path(job.rel_path).name
    lines = [f"floradrop could not process {name}", "", f"What happened: {failure.message}"]
    if failure.code or failure.flora_message:
        lines.append(
            f"FLORA error:   {failure.code or '-'}: {failure.flora_message or ''}".rstrip()
        )
    if job.run_id:
        lines.append(f"Run id:        {job.run_id}")
    lines.append(f"Technique:     {job.technique}")
    lines.append(f"Dropped:       {_when(job.created_at)}")
    lines.append(f"Failed:        {_when(time.time())}")
    lines.append(f"{ORIGINAL}      {original_line(job, journal)}")
    lines.append("")
    lines.append(f"What to do: {failure.hint or 'see the message above.'}")
    again = job.filed_path or job.source_path
    lines.append(f"To try again: floradrop retry {shlex.quote(again)}  ({charge_note(job)})")
    return "\n".join(lines) + "\n"


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))
