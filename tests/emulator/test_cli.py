"""``floradrop emulator`` as a person runs it: prints where it is, serves, stops on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from flora_emulator import Emulator
from floradrop.cli import main


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "floradrop", "emulator", "--port", "0", "--seed", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(4)]
    try:
        assert lines[0].startswith("FLORA emulator listening on http://127.0.0.1:"), lines
        env = dict(line.split(" ", 1)[1].strip().split("=", 1) for line in lines[1:3])
        yield proc, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()


def test_prints_exports_serves_and_stops_on_ctrl_c(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    proc, env = served
    assert set(env) == {"FLORA_BASE_URL", "FLORA_API_KEY"}
    assert env["FLORA_BASE_URL"].endswith("/api/v1")
    assert env["FLORA_API_KEY"] == "sk_test_floradrop_emulator"
    headers = {"Authorization": f"Bearer {env['FLORA_API_KEY']}"}
    listing = httpx.get(env["FLORA_BASE_URL"] + "/techniques", headers=headers)
    assert [t["name"] for t in listing.json()["techniques"]][:2] == ["CCTV Cam", "Color Transfer"]
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "FLORA emulator stopped." in out
    assert "GET /api/v1/techniques 200" in err  # the access log, without headers or the key
    assert env["FLORA_API_KEY"] not in err


def test_floradrop_techniques_list_shows_the_catalog(
    served: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    _, env = served
    listing = subprocess.run(
        [sys.executable, "-m", "floradrop", "techniques", "list"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    for name in ("CCTV Cam", "Color Transfer", "Palette Pull", "Icon Pack", "Sigil"):
        assert name in listing.stdout


def test_a_busy_port_is_a_clear_error(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["emulator", "--port", str(emulator.port)])
    assert code == 5
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{emulator.port}" in err
    assert "--port" in err


def test_help_documents_every_knob(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--host",
        "--port",
        "--api-key",
        "--seed",
        "--run-seconds",
        "--latency-ms",
        "--error-rate",
        "--rate-limit-rate",
        "--fail-rate",
        "--data-dir",
    ):
        assert flag in text


def test_rates_outside_0_1_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["emulator", "--error-rate", "1.5"])
    assert exc.value.code == 2
    assert "must be between 0 and 1" in capsys.readouterr().err
