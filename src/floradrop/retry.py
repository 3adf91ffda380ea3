"""``floradrop retry PATH``: run a file again on purpose (a new run, charged again).

PATH may be an original filed in a done or failed folder, or a file still in a watched folder
(``after = "keep"``). A file outside its inbox is moved back in (never overwriting); the journal
then remembers that the next job for that path is a deliberate re-run, so the duplicate check
does not skip it and the run gets a new idempotency key.
"""

from __future__ import annotations

from pathlib import Path

from floradrop.config import Config, FolderConfig
from floradrop.errors import FloradropError
from floradrop.files import move_no_clobber
from floradrop.journal import Journal


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


def request_retry(config: Config, journal: Journal, path: Path) -> str:
    path = path.expanduser().absolute()
    if not path.is_file():
        raise FloradropError(
            f"{path} is not a file.", hint="give the path of the file to run again"
        )
    folder = folder_for(config, journal, path)
    target = path
    if not _inside(path, folder.path):
        journal.add_retry_request(str(folder.path / path.name))  # before the watcher sees it
        target = move_no_clobber(path, folder.path, path.name)
    journal.add_retry_request(str(target))
    return f"{target.name} will run again in {folder.name} (a new run, charged again)."
