"""Admit: turn a settled file into a journaled job (or say why not), before any side effect.

A job is identified by the content hash of the file and the rule that handles it: the same
bytes dropped again under another name are recognised as a duplicate (skipped, or processed
again when ``[daemon] duplicates = "process"``), while a changed file is a new job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath

from loguru import logger

from floradrop.config import FolderConfig, Rule
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal, StaleTransition
from floradrop.pipeline import decide, source


class Outcome(StrEnum):
    JOB = "job"  # a new job was journaled
    DUPLICATE = "duplicate"  # same bytes + rule done before: journaled as a duplicate
    KNOWN = "known"  # this very file (path, size, mtime) is already a job
    IGNORED = "ignored"  # junk or an ignore pattern
    NO_RULE = "no_rule"  # no rule of the folder matches the name
    SIDECAR = "sidecar"  # the companion of another dropped file (e.g. its prompt)
    MAYBE_SIDECAR = "maybe_sidecar"  # could be a sidecar whose file has not arrived yet
    EMPTY = "empty"  # zero bytes: left in place (often a placeholder about to be written)
    DEFER = "defer"  # same bytes as a job whose file just went: decide once that job settles


@dataclass(frozen=True)
class Admission:
    outcome: Outcome
    reason: str = ""
    job: Job | None = None


def rule_fingerprint(folder: FolderConfig, rule_index: int, rule: Rule) -> str:
    """What identifies "the rule" of a job: folder, technique and input bindings."""
    data = {
        "folder": str(folder.path),
        "rule": rule_index,
        "technique": rule.technique,
        "inputs": {k: [b.kind, b.value] for k, b in sorted(rule.inputs.items())},
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def job_key(content_hash: str, fingerprint: str) -> str:
    return hashlib.sha256(f"{content_hash}:{fingerprint}".encode()).hexdigest()


_NOT_STARTED = frozenset({JobState.WAITING, JobState.HELD, JobState.UPLOADING})


def siblings_of(path: Path, rel: PurePath) -> list[str]:
    """The names next to ``path`` that could own it as a sidecar (``photo.png`` for
    ``photo.txt``: they share the part of the name before its first dot)."""
    stem = rel.name.split(".", 1)[0]
    try:
        return [p.name for p in path.parent.iterdir() if p.name.startswith(stem)]
    except OSError:
        return []


def admit(
    path: Path,
    size: int,
    mtime_ns: int,
    folder: FolderConfig,
    *,
    journal: Journal,
    duplicates: str = "skip",
    run_costs: dict[str, float] | None = None,
    hold_sidecars: bool = False,
) -> Admission:
    """Decide what ``path`` (just settled in ``folder``) is, and journal a job if it is work.

    ``path`` comes from the watcher, which screened it with :func:`decide.ignore_reason`
    before it settled (junk is never settled): admission goes on with :func:`decide.route`,
    the rest of the one decision path."""
    try:
        rel = PurePath(path.relative_to(folder.path))
    except ValueError:
        return Admission(Outcome.IGNORED, f"not inside {folder.path}")

    retry_requested = journal.take_retry_request(str(path))
    for job in journal.find_by_source(str(path)):
        if retry_requested:
            break
        unchanged = job.size == size and job.mtime_ns == mtime_ns
        # A failed file still where it was dropped (after = "keep", or its move to the failed
        # folder failed) is not run again by itself at the next start: 'floradrop retry' is.
        live = not job.state.terminal or folder.after == "keep" or job.state is JobState.FAILED
        if unchanged and live and job.state is not JobState.CANCELLED:
            return Admission(Outcome.KNOWN, f"already job {job.id} ({job.state})", job)

    decision = decide.route(rel, folder, lambda: siblings_of(path, rel))
    if decision.action == "no_rule":
        return Admission(Outcome.NO_RULE, f"no rule of {folder.path} matches {rel.name}")
    if decision.action == "sidecar":
        return Admission(Outcome.SIDECAR, f"{rel.name} is the sidecar of {decision.owner}")
    if decision.maybe_sidecar and hold_sidecars:
        return Admission(Outcome.MAYBE_SIDECAR, f"{rel.name} may be a sidecar; waiting")
    if size == 0:
        return Admission(
            Outcome.EMPTY, f"{rel.name} is empty (0 bytes); it is processed once it has content"
        )
    rule, rule_index = decision.rule, decision.rule_index
    assert rule is not None

    content_hash = source.settled_hash(path, size, mtime_ns)  # never through a link
    key = job_key(content_hash, rule_fingerprint(folder, rule_index, rule))
    earlier = []
    for j in journal.find_by_key(key):
        if j.state in {JobState.FAILED, JobState.CANCELLED}:
            continue
        if j.state in _NOT_STARTED and not source.still_ours(j):
            # Renamed or moved away before its upload (this may be that very file, under a
            # new name): that job can only be cancelled, so it is not the drop's first.
            try:
                journal.transition(
                    j.id, [j.state], JobState.CANCELLED, note=f"renamed or moved away ({rel})"
                )
                logger.bind(job=j.id).info("cancelled: {} went before its upload", j.name)
                continue
            except StaleTransition:  # it just started uploading: decide when it is through
                return Admission(Outcome.DEFER, f"waiting for job {j.id} to settle", j)
        earlier.append(j)
    attempt = max((j.attempt for j in journal.find_by_key(key)), default=-1) + 1
    fields = {
        "job_key": key,
        "attempt": attempt,
        "folder": str(folder.path),
        "rel_path": str(rel),
        "source_path": str(path),
        "size": size,
        "mtime_ns": mtime_ns,
        "content_hash": content_hash,
        "rule_index": rule_index,
        "technique": rule.technique,
        "run_cost": (run_costs or {}).get(rule.technique),
    }
    if earlier and duplicates == "skip" and not retry_requested:
        first = earlier[0]
        note = f"same content and rule as {first.rel_path} (job {first.id}, {first.state})"
        job = journal.add_job(state=JobState.DUPLICATE, note=note, **fields)
        return Admission(Outcome.DUPLICATE, note, job)
    return Admission(Outcome.JOB, "", journal.add_job(state=JobState.WAITING, **fields))
