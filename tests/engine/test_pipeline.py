"""The whole pipeline for real: emulator over loopback, a real observer, a real journal."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from flora_emulator import Emulator
from floradrop.config import load_config
from floradrop.errors import ConfigError
from floradrop.jobs import JobState
from floradrop.status import TrayState

from .harness import drop, folder_toml, png_bytes, running, wait_for, write_config


def outputs_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.endswith(".json"))


def test_image_drop_gives_output_sidecar_and_files_original(tmp_path: Path, emu: Emulator) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "cctv", "cctv-cam"))
    with running(config, emu) as daemon:
        drop(tmp_path / "cctv", "street photo.png", png_bytes(1))
        [job] = daemon.wait_state(1, JobState.DONE)
    out = outputs_of(tmp_path / "cctv-outputs")
    assert [p.name for p in out] == ["street photo.cctv-cam.png"]
    with Image.open(out[0]) as image:
        assert image.size[0] > 0
    sidecar = json.loads((tmp_path / "cctv-outputs" / "street photo.cctv-cam.png.json").read_text())
    assert sidecar["run_id"] == job.run_id
    assert sidecar["source"]["sha256"] == job.content_hash
    assert sidecar["technique"] == "cctv-cam"
    assert sidecar["cost_usd"] == pytest.approx(0.05)
    assert (tmp_path / "cctv-done" / "street photo.png").exists()
    assert not (tmp_path / "cctv" / "street photo.png").exists()
    assert emu.stats.runs_created == 1
    assert job.cost == pytest.approx(0.05)


def test_text_in_images_out_and_image_in_text_out(tmp_path: Path, emu: Emulator) -> None:
    folders = folder_toml(tmp_path, "icons", "icon-pack") + folder_toml(
        tmp_path, "critique", "art-directors-critique"
    )
    with running(write_config(tmp_path, folders), emu) as daemon:
        drop(tmp_path / "icons", "weather.txt", "sun, cloud and rain")
        drop(tmp_path / "critique", "poster.png", png_bytes(2))
        daemon.wait_state(2, JobState.DONE)
    icons = [p.name for p in outputs_of(tmp_path / "icons-outputs")]
    assert icons == [f"weather.icon-pack-{n}.png" for n in range(1, 5)]
    [critique] = outputs_of(tmp_path / "critique-outputs")
    assert critique.name == "poster.art-directors-critique.txt"
    assert len(critique.read_text().strip()) > 20


def test_several_rules_first_match_wins(tmp_path: Path, emu: Emulator) -> None:
    folder = folder_toml(
        tmp_path,
        "mixed",
        "cctv-cam",
        '[[folders.rules]]\nmatch = "*.txt"\ntechnique = "icon-pack"\n'
        '[[folders.rules]]\nmatch = ["*.png"]\ntechnique = "palette-pull"\n',
    )
    with running(write_config(tmp_path, folder), emu) as daemon:
        drop(tmp_path / "mixed", "idea.txt", "a fox")
        drop(tmp_path / "mixed", "sunset.png", png_bytes(3))
        drop(tmp_path / "mixed", "photo.jpg", png_bytes(4))  # falls through to cctv-cam
        daemon.wait_state(3, JobState.DONE)
    assert emu.stats.runs_by_technique == {"icon-pack": 1, "palette-pull": 1, "cctv-cam": 1}
    names = {p.name for p in outputs_of(tmp_path / "mixed-outputs")}
    assert "sunset.palette-pull-1.png" in names
    assert "sunset.palette-pull-2.txt" in names
    assert "photo.cctv-cam.png" in names


def test_bindings_literal_fixed_file_and_sidecar(tmp_path: Path, emu: Emulator) -> None:
    reference = tmp_path / "reference.png"
    reference.write_bytes(png_bytes(9))
    folders = folder_toml(
        tmp_path,
        "grade",
        "color-transfer",
        f'inputs = {{ source_image = "file", reference_image = "path:{reference}", '
        'strength = "literal:60" }\n',
    ) + folder_toml(
        tmp_path, "cams", "cctv-cam", 'inputs = { input_image = "file", prompt = "sidecar" }\n'
    )
    with running(write_config(tmp_path, folders), emu) as daemon:
        drop(tmp_path / "cams", "lobby.txt", "CAM 03 - LOBBY")
        drop(tmp_path / "cams", "lobby.png", png_bytes(5))
        drop(tmp_path / "grade", "a.png", png_bytes(6))
        drop(tmp_path / "grade", "b.png", png_bytes(7))
        jobs = daemon.wait_state(3, JobState.DONE)
    by_name = {j.name: j for j in jobs}
    assert {i["id"]: i["value"] for i in by_name["lobby.png"].inputs}["prompt"] == "CAM 03 - LOBBY"
    refs = {
        next(i["value"] for i in by_name[n].inputs if i["id"] == "reference_image")
        for n in ("a.png", "b.png")
    }
    assert len(refs) == 1, "the fixed reference is uploaded once and reused"
    assert {i["id"]: i["value"] for i in by_name["a.png"].inputs}["strength"] == "60"
    assert "lobby.txt" not in by_name, "the sidecar is not a job of its own"


def test_failing_technique_goes_to_failed_with_report(tmp_path: Path, emu: Emulator) -> None:
    with running(write_config(tmp_path, folder_toml(tmp_path, "glyphs", "sigil")), emu) as daemon:
        drop(tmp_path / "glyphs", "logo.png", png_bytes(8))
        [job] = daemon.wait_state(1, JobState.FAILED)
        assert daemon.engine.snapshot().state is TrayState.ATTENTION
    assert (tmp_path / "glyphs-failed" / "logo.png").exists()
    report = (tmp_path / "glyphs-failed" / "logo.png.error.txt").read_text()
    assert "GENERATION_PROMPT_MODERATED" in report
    assert job.run_id is not None and job.run_id in report
    assert "What to do:" in report and "change the file" in report
    assert not list((tmp_path / "glyphs-outputs").iterdir())


def test_slow_writer_is_not_picked_up_early(tmp_path: Path, emu: Emulator) -> None:
    data = png_bytes(10, (400, 300))
    with running(write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam")), emu) as daemon:
        target = tmp_path / "in" / "slow.png"
        finished = threading.Event()

        def writer() -> None:
            with target.open("wb") as handle:
                for i in range(0, len(data), 1024):
                    handle.write(data[i : i + 1024])
                    handle.flush()
                    time.sleep(0.6 * 1024 / len(data) * 4)  # spread over ~2.4 s
            finished.set()

        thread = threading.Thread(target=writer)
        thread.start()
        thread.join()
        [job] = daemon.wait_state(1, JobState.DONE)
    assert job.size == len(data), "the job saw the whole file, not a part of it"
    assert emu.stats.runs_created == 1


def test_file_dropped_while_down_is_processed_at_start(tmp_path: Path, emu: Emulator) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "early.png").write_bytes(png_bytes(11))
    with running(config, emu) as daemon:
        daemon.wait_state(1, JobState.DONE)
    assert (tmp_path / "in-outputs" / "early.cctv-cam.png").exists()


def test_duplicate_drop_is_not_paid_twice(tmp_path: Path, emu: Emulator) -> None:
    with running(write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam")), emu) as daemon:
        drop(tmp_path / "in", "one.png", png_bytes(12))
        daemon.wait_state(1, JobState.DONE)
        drop(tmp_path / "in", "same bytes other name.png", png_bytes(12))
        [dup] = daemon.wait_state(1, JobState.DUPLICATE)
    assert emu.stats.runs_created == 1
    assert "one.png" in (dup.note or "")
    assert (tmp_path / "in-done" / "same bytes other name.png").exists()


def test_pause_holds_new_work_and_resume_releases_it(tmp_path: Path, emu: Emulator) -> None:
    with running(write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam")), emu) as daemon:
        daemon.engine.pause()
        drop(tmp_path / "in", "held.png", png_bytes(13))
        daemon.wait_state(1, JobState.WAITING)
        assert daemon.engine.snapshot().paused
        # Stays waiting while paused: let the scheduler go round several times.
        cycles = daemon.engine.cycles
        wait_for(lambda: daemon.engine.cycles >= cycles + 5, 10, "five scheduler cycles")
        assert [j.state for j in daemon.jobs()] == [JobState.WAITING]
        assert emu.stats.runs_created == 0
        daemon.engine.resume()
        daemon.wait_state(1, JobState.DONE)
    assert emu.stats.runs_created == 1


def test_budget_hold_until_budget_is_raised(tmp_path: Path, emu: Emulator) -> None:
    config_path = write_config(
        tmp_path, folder_toml(tmp_path, "in", "cctv-cam"), daemon="daily_budget_usd = 0.06"
    )
    with running(config_path, emu) as daemon:
        drop(tmp_path / "in", "a.png", png_bytes(14))
        daemon.wait_state(1, JobState.DONE)
        drop(tmp_path / "in", "b.png", png_bytes(15))
        [held] = daemon.wait_state(1, JobState.HELD)
        snapshot = daemon.engine.snapshot()
        assert snapshot.held == 1 and snapshot.attention is not None
        assert snapshot.attention.kind.value == "budget"
        assert emu.stats.runs_created == 1
        config_path.write_text(config_path.read_text().replace("0.06", "1.00"))
        daemon.engine.apply_config(load_config(config_path))
        daemon.wait_state(2, JobState.DONE)
    assert held.name == "b.png"
    assert emu.stats.runs_created == 2


def test_unknown_technique_is_a_config_error_at_start(tmp_path: Path, emu: Emulator) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-camm"))
    with pytest.raises(ConfigError) as info, running(config, emu):
        pass
    assert "cctv-camm" in str(info.value)


def test_faults_every_file_completes_with_one_run_each(tmp_path: Path) -> None:
    with Emulator(seed=3, error_rate=0.2, rate_limit_rate=0.2) as emu:
        config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
        with running(config, emu) as daemon:
            for n in range(12):
                drop(tmp_path / "in", f"f{n}.png", png_bytes(100 + n))
            daemon.wait_state(12, JobState.DONE, timeout=120)
        assert emu.stats.runs_created == 12
        assert emu.stats.runs_by_technique == {"cctv-cam": 12}


def test_credits_exhausted_mid_batch_pauses_and_resumes(tmp_path: Path) -> None:
    with Emulator(seed=4, balance_usd=0.10) as emu:  # two cctv-cam runs at $0.05
        config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
        with running(config, emu) as daemon:
            for n in range(4):
                drop(tmp_path / "in", f"c{n}.png", png_bytes(200 + n))
            daemon.wait_state(2, JobState.DONE)
            wait_for(
                lambda: (a := daemon.engine.snapshot().attention) and a.kind.value == "credits",
                20,
                "the credits problem to show",
            )
            assert not daemon.jobs(JobState.FAILED), "nothing is failed for want of credits"
            assert emu.stats.runs_created == 2
            emu.balance_usd = 1.0  # credits added in the FLORA app
            daemon.engine.resume()
            daemon.wait_state(4, JobState.DONE)
        assert emu.stats.runs_created == 4


def test_revoked_key_pauses_until_a_new_key_works(tmp_path: Path, emu: Emulator) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    with running(config, emu) as daemon:
        drop(tmp_path / "in", "k0.png", png_bytes(300))
        daemon.wait_state(1, JobState.DONE)
        emu.api_key = "sk_test_rotated"  # the old key is revoked
        drop(tmp_path / "in", "k1.png", png_bytes(301))
        wait_for(
            lambda: (a := daemon.engine.snapshot().attention) and a.kind.value == "auth",
            20,
            "the key problem to show",
        )
        assert not daemon.jobs(JobState.FAILED)
        daemon.engine.resume()  # the new key is in place (client_factory reads it)
        daemon.wait_state(2, JobState.DONE)
    assert emu.stats.runs_created == 2


def test_config_edits_apply_while_running_and_bad_edits_are_kept_out(
    tmp_path: Path, emu: Emulator
) -> None:
    from floradrop.config import ConfigWatcher

    config_path = write_config(tmp_path, folder_toml(tmp_path, "a", "cctv-cam"))
    with running(config_path, emu) as daemon:
        engine = daemon.engine
        errors: list[str] = []
        watcher = ConfigWatcher(
            config_path, engine.apply_config, lambda e: errors.append(str(e)), current=engine.config
        )
        engine.set_config_check(watcher.check)
        good = config_path.read_text()
        config_path.write_text(good + "\n[daemon\nbroken = \n")  # a bad edit
        wait_for(lambda: errors, 20, "the bad edit to be reported")
        assert "floradrop.toml" in errors[0]
        assert [f.name for f in engine.config.folders] == ["a"], "the last good config is kept"
        config_path.write_text(good + folder_toml(tmp_path, "b", "palette-pull"))
        wait_for(lambda: len(engine.config.folders) == 2, 20, "the new folder to be applied")
        wait_for((tmp_path / "b").is_dir, 10, "the new inbox")
        drop(tmp_path / "b", "new.png", png_bytes(400))
        daemon.wait_state(1, JobState.DONE)
    assert emu.stats.runs_by_technique == {"palette-pull": 1}
