"""Poll: learn how each running job's run is doing.

With a few runs in flight, one ``GET`` per run (its ``poll_url``, else the nested route). With
more, one ``GET /technique-runs`` page (100 runs, newest first) answers for many runs at once;
``scripts/bench.py`` measures both (see BENCHMARKS.md), and :data:`BATCH_THRESHOLD` is where the
list starts to cost fewer requests. Runs the list did not reach are polled one by one. When
to poll which run is decided by :mod:`floradrop.pipeline.schedule`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loguru import logger

from floradrop.flora.client import FloraClient
from floradrop.flora.models import Run
from floradrop.journal import Job

BATCH_THRESHOLD = 3  # runs due together from which one list request replaces per-run requests
_MAX_PAGES = 20


class Poller:
    def __init__(self, client: FloraClient, workspace_id: str, *, batch: bool = True) -> None:
        self.client = client
        self.workspace_id = workspace_id
        self.batch = batch

    def poll(self, jobs: Sequence[Job], also: Iterable[Job] = ()) -> dict[int, Run]:
        """The latest state of each job's run (jobs without a run id are skipped).

        Runs of ``also`` found on a run-list page read anyway are included (no request is made
        for them)."""
        wanted = {job.run_id: job for job in jobs if job.run_id}
        found: dict[int, Run] = {}
        if self.batch and len(wanted) >= BATCH_THRESHOLD:
            extra = {job.run_id: job for job in also if job.run_id and job.run_id not in wanted}
            found.update(self._from_list(wanted, extra))
        for run_id, job in wanted.items():
            if job.id in found:
                continue
            found[job.id] = self.client.get_run(
                run_id, technique=job.technique, poll_url=job.poll_url
            )
        return found

    def _from_list(self, wanted: dict[str, Job], extra: dict[str, Job]) -> dict[int, Run]:
        oldest = min((j.submit_started_at or 0.0) for j in wanted.values()) - 120.0
        found: dict[int, Run] = {}
        missing = len(wanted)
        pages = 0
        for index, run in enumerate(
            self.client.iter_technique_runs(workspace_id=self.workspace_id)
        ):
            job = wanted.get(run.run_id) or extra.get(run.run_id)
            if job is not None:
                found[job.id] = run
                missing -= run.run_id in wanted
            if not missing and (not extra or index % 100 == 99):
                break  # every wanted run found (the rest of a page read anyway is free)
            created = run.created_at
            if created is not None and (created / 1000.0 if created > 1e11 else created) < oldest:
                break
            if index % 100 == 99:
                pages += 1
                if pages >= _MAX_PAGES:
                    logger.debug("run list: stopped after {} pages", pages)
                    break
        return found
