"""``floradrop techniques list|show`` against the emulator, and its rendering."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from flora_emulator import Emulator
from floradrop.cli import main
from floradrop.cli.techniques_cmd import format_cost, handle_of, render_one, render_table
from floradrop.errors import ExitCode
from floradrop.flora import IOSpec, Technique


@pytest.fixture(autouse=True)
def restore_loguru() -> Iterator[None]:
    """The command reconfigures loguru for a terminal; put a plain stderr sink back after."""
    yield
    logger.remove()
    logger.add(_to_current_stderr, level="DEBUG")


def _to_current_stderr(message: str) -> None:
    sys.stderr.write(message)  # looked up per message: pytest swaps sys.stderr per test


@pytest.fixture
def env(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    monkeypatch.setenv("FLORA_API_KEY", emu.api_key)
    monkeypatch.setenv("FLORA_BASE_URL", emu.base_url)
    return emu


def test_list_prints_a_table(env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["techniques", "list"]) == 0
    out = capsys.readouterr().out
    header, *rows = out.splitlines()
    assert header.split() == ["SLUG", "NAME", "INPUTS", "OUTPUTS", "COST"]  # FLORA gives slugs
    cctv = next(row for row in rows if "CCTV Cam" in row)
    assert cctv.startswith("cctv-cam ")
    assert "input_image:imageUrl, prompt:text?" in cctv
    assert "output_image:imageUrl" in cctv
    assert cctv.endswith("$0.05")
    assert "7 technique(s)" in out
    assert "tech_" not in out and "id without 'tech_'" not in out


def test_list_json_and_query(env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["techniques", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data) == 7
    assert {"technique_id", "name", "run_cost", "inputs", "outputs"} <= set(data[0])
    assert main(["techniques", "list", "--json", "--query", "icon"]) == 0
    assert [t["name"] for t in json.loads(capsys.readouterr().out)] == ["Icon Pack"]


def test_show_accepts_the_listed_handle_and_the_id(
    env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["techniques", "list", "--json"]) == 0
    icon = next(t for t in json.loads(capsys.readouterr().out) if t["name"] == "Icon Pack")
    handle = icon["technique_id"].removeprefix("tech_")
    assert main(["techniques", "show", handle]) == 0
    by_handle = capsys.readouterr().out
    assert main(["techniques", "show", icon["technique_id"]]) == 0
    assert capsys.readouterr().out == by_handle
    assert by_handle.startswith("Icon Pack\n")
    assert "$0.12 per run" in by_handle
    assert "prompt  text, required  (Prompt)" in by_handle
    assert "icon_1  imageUrl, aspect ratio 1:1" in by_handle


def test_show_names_the_slug_flora_gives(env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["techniques", "show", "cctv-cam"]) == 0
    out = capsys.readouterr().out
    assert "  slug:  cctv-cam\n" in out
    assert "none given" not in out


def test_show_by_slug_as_json(env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["techniques", "show", "cctv-cam", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["name"] == "CCTV Cam"
    assert data["slug"] == "cctv-cam"
    assert [i["id"] for i in data["inputs"]] == ["input_image", "prompt"]


def test_unknown_technique_fails_with_a_hint(
    env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["techniques", "show", "no-such-thing"]) == ExitCode.FAILURE
    err = capsys.readouterr().err
    assert "does not know technique 'no-such-thing'" in err
    assert "floradrop techniques list" in err


def test_missing_key_exits_with_the_auth_code(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLORA_BASE_URL", emu.base_url)
    assert main(["techniques", "list"]) == ExitCode.AUTH
    err = capsys.readouterr().err
    assert "FLORA_API_KEY" in err
    assert "floradrop init" in err


def test_base_url_from_config_file_and_option(
    emu: Emulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FLORA_API_KEY", emu.api_key)
    config = tmp_path / "config.toml"
    config.write_text(f'[flora]\nbase_url = "{emu.base_url}"\n', encoding="utf-8")
    assert main(["techniques", "list", "--config", str(config)]) == 0
    assert "CCTV Cam" in capsys.readouterr().out

    wrong = tmp_path / "wrong.toml"
    wrong.write_text('[flora]\nbase_url = "http://127.0.0.1:9/api/v1"\n', encoding="utf-8")
    args = ["techniques", "show", "cctv-cam", "--config", str(wrong), "--base-url", emu.base_url]
    assert main(args) == 0
    assert "CCTV Cam" in capsys.readouterr().out


def test_plain_http_remote_base_url_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLORA_API_KEY", "sk_live_abcdefgh12345")
    args = ["techniques", "list", "--base-url", "http://flora.example/api/v1"]
    assert main(args) == ExitCode.CONFIG
    err = capsys.readouterr().err
    assert "plain http" in err
    assert "sk_live_abcdefgh12345" not in err


def technique(**extra: object) -> Technique:
    base: dict[str, object] = {
        "technique_id": "tech_abc",
        "name": "Thing\x1b[31m red\nline",
        "run_cost": 0.125,
        "inputs": (IOSpec("input_image", "Image", "imageUrl"),),
        "outputs": (),
    }
    base.update(extra)
    return Technique(**base)  # type: ignore[arg-type]


def test_rendering_details() -> None:
    assert format_cost(0.05) == "$0.05"
    assert format_cost(0.125) == "$0.125"
    assert format_cost(5) == "$5.00"
    assert format_cost(0) == "$0.00"
    assert handle_of(technique()) == "abc"
    assert handle_of(technique(slug="cctv-cam")) == "cctv-cam"
    assert handle_of(technique(technique_id="opaque")) == "opaque"

    with_slugs = render_table([technique(slug="cctv-cam")])
    assert with_slugs.splitlines()[0].split()[0] == "SLUG"
    assert "without 'tech_'" not in with_slugs
    assert "\x1b" not in with_slugs
    assert "-" in with_slugs.splitlines()[1]  # no outputs
    assert render_table([]) == "No techniques found."

    one = render_one(technique())
    assert "\x1b" not in one
    assert one.splitlines()[0] == "Thing [31m red line"
    assert "(none given by FLORA)" in one
    assert "Outputs: none" in one
