"""``run --dry-run`` tells the truth: its verdict for every file is what the real run does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.cli import main

from ..engine.harness import folder_toml, png_bytes, write_config


@pytest.fixture
def env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("FLORA_API_KEY", emulator.api_key)
    monkeypatch.setenv("FLORA_BASE_URL", emulator.base_url)
    return emulator


def verdicts(out: str) -> dict[str, str]:
    """file name -> run / fail / skip / budget, from the dry run's lines."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        match = re.match(r"  (\S[^:]*): (.*)$", line)
        if not match:
            continue
        name, rest = match.groups()
        if rest.startswith("would fail"):
            found[name] = "fail"
        elif rest.startswith(("skipped", "duplicate")):
            found[name] = "skip"
        elif rest.startswith("would wait for budget"):
            found[name] = "budget"
        else:
            found[name] = "run"
    return found


def test_the_dry_run_decides_every_file_as_the_real_run_does(
    tmp_path: Path, env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    folders = folder_toml(tmp_path, "cam", "cctv-cam", 'match = "*"') + folder_toml(
        tmp_path,
        "icons",
        "icon-pack",
        "budget_usd = 0.10",  # an icon pack costs $0.12
    )
    config = write_config(tmp_path, folders, "daily_budget_usd = 5.0")
    cam, icons = tmp_path / "cam", tmp_path / "icons"
    cam.mkdir()
    icons.mkdir()
    (cam / "a.png").write_bytes(png_bytes(1))
    (cam / "b.png").write_bytes(png_bytes(2))
    (cam / "notes.docx").write_bytes(b"PK\x03\x04 a word document")  # no input takes it
    (cam / "broken.png").write_bytes(png_bytes(3)[:-30])  # cut short
    (cam / "empty.png").write_bytes(b"")
    (cam / "x.part").write_bytes(b"x")
    (icons / "fox.txt").write_text("a red fox", encoding="utf-8")
    (icons / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))  # not UTF-8
    (icons / "owl.txt").write_text("an owl", encoding="utf-8")

    assert main(["run", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    said = verdicts(out)
    assert said == {
        "a.png": "run",
        "b.png": "run",
        "notes.docx": "fail",
        "broken.png": "fail",
        "empty.png": "skip",
        "x.part": "skip",
        "fox.txt": "budget",
        "latin1.txt": "budget",  # (held before its text is read, as in the real run)
        "owl.txt": "budget",
    }, out
    assert "2 file(s) would run, $0.10 in all" in out
    assert env.stats.runs_created == 0 and env.stats.uploads_received == 0

    # The real run, on the same files and the same budget.
    main(["run", "--once", "--headless", "--config", str(config)])
    capsys.readouterr()
    ran = {p.name.split(".")[0] for p in (tmp_path / "cam-outputs").iterdir()}
    ran |= {p.name.split(".")[0] for p in (tmp_path / "icons-outputs").iterdir()}
    failed = {p.name for d in ("cam-failed", "icons-failed") for p in (tmp_path / d).iterdir()}
    failed = {n for n in failed if not n.endswith(".error.txt")}
    left = {p.name for d in (cam, icons) for p in d.iterdir()}
    assert {n.split(".")[0] for n, v in said.items() if v == "run"} == ran
    assert {n for n, v in said.items() if v == "fail"} == failed
    assert {n for n, v in said.items() if v in ("skip", "budget")} == left
    assert env.stats.runs_created == 2
