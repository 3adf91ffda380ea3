"""Messages that are true: advice that fits the cause, "charged again" only after a charge, one
current report per file saying where the original really is, provenance pointing at the filed
original, and a ``--once`` summary (text or JSON) that counts what happened. Real engine runs
over the emulator (``floradrop run --once``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.cli import main
from floradrop.errors import ExitCode

from ..engine.harness import folder_toml, png_bytes, write_config


@pytest.fixture
def env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("FLORA_API_KEY", emulator.api_key)
    monkeypatch.setenv("FLORA_BASE_URL", emulator.base_url)
    return emulator


def once(config: Path, *extra: str) -> int:
    return main(["run", "--once", "--headless", "--config", str(config), *extra])


def test_a_text_file_in_an_image_folder_gets_advice_about_the_file(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.txt").write_text("a night street\n", "utf-8")
    assert once(config) == 1
    failed = tmp_path / "in-failed"
    report = (failed / "notes.txt.error.txt").read_text("utf-8")
    assert "drop an image" in report
    assert "path:" not in report and "bind it" not in report  # no fixed image for every drop
    assert "the rule for" not in report  # no rule was written
    assert "folder 'in'" in report
    assert f"Original:      moved to {failed / 'notes.txt'}" in report
    assert "nothing was charged" in report and "charged again" not in report
    assert env.stats.runs_created == 0

    capsys.readouterr()
    assert main(["retry", "--config", str(config), str(failed / "notes.txt")]) == 0
    said = capsys.readouterr().out
    assert "nothing was charged" in said and "charged again" not in said
    # Its report went with it: no longer current.
    assert not (failed / "notes.txt.error.txt").exists()


def test_one_current_report_per_file_across_retries(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    env.fail_rate = 1.0  # every run fails at FLORA (charged nothing)
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.png").write_bytes(png_bytes(7))
    failed = tmp_path / "in-failed"
    for attempt in range(3):
        assert once(config) == 1
        reports = sorted(p.name for p in failed.iterdir() if p.name.endswith(".txt"))
        assert reports == ["r.png.error.txt"], f"attempt {attempt}: {reports}"
        report = (failed / "r.png.error.txt").read_text("utf-8")
        assert f"Original:      moved to {failed / 'r.png'}" in report
        assert "its last run failed at FLORA, which charged nothing for it" in report
        capsys.readouterr()
        assert main(["retry", "--config", str(config), str(failed / "r.png")]) == 0
        assert "charged nothing" in capsys.readouterr().out
    # The first original went away (a person moved it): its report is stale, and the next
    # file of that name gets the name and a report of its own, not "r.png.error (2).txt".
    assert once(config) == 1
    (tmp_path / "in" / "r.png").write_bytes(png_bytes(8))
    (failed / "r.png").rename(tmp_path / "elsewhere.png")
    assert once(config) == 1
    assert sorted(p.name for p in failed.iterdir()) == ["r.png", "r.png.error.txt"]


def test_provenance_and_retry_after_a_done_file(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(png_bytes(1))
    assert once(config) == 0
    done = tmp_path / "in-done" / "a.png"
    sidecar = json.loads((tmp_path / "in-outputs" / "a.cctv-cam.png.json").read_text("utf-8"))
    assert sidecar["source"]["path"] == str(done) and done.exists()
    capsys.readouterr()
    assert main(["retry", "--config", str(config), str(done)]) == 0
    assert "(a new run, charged again)" in capsys.readouterr().out


def test_retry_of_a_missing_path_is_a_usage_error(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    assert main(["retry", "--config", str(config), str(tmp_path / "nope.png")]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert "nope.png is not a file." in err
    assert "floradrop: floradrop" not in err and "floradrop error: floradrop" not in err


def test_once_summary_counts_duplicates_and_speaks_json(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "a.png").write_bytes(png_bytes(1))
    assert once(config) == 0
    capsys.readouterr()
    (inbox / "copy of a.png").write_bytes(png_bytes(1))  # the same bytes again
    (inbox / "b.png").write_bytes(png_bytes(2))
    (inbox / "c.txt").write_text("not an image", "utf-8")
    assert once(config, "--json") == 1
    out, err = capsys.readouterr()
    result = json.loads(out)  # stdout is exactly one JSON object
    assert {k: result[k] for k in ("done", "failed", "duplicate", "unfinished", "exit_code")} == {
        "done": 1,
        "failed": 1,
        "duplicate": 1,
        "unfinished": 0,
        "exit_code": 1,
    }
    assert result["failures"][0]["file"] == str(tmp_path / "in-failed" / "c.txt")
    assert result["failures"][0]["report"] == str(tmp_path / "in-failed" / "c.txt.error.txt")

    (inbox / "copy 2.png").write_bytes(png_bytes(2))
    assert once(config, "--quiet") == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "floradrop: 0 done, 0 failed, 1 duplicate(s), 0 unfinished; $0.10 spent today"
    ]


def test_check_json(tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    assert main(["check", "--json", "--config", str(config)]) == 0
    good = json.loads(capsys.readouterr().out)
    assert good["ok"] is True and good["exit_code"] == 0 and good["error"] is None
    assert good["folders"][0]["rules"] == [
        {"match": ["*"], "technique": "cctv-cam", "run_cost": 0.05}
    ]
    bad = write_config(tmp_path, folder_toml(tmp_path, "in", "no-such-technique"))
    assert main(["check", "--json", "--config", str(bad)]) == ExitCode.CONFIG
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False and result["exit_code"] == ExitCode.CONFIG
    assert "does not exist" in result["error"]["message"]
    assert "floradrop techniques show" in result["error"]["hint"]


def test_no_doubled_punctuation_when_flora_cannot_be_reached(
    tmp_path: Path,
    env: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import re

    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    env.stop()  # connections are refused
    assert once(config) == 0  # nothing to do: it starts offline and finds no file
    err = capsys.readouterr().err
    assert "FLORA cannot be reached (" in err and "starting offline" in err
    doubled = re.findall(r"\.\)[.;]|\)\.\)|[^.]\.\.(?!\.)|;;|\.;", err)
    assert not doubled, err
