"""Commands that only read or note state start light: no engine, no watchdog, no httpx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("floradrop.engine", "watchdog", "httpx")

PROBE = """
import json, sys
from floradrop.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("watchdog", "httpx")
                or m == "floradrop.engine")
print(json.dumps({"code": code, "loaded": loaded}))
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "in").mkdir()
    (tmp_path / "in-failed").mkdir()
    (tmp_path / "in-failed" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    path = tmp_path / "floradrop.toml"
    path.write_text(
        "[daemon]\n"
        f"state_dir = {str(tmp_path / 'state')!r}\n"
        f"log_dir = {str(tmp_path / 'logs')!r}\n"
        "[[folders]]\n"
        f"path = {str(tmp_path / 'in')!r}\n"
        'technique = "cctv-cam"\n',
        encoding="utf-8",
    )
    return path


def run_cli(*argv: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(
    ("verb", "code"),
    [("status", 0), ("pause", 0), ("resume", 0), ("stop", 5), ("retry", 0)],
)
def test_read_only_commands_load_no_engine_watchdog_or_httpx(
    config: Path, verb: str, code: int
) -> None:
    argv = [verb, "--config", str(config)]
    if verb == "retry":
        argv.append(str(config.parent / "in-failed" / "photo.png"))
    result = run_cli(*argv)
    assert result["code"] == code, result  # the command did its work (stop: none runs, 5)
    assert result["loaded"] == [], f"'floradrop {verb}' loaded {result['loaded']}"
    if verb == "retry":
        assert (config.parent / "in" / "photo.png").exists()  # moved back into its inbox


def test_the_probe_sees_heavy_modules_when_they_are_loaded(config: Path) -> None:
    """The check above can fail: ``check`` talks to FLORA, so it loads httpx."""
    result = run_cli("check", "--config", str(config))
    assert "httpx" in result["loaded"]  # type: ignore[operator]
