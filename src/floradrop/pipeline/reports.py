"""What floradrop writes about a file, kept true: one current error report per failed file,
saying where the original really is now, and provenance sidecars that point at the original
where it was filed.

A report is ``{name}.error.txt`` next to the failed original. When the same file fails again
(after ``floradrop retry``), its report is replaced, never piled up as ``… (2).txt``; a report
of another file that happens to have the same name is never touched.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path

from loguru import logger

from floradrop.files import replace_text_atomic, write_text_atomic
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal

ORIGINAL = "Original:"
_ORIGINAL_LINE = re.compile(
    r"^Original:\s+(?:moved to|left at|filed at|no longer at) (.*?)(?: \(moved or deleted\))?$"
)


def original_line(job: Job, journal: Journal | None = None) -> str:
    """Where the original is now: moved to the failed folder, left in place, or elsewhere."""
    if job.filed_path and Path(job.filed_path).exists():
        return f"moved to {job.filed_path}"
    if Path(job.source_path).exists():
        return f"left at {job.source_path}"
    if journal is not None:  # e.g. filed in done/ by a job for the same drop
        for other in journal.find_by_key(job.job_key):
            if other.id != job.id and other.filed_path and Path(other.filed_path).exists():
                return f"filed at {other.filed_path}"
    return f"no longer at {job.filed_path or job.source_path} (moved or deleted)"


def subject_of(report: Path) -> str | None:
    """The original a report is about (its "Original:" line), or None."""
    try:
        text = report.read_text("utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        found = _ORIGINAL_LINE.match(line)
        if found:
            return found.group(1)
    return None


def write_report(directory: Path, name: str, text: str, *, original: str, stale_ok: bool) -> Path:
    """The report ``name`` in ``directory``: replaces an earlier report about the same
    original (or, with ``stale_ok``, any report of that name, whose file cannot be there);
    another file's report of the same name is kept and this one gets a free name."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = directory / name
    ours = existing.is_file() and not existing.is_symlink()
    if ours and (stale_ok or subject_of(existing) == original):
        return replace_text_atomic(existing, text)
    return write_text_atomic(directory, name, text)


def forget_report(report: Path) -> None:
    """A failed file is being run again: its report is no longer current."""
    if report.is_file() and not report.is_symlink():
        with contextlib.suppress(OSError):
            report.unlink()


def point_sidecars_at(job: Job, original: str, *, staging: Path | None = None) -> None:
    """Each output's provenance names the original where it is now (after filing); rewritten
    by way of ``staging`` when the outputs are the next folder's inbox (a chain)."""
    for record in job.outputs:
        if not record.get("path"):
            continue
        sidecar = Path(record["path"] + ".json")
        try:
            document = json.loads(sidecar.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        source = document.get("source")
        if not isinstance(source, dict) or source.get("path") == original:
            continue
        source["path"] = original
        try:
            text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
            replace_text_atomic(sidecar, text, staging=staging)
        except OSError as exc:
            logger.bind(job=job.id).warning("could not update {}: {}", sidecar.name, exc)


def charge_note(job: Job | None) -> str:
    """What running the file again costs, said truly: "charged again" only where its last run
    was (or may have been) charged."""
    if job is None:
        return "a new run, charged"
    if job.run_id is None:
        return "a new run, charged; its last attempt failed before any run, so nothing was charged"
    if job.cost == 0 and job.state is not JobState.DONE:
        return "a new run, charged; its last run failed at FLORA, which charged nothing for it"
    return "a new run, charged again"
