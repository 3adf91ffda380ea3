"""Opening files with the platform's opener: a real process, a recording xdg-open on PATH."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from floradrop.errors import FloradropError
from floradrop.tray.opener import open_path

from .xsession import wait_for

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="xdg-open is the Linux opener")


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    handler = logger.add(lines.append, level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(handler)


def fake_opener(bin_dir: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text("#!/bin/sh\n" + script)
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_opens_with_xdg_open_and_no_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record = tmp_path / "opened.txt"
    fake_opener(tmp_path / "bin", f'printf "%s\\n" "$@" > "{record}"\n', monkeypatch)
    target = tmp_path / "a folder; with $(dangerous) name"
    target.mkdir()
    open_path(target)
    assert (
        wait_for("xdg-open to run", lambda: record.exists() and record.read_text()) == f"{target}\n"
    )


def test_a_failing_opener_is_logged_with_what_it_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_lines: list[str]
) -> None:
    fake_opener(tmp_path / "bin", 'echo "no application for this file" >&2\nexit 4\n', monkeypatch)
    target = tmp_path / "x.weird"
    target.write_text("?")
    open_path(target)
    line = wait_for(
        "the warning", lambda: next((x for x in log_lines if "could not open" in x), None)
    )
    assert line.startswith("WARNING")
    assert "exit code 4" in line and "no application for this file" in line and str(target) in line


def test_a_missing_path_is_an_error(tmp_path: Path, log_lines: list[str]) -> None:
    with pytest.raises(FloradropError, match="does not exist") as info:
        open_path(tmp_path / "gone")
    assert info.value.hint
    assert any("does not exist" in line for line in log_lines)


def test_no_opener_installed_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(FloradropError, match="xdg-open") as info:
        open_path(tmp_path)
    assert "xdg-utils" in (info.value.hint or "")
