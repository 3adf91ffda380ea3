"""Fetch: write each output of a completed run into the outputs folder, completely or not at all.

Names are ``{stem}.{technique}{-n}.{ext}`` (``-n`` only when a run has several outputs; a taken
name gets " (2)"). Each output is downloaded to a temporary file in the outputs folder and only
then linked under its final name; its SHA-256 is journaled first, so after a crash a file found
under the planned name with that hash is recognised as ours instead of being fetched twice. A
provenance sidecar ``{output}.json`` records where it came from.
"""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import Any
from urllib.parse import urlparse

from loguru import logger

from floradrop import __version__
from floradrop.files import (
    fsync_file,
    numbered,
    open_fresh,
    place,
    sanitize_component,
    sha256_file,
    temp_path,
    truncate_name,
    write_text_atomic,
)
from floradrop.flora.client import FloraClient
from floradrop.flora.models import Run, RunOutput
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal
from floradrop.pipeline.decide import media_type
from floradrop.pipeline.source import superseded
from floradrop.pipeline.upload import ProgressLog
from floradrop.workflows import chains

MAX_OUTPUT_BYTES = 2 * 1024**3  # 2 GiB: a larger "output" is refused, not written

_EXTENSION_FIXES = {".jpe": ".jpg", ".jpeg": ".jpg", ".tif": ".tiff", ".qt": ".mov"}
_DEFAULT_EXT = {"imageUrl": ".png", "videoUrl": ".mp4", "audioUrl": ".mp3", "documentUrl": ".pdf"}


@dataclass(frozen=True)
class FetchContext:
    client: FloraClient
    journal: Journal
    outputs_dir: Path
    technique_label: str  # the slug used in output names
    should_stop: Callable[[], bool] = lambda: False
    # Outputs bound for the next folder of a chain are written here, then linked in.
    staging_dir: Path | None = None


def extension_for(output: RunOutput, content_type: str | None) -> str:
    """From the response's Content-Type, else the URL's path, else the output type.

    Only an extension of the output's declared kind is taken: an ``imageUrl`` served as
    ``application/x-msdownload`` or named ``evil.exe`` is saved as ``.png``, never as a file a
    double click would run.
    """
    if output.is_text:
        return ".txt"
    candidates = []
    if content_type:
        candidates.append(mimetypes.guess_extension(content_type.split(";")[0].strip()) or "")
    candidates.append(PurePosixPath(urlparse(output.url).path).suffix.lower())
    for candidate in candidates:
        ext = _EXTENSION_FIXES.get(candidate, candidate)
        if len(ext) <= 6 and ext[1:].isalnum() and media_type(PurePath("x" + ext)) == output.type:
            return ext
    return _DEFAULT_EXT.get(output.type, ".bin")


def output_name(stem: str, technique: str, index: int, count: int, ext: str) -> str:
    """``photo.cctv-cam.png``; ``photo.icon-pack-2.png`` for the 2nd of several outputs."""
    label = sanitize_component(technique, fallback="flora")
    number = f"-{index + 1}" if count > 1 else ""
    stem = sanitize_component(stem, fallback="output")  # "-.png" gives "output.{label}.png"
    return sanitize_component(truncate_name(f"{stem}.{label}{number}{ext}"))


def _find_written(directory: Path, name: str, digest: str, size: int) -> Path | None:
    """After a crash: the file we placed under ``name`` (or a numbered variant), if any."""
    for n in range(1, 50):
        candidate = directory / numbered(name, n)
        if not candidate.exists():
            return None
        try:
            if candidate.stat().st_size == size and sha256_file(candidate) == digest:
                return candidate
        except OSError:
            continue
    return None


