"""Verdict: what the pipeline decides about one dropped file before anything is uploaded.

One decision path for the real run and ``run --dry-run``. The dry run takes, in the real run's
order, the very functions the watcher, admission and upload call: :func:`admission`
(:func:`floradrop.pipeline.decide.decide`: junk and ``ignore`` patterns, the rule, sidecars;
then empty files, duplicates), then the budgets (:mod:`floradrop.budget`), then
:func:`upload_problem` (:func:`floradrop.pipeline.bind.plan_inputs`, the plan the upload stage
follows: a ``.docx`` that no input accepts is refused here; the checks of the bytes before
upload: damaged or oversized images, text that is not UTF-8), then the big-drop guard.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path, PurePath

from floradrop.config import FolderConfig, Rule
from floradrop.errors import ConfigError, JobError
from floradrop.files import sha256_file
from floradrop.flora.models import TEXT, Technique
from floradrop.jobs import JobState
from floradrop.journal import Journal
from floradrop.pipeline import bind, decide
from floradrop.pipeline.precheck import check_upload


class Outcome(enum.StrEnum):
    RUN = "run"  # uploaded and run, at its technique's cost
    SKIP = "skip"  # left alone: junk, ignored, no rule, a sidecar, empty
    DUPLICATE = "duplicate"  # same bytes and rule done before: filed without a run
    FAIL = "fail"  # refused before any upload: to the failed folder, with a report


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    reason: str = ""
    technique: str | None = None
    cost: float = 0.0
    rule: Rule | None = None


def admission(
    path: Path,
    folder: FolderConfig,
    techniques: dict[str, Technique | None],
    *,
    journal: Journal | None = None,
    duplicates: str = "skip",
) -> Verdict:
    """What admission decides about ``path``: skipped, a duplicate, or a job (``RUN``, with
    its rule and cost; the budgets and the checks before upload come after)."""
    from floradrop.pipeline.admit import job_key, rule_fingerprint, siblings_of

    rel = PurePath(path.relative_to(folder.path))
    decision = decide.decide(rel, folder, lambda: siblings_of(path, rel))
    rule = decision.rule
    if decision.action != "job" or rule is None:  # junk, ignored, no rule, a sidecar
        reason = "no rule matches" if decision.action == "no_rule" else decision.reason
        return Verdict(Outcome.SKIP, reason)
    if path.stat().st_size == 0:
        return Verdict(Outcome.SKIP, "empty: processed once it has content")
    technique = techniques.get(rule.technique)
    if technique is None:
        return Verdict(Outcome.FAIL, f"technique {rule.technique} does not exist")
    if journal is not None and duplicates == "skip":
        key = job_key(sha256_file(path), rule_fingerprint(folder, decision.rule_index, rule))
        done = [j for j in journal.find_by_key(key) if j.state is JobState.DONE]
        if done:
            return Verdict(
                Outcome.DUPLICATE, f"same content and rule as {done[0].rel_path}", rule.technique
            )
    return Verdict(Outcome.RUN, "", rule.technique, technique.run_cost, rule)


def upload_problem(path: Path, rule: Rule, technique: Technique) -> str | None:
    """Why the upload stage would refuse ``path`` before anything is sent, or None."""
    from floradrop.pipeline.upload import read_text_input

    try:
        plan = bind.plan_inputs(technique, rule, decide.media_type(path))
        for bound in plan.inputs:
            if bound.binding.kind == "file" and bound.input.type != TEXT:
                check_upload(path, bound.input.type, path.stat().st_size)
            elif bound.binding.kind == "text":
                read_text_input(path, "the dropped file")
    except (ConfigError, JobError) as exc:
        return exc.message
    return None
