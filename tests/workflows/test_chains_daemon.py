"""Chains and hold points through a real ``floradrop run`` process and the emulator.

A chain of two techniques turns each drop into the second technique's outputs with exactly
one run per step (the emulator counts the runs it created), and a real watchdog observer on
the second inbox checks that every file it ever shows there is whole. A hold point's approved
output passed on to the next folder survives a SIGKILL right after it was linked into the next
inbox (and before it left the approved folder): one run downstream, no second copy.

(A loop refused by ``floradrop check`` as a real process: ``test_chains.py``.)
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from watchdog.observers import Observer

from flora_emulator import Emulator
from floradrop import failpoints
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config
from tests.reliability.daemonproc import DaemonProcess, write_key
from tests.workflows.helpers import Seen

pytestmark = pytest.mark.slow

FILES = 3


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


def _chain(tmp_path: Path, emu: Emulator, first_extra: str = "") -> Path:
    """``cam`` (cctv-cam) feeding ``grade`` (color-transfer against a reference picture)."""
    reference = tmp_path / "look.png"
    reference.write_bytes(png_bytes(99))
    grade = tmp_path / "grade"
    folders = folder_toml(
        tmp_path, "cam", "cctv-cam", f"outputs = {str(grade)!r}\n{first_extra}"
    ) + folder_toml(
        tmp_path,
        "grade",
        "color-transfer",
        f'inputs = {{ source_image = "file", reference_image = "path:{reference}" }}',
    )
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    for name in ("cam", "grade"):
        (tmp_path / name).mkdir()
    return write_config(tmp_path, folders, daemon=f"[flora]\napi_key_file = {str(key)!r}\n")


def _daemon(tmp_path: Path, config: Path, emu: Emulator, **env: str) -> DaemonProcess:
    out = tmp_path / "daemon.out"
    return DaemonProcess(config, tmp_path / "state", emu.base_url, out, extra_env=env)


@pytest.mark.timeout(240)
def test_a_chain_of_two_techniques_in_a_real_daemon(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    emu = Emulator(seed=3, run_seconds=0.3, data_dir=tmp_path / "emu")
    config = _chain(tmp_path, emu)
    grade = tmp_path / "grade"
    seen = Seen(grade)
    observer = Observer()
    observer.schedule(seen, str(grade))
    observer.start()
    try:
        with emu:
            d = _daemon(tmp_path, config, emu)
            daemons.append(d.start())
            for n in range(FILES):
                drop(tmp_path / "cam", f"street {n}.png", png_bytes(40 + n))
            wait_for(lambda: d.states() == {"done": 2 * FILES}, 120, "every step of every drop")
            wait_for(lambda: not list(grade.iterdir()), 30, "the second inbox to empty")
            status = d.status()
            first_runs = {r.run_id for r in emu.runs() if r.technique == "cctv-cam"}
            assert d.stop() == 0
    finally:
        observer.stop()
        observer.join()

    # exactly one run per step and drop
    assert emu.stats.runs_by_technique == {"cctv-cam": FILES, "color-transfer": FILES}
    assert emu.stats.runs_created == 2 * FILES
    # the second folder only ever saw whole files, and never one of floradrop's temporary ones
    assert seen.partial == []
    assert seen.names == {f"street {n}.cctv-cam.png" for n in range(FILES)} | {
        f"street {n}.cctv-cam.png.json" for n in range(FILES)
    }
    # each drop ends as the second technique's output, whose provenance names the step before
    previous = set()
    for n in range(FILES):
        final = tmp_path / "grade-outputs" / f"street {n}.cctv-cam.color-transfer.png"
        document = json.loads(final.with_name(final.name + ".json").read_text("utf-8"))
        assert document["technique"] == "color-transfer"
        assert document["previous"]["technique"] == "cctv-cam"
        assert document["previous"]["source"]["name"] == f"street {n}.png"
        previous.add(document["previous"]["run_id"])
        assert (tmp_path / "cam-done" / f"street {n}.png").exists()
        assert (tmp_path / "grade-done" / f"street {n}.cctv-cam.png").exists()
    assert previous == first_runs
    # status shows the chain as one flow
    assert [f["flow"] for f in status["folders"]] == [["cam", "grade"], ["cam", "grade"]]


@pytest.mark.timeout(240)
def test_a_crash_after_an_approved_output_is_linked_in_makes_one_run_downstream(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    emu = Emulator(seed=4, run_seconds=0.3, data_dir=tmp_path / "emu")
    config = _chain(tmp_path, emu, "review = true\n")
    output = "street.cctv-cam.png"
    review, approved = tmp_path / "cam-review", tmp_path / "cam-approved"
    with emu:
        d = _daemon(tmp_path, config, emu, **{failpoints.ENV: failpoints.REVIEW_LINKED})
        daemons.append(d.start())
        drop(tmp_path / "cam", "street.png", png_bytes(7))
        wait_for(lambda: d.states() == {"done": 1}, 120, "the first step")
        wait_for((review / output).exists, 30, "the output held for review")
        # a person approves it: the sidecar, then the output
        os.rename(review / f"{output}.json", approved / f"{output}.json")
        os.rename(review / output, approved / output)
        assert d.proc is not None
        proc = d.proc
        wait_for(lambda: proc.poll() is not None, 60, "the daemon to die at the fail point")
        assert proc.returncode == -signal.SIGKILL
        # the crash came between the two halves of the move: one file, two names
        assert (tmp_path / "grade" / output).samefile(approved / output)
        assert (tmp_path / "grade" / f"{output}.json").exists()
        assert emu.stats.runs_by_technique == {"cctv-cam": 1}

        d = _daemon(tmp_path, config, emu)
        daemons.append(d.start())
        wait_for(lambda: d.states() == {"done": 2}, 120, f"the second step ({d.states()})")
        wait_for(lambda: not list(approved.iterdir()), 30, "the approved folder to empty")
        wait_for(lambda: not list((tmp_path / "grade").iterdir()), 30, "the inbox to empty")
        assert d.stop() == 0

    assert emu.stats.runs_by_technique == {"cctv-cam": 1, "color-transfer": 1}
    assert sorted(p.name for p in (tmp_path / "grade-done").iterdir()) == [
        output,
        f"{output}.json",
    ]
    final = tmp_path / "grade-outputs" / "street.cctv-cam.color-transfer.png"
    document = json.loads(final.with_name(final.name + ".json").read_text("utf-8"))
    assert document["previous"]["source"]["name"] == "street.png"
