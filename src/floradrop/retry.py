"""``floradrop retry PATH``: run a file again on purpose (a new run, charged again).

PATH may be an original filed in a done or failed folder, or a file still in a watched folder
(``after = "keep"``). A file outside its inbox is moved back in (never overwriting); the journal
then remembers that the next job for that path is a deliberate re-run, so the duplicate check
does not skip it and the run gets a new idempotency key.
"""

from __future__ import annotations

from pathlib import Path

from floradrop.config import Config, FolderConfig
from floradrop.errors import ExitCode, FloradropError
from floradrop.files import move_no_clobber
from floradrop.journal import Job, Journal
from floradrop.pipeline.reports import charge_note, forget_report


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.relative_to(directory)
    except ValueError:
        return False
    return True


def folder_for(config: Config, journal: Journal, path: Path) -> FolderConfig:
    for folder in config.folders:
        if any(_inside(path, d) for d in (folder.path, folder.done, folder.failed)):
            return folder
    for job in journal.find_by_source(str(path)):
        for folder in config.folders:
            if str(folder.path) == job.folder:
                return folder
    raise FloradropError(
        f"{path} is not in a watched, done or failed folder of this config.",
        hint="drop it into a watched folder instead",
    )


class NotAFileError(FloradropError):
    """``retry`` was given a path that is no file: a bad command line (exit 2)."""

    exit_code = ExitCode.USAGE


def request_retry(config: Config, journal: Journal, path: Path) -> str:
    path = path.expanduser().absolute()
    if not path.is_file():
        raise NotAFileError(f"{path} is not a file.", hint="give the path of the file to run again")
    folder = folder_for(config, journal, path)
    last = last_job(journal, folder, path)
    target = path
    if not _inside(path, folder.path):
        journal.add_retry_request(str(folder.path / path.name))  # before the watcher sees it
        target = move_no_clobber(path, folder.path, path.name)
        if last is not None and last.report_path and last.filed_path == str(path):
            forget_report(Path(last.report_path))  # about a file no longer in the failed folder
    journal.add_retry_request(str(target))
    return f"{target.name} will run again in {folder.name} ({charge_note(last)})."


def last_job(journal: Journal, folder: FolderConfig, path: Path) -> Job | None:
    """The latest job of the file at ``path`` (filed away, or still where it was dropped)."""
    jobs = journal.find_by_source(str(path))
    if not _inside(path, folder.path):
        jobs += journal.find_by_source(str(folder.path / path.name))
    mine = [j for j in jobs if str(path) in (j.filed_path, j.source_path)]
    return max(mine or jobs, key=lambda j: j.id, default=None)
