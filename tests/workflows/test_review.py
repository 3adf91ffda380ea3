"""Hold points: ``review = true`` keeps outputs until a person approves or rejects them.

A real engine over the emulator, real watchdog observers, a real journal; the person is a
``os.replace`` from the review folder into ``approved``/``rejected``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from flora_emulator import Emulator
from floradrop.cli.status_cmd import render
from floradrop.config import parse_config
from floradrop.jobs import JobState
from floradrop.workflows import review
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config


def _chain(tmp_path: Path) -> str:
    grade = tmp_path / "grade"
    return folder_toml(
        tmp_path, "cam", "cctv-cam", f"outputs = {str(grade)!r}\nreview = true"
    ) + folder_toml(tmp_path, "grade", "palette-pull")


def test_review_folders_default_to_siblings(tmp_path: Path) -> None:
    config = parse_config(
        {"folders": [{"path": str(tmp_path / "cam"), "technique": "cctv-cam", "review": True}]},
        source=tmp_path / "c.toml",
    )
    folder = config.folders[0]
    assert folder.review_folder == tmp_path / "cam-review"
    assert folder.approved == tmp_path / "cam-approved"
    assert folder.rejected == tmp_path / "cam-rejected"
    assert review.outputs_dir(folder) == tmp_path / "cam-review"


def test_approved_feeds_the_next_folder_once_rejected_feeds_nothing(
    tmp_path: Path, emulator: Emulator
) -> None:
    held = tmp_path / "cam-review"
    with running(write_config(tmp_path, _chain(tmp_path)), emulator) as daemon:
        drop(tmp_path / "cam", "street.png", png_bytes(1))
        drop(tmp_path / "cam", "alley.png", png_bytes(2))
        first = daemon.wait_state(2, JobState.DONE)
        wait_for(lambda: len(review.outputs_in(held)) == 2, 10, "two outputs held for review")
        # held: the next folder has nothing and runs nothing
        assert sorted(p.name for p in review.outputs_in(held)) == [
            "alley.cctv-cam.png",
            "street.cctv-cam.png",
        ]
        assert (held / "street.cctv-cam.png.json").exists()
        assert list((tmp_path / "grade").iterdir()) == []
        assert [r.technique for r in emulator.runs()] == ["cctv-cam", "cctv-cam"]
        snapshot = daemon.engine.snapshot()
        assert [f.review for f in snapshot.folders] == [2, None]
        assert "2 waiting for review" in render(snapshot.to_json())

        # a person approves one (with its sidecar) and rejects the other
        # (the output alone: its sidecar follows it from the review folder)
        os.replace(held / "street.cctv-cam.png", tmp_path / "cam-approved" / "street.cctv-cam.png")
        for name in ("alley.cctv-cam.png", "alley.cctv-cam.png.json"):
            os.replace(held / name, tmp_path / "cam-rejected" / name)

        daemon.wait_state(3, JobState.DONE)
        wait_for(lambda: not list((tmp_path / "grade").iterdir()), 10, "the next inbox to empty")
        jobs = sorted((j.folder, j.name, j.state) for j in daemon.jobs())
        snapshot = daemon.engine.snapshot()

    # the approved output ran exactly once in the next folder; the rejected one never
    assert sorted(r.technique for r in emulator.runs()) == ["cctv-cam", "cctv-cam", "palette-pull"]
    assert jobs == [
        (str(tmp_path / "cam"), "alley.png", JobState.DONE),
        (str(tmp_path / "cam"), "street.png", JobState.DONE),
        (str(tmp_path / "grade"), "street.cctv-cam.png", JobState.DONE),
    ]
    # its output's provenance names the earlier step
    street_run = next(j.run_id for j in first if j.name == "street.png")
    sidecars = list((tmp_path / "grade-outputs").glob("*.json"))
    assert sidecars, list((tmp_path / "grade-outputs").iterdir())
    document = json.loads(sidecars[0].read_text("utf-8"))
    assert document["technique"] == "palette-pull"
    assert document["previous"]["run_id"] == street_run
    assert document["previous"]["technique"] == "cctv-cam"
    # nothing deleted: the approved output and its sidecar are filed with the next folder's
    # originals; the rejected one stays where the person put it
    assert (tmp_path / "grade-done" / "street.cctv-cam.png").exists()
    assert (tmp_path / "grade-done" / "street.cctv-cam.png.json").exists()
    assert (tmp_path / "cam-rejected" / "alley.cctv-cam.png").exists()
    assert (tmp_path / "cam-rejected" / "alley.cctv-cam.png.json").exists()
    assert [f.review for f in snapshot.folders] == [0, None]
    staging = tmp_path / ".floradrop-staging"
    assert not staging.exists() or not list(staging.iterdir())


def test_approved_stays_when_not_chained(tmp_path: Path, emulator: Emulator) -> None:
    folders = folder_toml(tmp_path, "cam", "cctv-cam", "review = true")
    with running(write_config(tmp_path, folders), emulator) as daemon:
        drop(tmp_path / "cam", "street.png", png_bytes(1))
        daemon.wait_state(1, JobState.DONE)
        held = tmp_path / "cam-review" / "street.cctv-cam.png"
        wait_for(held.exists, 10, "the output held for review")
        assert not (tmp_path / "cam-outputs" / "street.cctv-cam.png").exists()
        approved = tmp_path / "cam-approved" / held.name
        os.replace(held, approved)
        daemon.engine._reviewer.scan()  # type: ignore[union-attr]
        daemon.engine._reviewer.scan()  # type: ignore[union-attr]
        assert approved.exists()
    assert len(emulator.runs()) == 1
