"""One drop, one job (issue 9): a file saved again after its run was created.

The run already made is paid for, so its outputs are still written, marked in their provenance
as made from an earlier version; the new content becomes one new job with a run of its own.
A real engine, the emulator over loopback, a real file rewritten in place as an editor saves.
"""

from __future__ import annotations

import json
from pathlib import Path

from flora_emulator import Emulator
from floradrop.jobs import JobState

from .harness import drop, folder_toml, png_bytes, running, wait_for, write_config


def sidecars(folder: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("*.json"))]


def test_a_file_saved_again_after_its_run_started_keeps_that_run_and_runs_once_more(
    tmp_path: Path,
) -> None:
    first, second = png_bytes(31, (96, 64)), png_bytes(32, (96, 64))
    with Emulator(run_seconds=3.0) as emulator:
        config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
        with running(config, emulator) as daemon:
            target = drop(tmp_path / "in", "poster.png", first)
            wait_for(
                lambda: any(j.run_id for j in daemon.jobs(JobState.RUNNING)),
                30,
                "the first version's run to be created",
            )
            with target.open("r+b") as handle:  # saved again in place, as editors save
                handle.truncate(0)
                handle.write(second)
            done = daemon.wait_state(2, JobState.DONE, timeout=60)
            assert emulator.stats.runs_created == 2
    by_hash = {j.content_hash: j for j in done}
    assert len(by_hash) == 2 and len({j.run_id for j in done}) == 2
    outputs = tmp_path / "in-outputs"
    made = [p for p in outputs.iterdir() if p.suffix != ".json" and not p.name.startswith(".")]
    assert len(made) == 2, made  # one output per run, no pile
    documents = sidecars(outputs)
    earlier = [d for d in documents if d["source"].get("earlier_version")]  # type: ignore[union-attr]
    latest = [d for d in documents if not d["source"].get("earlier_version")]  # type: ignore[union-attr]
    assert len(earlier) == 1 and len(latest) == 1, documents
    assert earlier[0]["run_id"] != latest[0]["run_id"]
    assert latest[0]["source"]["size"] == len(second)  # type: ignore[index]
    assert earlier[0]["source"]["size"] == len(first)  # type: ignore[index]
    # The final content is what was filed away; nothing was lost or overwritten.
    filed = [p for p in (tmp_path / "in-done").iterdir() if p.suffix != ".json"]
    assert second in [p.read_bytes() for p in filed]
