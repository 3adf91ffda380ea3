"""The status snapshot, built from the journal plus (when the daemon runs) its live state.

Read-only commands (``status``, ``pause``, ``resume``, ``stop``, ``retry``) use this module
without starting, or even importing, the engine: nothing here loads watchdog or httpx.
Also here: where the journal is, and the folders of a config that cannot be used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from floradrop import money
from floradrop.acknowledge import acknowledged_at
from floradrop.config import Config
from floradrop.errors import ConfigError
from floradrop.jobs import ACTIVE_STATES, JobState
from floradrop.journal import Journal, start_of_today, today
from floradrop.status import (
    Attention,
    AttentionKind,
    FolderStatus,
    Live,
    Notice,
    RecentItem,
    Snapshot,
)
from floradrop.workflows import chains, review, schedule

JOURNAL_NAME = "journal.sqlite3"
FAILED_ATTENTION_SECONDS = 3600.0  # a failure keeps the icon in "needs attention" this long


def journal_path(config: Config) -> Path:
    return config.daemon.state_dir / JOURNAL_NAME


def folder_problems(config: Config) -> list[ConfigError]:
    """Folders of ``config`` that cannot be used: a file where a folder should be, or a folder
    whose parent does not exist. Only looks (``check`` shows them; ``run`` refuses to start)."""
    where = str(config.source) if config.source else "the config"
    problems = []
    for index, folder in enumerate(config.folders):
        for name in ("path", "outputs", "done", "failed"):
            directory: Path = getattr(folder, name)
            key = f"folders[{index}].{name}"
            if directory.exists() and not directory.is_dir():
                problems.append(
                    ConfigError(
                        f"{where}: {key}: {directory} is a file, not a folder.",
                        hint=f"move that file away, or set {key} to a folder",
                    )
                )
            elif not directory.exists() and not directory.parent.is_dir():
                problems.append(
                    ConfigError(
                        f"{where}: {key}: the folder {directory} cannot be created: "
                        f"{directory.parent} does not exist.",
                        hint=f"create {directory.parent}, or fix {key} in {where}",
                    )
                )
    return problems


def build_snapshot(
    config: Config,
    journal: Journal,
    *,
    live: Live | None = None,
    daemon_running: bool = False,
    log_file: Path | None = None,
    service_installed: bool | None = None,
    clock: Callable[[], datetime] | None = None,
    notices: tuple[Notice, ...] = (),
) -> Snapshot:
    """The status snapshot, from the journal plus (when the daemon runs) its live state."""
    counts = journal.counts()
    live = live or Live()
    progress_by_folder: dict[str, list[float]] = {}
    if live.progress:
        for job in journal.jobs([JobState.RUNNING]):
            progress_by_folder.setdefault(job.folder, []).append(
                live.progress.get(job.id, job.progress)
            )
    flows = chains.flows(config.folders)
    in_review = review.waiting(config.folders)
    windows = schedule.folder_statuses(config, journal, (clock or datetime.now)())
    folders = tuple(
        FolderStatus(
            name=f.name,
            path=f.path,
            outputs=f.outputs,
            done=f.done,
            failed=f.failed,
            technique=", ".join(dict.fromkeys(r.technique for r in f.effective_rules())),
            counts=dict(counts.get(str(f.path), {})),
            progress=tuple(progress_by_folder.get(str(f.path), ())),
            paused=str(f.path) in journal.paused_folders,  # on its own (the dashboard)
            transfer=f.transfer,
            links=f.links,
            flow=flows.get(f.path, ()),
            schedule=windows.get(str(f.path)),
            review=in_review.get(f.path),
            review_folder=f.review_folder if f.review else None,
        )
        for f in config.folders
    )

    def total(states: Iterable[JobState]) -> int:
        return sum(c.get(s.value, 0) for c in counts.values() for s in states)

    midnight = start_of_today()
    failed_today = journal.finished_since(midnight, JobState.FAILED)
    scheduled = sum(w.held for w in windows.values())
    held = total([JobState.HELD]) - scheduled
    spending, questions, budget_held = money.status(config, journal)
    attention = live.blocked
    if attention is None and live.offline:
        attention = Attention(
            AttentionKind.OFFLINE,
            "FLORA cannot be reached; work resumes by itself when it can.",
            "check the network connection",
        )
    if attention is None and live.disk_problem:
        attention = Attention(
            AttentionKind.DISK,
            live.disk_problem,
            "free some disk space (or fix the folder's permissions); the outputs are written "
            "as soon as they fit, without a new run",
        )
    if attention is None and live.config_problem:
        attention = Attention(AttentionKind.CONFIG, live.config_problem, "fix the config file")
    if attention is None and questions:
        attention = money.question_attention(questions)
    if attention is None and budget_held:
        attention = Attention(
            AttentionKind.BUDGET,
            f"{budget_held} file(s) wait for budget.",
            "raise daily_budget_usd / budget_usd in the config, or wait until tomorrow",
        )
    recent_failures = tuple(
        RecentItem(
            Path(j.report_path or j.source_path), f"{j.name}: {j.error_message}", j.finished_at or 0
        )
        for j in journal.jobs([JobState.FAILED], limit=10, newest_first=True)
    )
    since = max(time.time() - FAILED_ATTENTION_SECONDS, acknowledged_at(journal))
    if attention is None and recent_failures and recent_failures[0].at > since:
        attention = Attention(
            AttentionKind.FAILED_JOB,
            f"{failed_today or 1} file(s) failed; see the failed folder.",
            "open the error report next to the file",
        )
    results: list[RecentItem] = []
    for job in journal.jobs([JobState.DONE], limit=10, newest_first=True):
        for output in job.outputs:
            if output.get("path"):
                results.append(
                    RecentItem(
                        Path(output["path"]), Path(output["path"]).name, job.finished_at or 0
                    )
                )
    return Snapshot(
        paused=journal.paused,
        daemon_running=daemon_running,
        folders=folders,
        running=total(ACTIVE_STATES),
        queued=total([JobState.WAITING]),
        held=held,
        scheduled=scheduled,
        notices=notices,
        done_today=journal.finished_since(midnight, JobState.DONE),
        failed_today=failed_today,
        spend_today_usd=journal.spend(today()),
        money=spending,
        questions=questions,
        offline=live.offline,
        attention=attention,
        recent_results=tuple(results[:10]),
        recent_failures=recent_failures,
        last_error=live.last_error,
        tray_warning=live.tray_warning,
        config_file=config.source,
        log_file=log_file,
        service_installed=service_installed,
    )