def fetch_outputs(job: Job, run: Run, ctx: FetchContext) -> Job:
    """FETCHING: write every output not written yet; returns the job with ``outputs`` filled."""
    log = logger.bind(job=job.id)
    ctx.outputs_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = list(job.outputs) or [
        {"output_id": o.output_id, "type": o.type, "status": "pending"} for o in run.outputs
    ]
    stem = Path(job.rel_path).stem
    for index, output in enumerate(run.outputs):
        record = records[index]
        if record["status"] == "written" and record.get("sidecar"):
            continue
        if record["status"] == "planned":
            found = _find_written(ctx.outputs_dir, record["name"], record["sha256"], record["size"])
            if found is not None:
                record.update(status="written", path=str(found))
        if record["status"] != "written":
            if ctx.staging_dir is not None:
                ctx.staging_dir.mkdir(parents=True, exist_ok=True)
            temp = temp_path(ctx.staging_dir or ctx.outputs_dir, f"{job.id}-{index}")
            if output.is_text:
                with open_fresh(temp, text=True) as handle:
                    handle.write(output.url)
                fsync_file(temp)
                content_type: str | None = "text/plain"
            else:
                temp.unlink(missing_ok=True)  # a leftover, or a link planted under our name
                result = ctx.client.download(
                    output.url,
                    temp,
                    max_bytes=MAX_OUTPUT_BYTES,
                    on_progress=ProgressLog(job.id, temp.name, ctx.should_stop),
                )
                content_type = result.content_type
            name = output_name(
                stem,
                ctx.technique_label,
                index,
                len(run.outputs),
                extension_for(output, content_type),
            )
            record.update(
                status="planned",
                name=name,
                sha256=sha256_file(temp),
                size=temp.stat().st_size,
                content_type=content_type,
            )
            job = ctx.journal.transition(job.id, JobState.FETCHING, outputs=records)
            final = place(temp, ctx.outputs_dir, name)
            record.update(status="written", path=str(final))
            job = ctx.journal.transition(job.id, JobState.FETCHING, outputs=records)
            log.info("wrote {}", final.name)
        final = Path(record["path"])
        sidecar = final.with_name(final.name + ".json")
        if not sidecar.exists():
            first = records[0].get("path")
            cost_in = None if index == 0 or not first else Path(first).name + ".json"
            document = provenance(job, run, output, record, cost_in=cost_in)
            write_text_atomic(ctx.outputs_dir, sidecar.name, document, staging=ctx.staging_dir)
        record["sidecar"] = True
        job = ctx.journal.transition(job.id, JobState.FETCHING, outputs=records)
    return job


def _media_input(job: Job, item: dict[str, str]) -> dict[str, str | None]:
    """Where a media input came from: a FLORA asset, a hosted object, or a URL (a dropped
    link or a fixed input). Hosted links are stored unsigned, so nothing secret is shown."""
    recorded = job.assets.get(item["id"]) or {}
    if recorded.get("hosted"):
        return {"hosted_object": recorded["hosted"], "url": item["value"]}
    if recorded.get("asset_id"):
        return {"asset_id": recorded["asset_id"]}
    return {"asset_id": None, "url": item["value"]}


def provenance(
    job: Job,
    run: Run,
    output: RunOutput,
    record: dict[str, Any],
    *,
    cost_in: str | None = None,
) -> str:
    """The ``{output}.json`` sidecar: where this output came from.

    The run's cost is in the first output's sidecar only (``cost_in`` names it in the
    others), so adding up the sidecars of a folder gives what was spent."""
    inputs = [
        {"id": i["id"], "type": i["type"]}
        | ({"value": i["value"]} if i["type"] == "text" else _media_input(job, i))
        for i in job.inputs
    ]
    document = {
        "floradrop_version": __version__,
        "source": {
            "name": Path(job.rel_path).name,
            "path": job.source_path,
            "sha256": job.content_hash,
            "size": job.size,
        }
        | (
            {
                "earlier_version": True,
                "note": "made from an earlier version of this file: it was saved again after "
                "its run started, and the new version is processed as a job of its own",
            }
            if superseded(job)
            else {}
        ),
        "technique": job.technique,
        "run_id": run.run_id,
        "output": {
            "output_id": output.output_id,
            "type": output.type,
            "url": None if output.is_text else output.url,
            "sha256": record["sha256"],
            "size": record["size"],
            "content_type": record.get("content_type"),
        },
        "inputs": inputs,
        "run_outputs": len(run.outputs),
        **(
            {"cost_usd": run.charged_cost if run.charged_cost is not None else job.cost}
            if cost_in is None
            else {"cost_usd_in": cost_in}
        ),
        "times": {
            "dropped": _iso(job.created_at),
            "submitted": _iso(job.submitted_at),
            "completed": _iso(job.completed_at),
            "fetched": _iso(time.time()),
        },
    }
    previous = chains.previous_provenance(Path(job.source_path))
    if previous is not None:  # the source was an earlier step's output: the chain so far
        document["previous"] = previous
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(epoch))
