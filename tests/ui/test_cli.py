"""``floradrop history``, ``floradrop log`` and ``floradrop dashboard`` without a daemon."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from floradrop.cli import main
from floradrop.cli.log_cmd import follow
from floradrop.config import load_config
from floradrop.errors import ExitCode
from floradrop.jobs import JobState
from floradrop.journal import Journal
from floradrop.snapshot import journal_path
from tests.engine.harness import folder_toml, wait_for, write_config


def make_journal(tmp_path: Path) -> Path:
    inbox = tmp_path / "cctv"
    inbox.mkdir()
    config = write_config(tmp_path, folder_toml(tmp_path, "cctv", "cctv-cam"))
    journal = Journal(journal_path(load_config(config)))
    base = {
        "folder": str(inbox),
        "size": 1,
        "mtime_ns": 1,
        "rule_index": 0,
        "technique": "cctv-cam",
        "run_cost": 0.05,
    }
    journal.add_job(
        **base,
        job_key="a",
        content_hash="a",
        rel_path="harbour.png",
        source_path=str(tmp_path / "cctv-done" / "harbour.png"),
        state=JobState.DONE,
        cost=0.05,
        run_id="run_abc",
        outputs=[{"status": "written", "path": str(tmp_path / "cctv-outputs" / "h.png")}],
        created_at=time.time() - 7 * 86400,
    )
    journal.add_job(
        **base,
        job_key="b",
        content_hash="b",
        rel_path="rune.png",
        source_path=str(tmp_path / "cctv-failed" / "rune.png"),
        state=JobState.FAILED,
        error_message="the run failed: moderated",
        error_hint="change the file",
    )
    journal.close()
    return config


def test_history_of_a_file_and_of_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_journal(tmp_path)
    done = str(tmp_path / "cctv-done" / "harbour.png")
    assert main(["history", done, "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "harbour.png  [done]" in out and "$0.05" in out and "run run_abc" in out
    assert "rune.png" not in out
    # Where it was dropped finds it too.
    assert main(["history", str(tmp_path / "cctv" / "harbour.png"), "--config", str(config)]) == 0
    assert "harbour.png" in capsys.readouterr().out
    assert main(["history", "--json", "--config", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [j["name"] for j in data["jobs"]] == ["rune.png", "harbour.png"]
    assert data["jobs"][0]["error_message"] == "the run failed: moderated"
    since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400))
    assert main(["history", "--since", since, "--json", "--config", str(config)]) == 0
    assert [j["name"] for j in json.loads(capsys.readouterr().out)["jobs"]] == ["rune.png"]
    assert main(["history", str(tmp_path / "nothing.png"), "--config", str(config)]) == 1
    with pytest.raises(SystemExit) as bad:
        main(["history", "--since", "last tuesday", "--config", str(config)])
    assert bad.value.code == 2


def test_dashboard_url_needs_a_running_daemon(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_journal(tmp_path)
    assert main(["dashboard", "--url", "--config", str(config)]) == ExitCode.UNAVAILABLE
    assert "floradrop run" in capsys.readouterr().err


def test_log_prints_the_last_lines_and_follows_across_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_journal(tmp_path)
    log = tmp_path / "logs" / "floradrop.log"
    assert main(["log", "--config", str(config)]) == 1  # no log yet
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    capsys.readouterr()
    assert main(["log", "-n", "3", "--config", str(config)]) == 0
    assert capsys.readouterr().out == "line 97\nline 98\nline 99\n"

    stop = threading.Event()
    output = tmp_path / "followed.txt"

    offset = log.stat().st_size  # where `floradrop log` left off

    def run() -> None:
        with output.open("w") as handle:
            follow(log, offset, stop, handle)

    thread = threading.Thread(target=run, name="follow")
    thread.start()
    try:
        with log.open("a") as handle:
            handle.write("appended\n")
        wait_for(lambda: output.exists() and "appended" in output.read_text(), 20, "the append")
        log.rename(log.with_name("floradrop.log.1"))  # rotation: a new file
        log.write_text("after rotation\n")
        wait_for(lambda: "after rotation" in output.read_text(), 20, "the rotated log")
    finally:
        stop.set()
        thread.join(10)
    assert "line 99" not in output.read_text()
