"""On a terminal: ``run --once`` draws one progress line (no INFO lines), and ``NO_COLOR``
turns colour off. A real ``floradrop run --once`` process on a pseudo-terminal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flora_emulator import Emulator

from ..engine.harness import folder_toml, png_bytes, write_config

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def on_a_terminal(argv: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; its exit code and output."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(max(1.0, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def batch(tmp_path: Path, emulator: Emulator) -> tuple[list[str], dict[str, str]]:
    config = write_config(tmp_path, folder_toml(tmp_path, "in", "cctv-cam"))
    (tmp_path / "in").mkdir()
    for n in range(4):
        (tmp_path / "in" / f"p{n}.png").write_bytes(png_bytes(n))
    env = dict(os.environ, FLORA_API_KEY=emulator.api_key, FLORA_BASE_URL=emulator.base_url)
    env.pop("NO_COLOR", None)
    argv = [sys.executable, "-m", "floradrop", "run", "--once", "--headless", "--config"]
    return [*argv, str(config)], env


def test_run_once_on_a_terminal_shows_one_progress_line(
    batch: tuple[list[str], dict[str, str]],
) -> None:
    argv, env = batch
    code, out = on_a_terminal(argv, env)
    assert code == 0, out
    assert "INFO" not in out  # no log lines, only the progress line and the summary
    assert "\r" in out and "4 done, 0 failed of 4" in out
    assert out.rstrip().splitlines()[-1].startswith("floradrop: 4 done, 0 failed, 0 duplicate(s)")


@pytest.mark.parametrize("no_color", [False, True])
def test_no_color_turns_colour_off(batch: tuple[list[str], dict[str, str]], no_color: bool) -> None:
    argv, env = batch
    if no_color:
        env["NO_COLOR"] = "1"
    code, out = on_a_terminal([*argv, "--verbose"], env)  # log lines, coloured on a terminal
    assert code == 0, out
    assert "INFO" in out
    assert ("\x1b[" in out) is not no_color
