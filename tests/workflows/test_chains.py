"""Chains: one folder's outputs are the next folder's inbox.

A real engine over the emulator, a real watchdog observer on the second inbox, a real journal;
``floradrop check`` as a real process for the refused loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from watchdog.observers import Observer

from flora_emulator import Emulator
from floradrop.config import parse_config
from floradrop.errors import ConfigError, ExitCode
from floradrop.jobs import JobState
from floradrop.pipeline.decide import ignore_reason
from floradrop.tray.menu import menu_model
from floradrop.workflows.chains import flows
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config
from tests.workflows.helpers import Seen


def _folders(root: Path, *specs: tuple[str, str, str | None]) -> dict[str, object]:
    tables = []
    for name, technique, outputs in specs:
        table: dict[str, object] = {"path": str(root / name), "technique": technique}
        if outputs:
            table["outputs"] = str(root / outputs)
        tables.append(table)
    return {"folders": tables}


def test_outputs_may_be_another_folders_inbox(tmp_path: Path) -> None:
    config = parse_config(
        _folders(tmp_path, ("a", "cctv-cam", "b"), ("b", "palette-pull", None)),
        source=tmp_path / "c.toml",
    )
    assert flows(config.folders) == {tmp_path / "a": ("a", "b"), tmp_path / "b": ("a", "b")}


def test_a_loop_is_refused_naming_it(tmp_path: Path) -> None:
    data = _folders(
        tmp_path, ("a", "cctv-cam", "b"), ("b", "palette-pull", "c"), ("c", "cctv-cam", "a")
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source=tmp_path / "c.toml")
    assert "a loop of folders: a → b → c → a" in caught.value.message
    assert caught.value.message.count("makes a loop") == 1  # one loop, said once


def test_outputs_into_its_own_inbox_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"folders\[0\]\.outputs: is the folder's own inbox"):
        parse_config(_folders(tmp_path, ("a", "cctv-cam", "a")), source=tmp_path / "c.toml")


def test_outputs_below_another_inbox_are_still_refused(tmp_path: Path) -> None:
    data = _folders(tmp_path, ("a", "cctv-cam", "b/sub"), ("b", "palette-pull", None))
    with pytest.raises(ConfigError, match=r"folders\[0\]\.outputs: is inside the watched folder"):
        parse_config(data, source=tmp_path / "c.toml")


def test_provenance_sidecars_are_never_drops(tmp_path: Path) -> None:
    config = parse_config(_folders(tmp_path, ("a", "cctv-cam", None)), source=tmp_path / "c")
    folder = config.folders[0]
    assert ignore_reason(Path("street.cctv-cam.png.json"), folder) is not None
    assert ignore_reason(Path("street.png"), folder) is None


def test_check_refuses_a_loop_and_names_it(tmp_path: Path) -> None:
    config = tmp_path / "floradrop.toml"
    config.write_text(
        f"[[folders]]\npath = {str(tmp_path / 'Cam')!r}\ntechnique = 'cctv-cam'\n"
        f"outputs = {str(tmp_path / 'Grade')!r}\n"
        f"[[folders]]\npath = {str(tmp_path / 'Grade')!r}\ntechnique = 'cctv-cam'\n"
        f"outputs = {str(tmp_path / 'Cam')!r}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "floradrop", "check", "--config", str(config)],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=dict(os.environ, FLORA_API_KEY="fk_unused"),
    )
    assert result.returncode == ExitCode.CONFIG, result.stdout + result.stderr
    assert "Cam → Grade → Cam" in result.stdout + result.stderr


def test_a_chain_of_two_techniques(tmp_path: Path, emulator: Emulator) -> None:
    ref = tmp_path / "look.png"
    ref.write_bytes(png_bytes(9))
    grade = tmp_path / "grade"
    grade.mkdir()
    folders = folder_toml(tmp_path, "cam", "cctv-cam", f"outputs = {str(grade)!r}") + folder_toml(
        tmp_path,
        "grade",
        "color-transfer",
        f'inputs = {{ source_image = "file", reference_image = "path:{ref}" }}',
    )
    seen = Seen(grade)
    observer = Observer()
    observer.schedule(seen, str(grade))
    observer.start()
    try:
        with running(write_config(tmp_path, folders), emulator) as daemon:
            drop(tmp_path / "cam", "street.png", png_bytes(1))
            done = daemon.wait_state(2, JobState.DONE)
            snapshot = daemon.engine.snapshot()
            wait_for(lambda: not list(grade.iterdir()), 10, "the second inbox to empty")
            jobs = sorted((j.folder, j.name, j.state) for j in daemon.jobs())
    finally:
        observer.stop()
        observer.join()

    # exactly one run per step, and nothing else became a job (not the sidecar)
    assert [r.technique for r in emulator.runs()] == ["cctv-cam", "color-transfer"]
    assert jobs == [
        (str(tmp_path / "cam"), "street.png", JobState.DONE),
        (str(grade), "street.cctv-cam.png", JobState.DONE),
    ]
    # the second folder saw only complete files, and never a temporary one
    assert seen.partial == []
    assert seen.names == {"street.cctv-cam.png", "street.cctv-cam.png.json"}
    # the second technique's output, whose provenance names the step before
    final = tmp_path / "grade-outputs" / "street.cctv-cam.color-transfer.png"
    assert final.exists()
    document = json.loads(final.with_name(final.name + ".json").read_text("utf-8"))
    first_run = next(j.run_id for j in done if j.technique == "cctv-cam")
    assert document["technique"] == "color-transfer"
    assert document["previous"]["run_id"] == first_run
    assert document["previous"]["technique"] == "cctv-cam"
    assert document["previous"]["source"]["name"] == "street.png"
    # originals filed away; the first step's sidecar filed with its output
    assert (tmp_path / "cam-done" / "street.png").exists()
    assert (tmp_path / "grade-done" / "street.cctv-cam.png").exists()
    assert (tmp_path / "grade-done" / "street.cctv-cam.png.json").exists()
    assert not (tmp_path / ".floradrop-staging").exists() or not list(
        (tmp_path / ".floradrop-staging").iterdir()
    )
    # status and the tray show the chain as one flow
    assert [f.flow for f in snapshot.folders] == [("cam", "grade"), ("cam", "grade")]
    labels = [e.label for e in menu_model(snapshot)]
    assert "cam → grade" in labels
    assert "cam" not in labels and "grade" not in labels


def test_a_failed_first_step_feeds_nothing(tmp_path: Path, emulator: Emulator) -> None:
    grade = tmp_path / "grade"
    folders = folder_toml(tmp_path, "sigil", "sigil", f"outputs = {str(grade)!r}") + folder_toml(
        tmp_path, "grade", "cctv-cam"
    )
    with running(write_config(tmp_path, folders), emulator) as daemon:
        drop(tmp_path / "sigil", "mark.png", png_bytes(3))
        daemon.wait_state(1, JobState.FAILED)
        assert list(grade.iterdir()) == []
    assert len(emulator.runs()) == 1
    assert (tmp_path / "sigil-failed" / "mark.png.error.txt").exists()
