"""FLORA unreachable for a while, then back: a real daemon process and the emulator stopped.

While the API is down, files dropped are still journaled, nothing is uploaded or failed, and
``floradrop status --json`` says offline. When the emulator starts again on the same port,
work resumes by itself (no restart, no ``resume``) and every file gets exactly one run.

    FLORADROP_OUTAGE_SECONDS=180 .venv/bin/pytest tests/reliability/test_outage.py -m slow -s

``FLORADROP_OUTAGE_SECONDS`` (default 20, the CI size) is how long the API stays down;
``FLORADROP_OUTAGE_REPORT`` names a JSON file for the figures.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from flora_emulator import Emulator
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config

from .daemonproc import DaemonProcess, write_key

OUTAGE = float(os.environ.get("FLORADROP_OUTAGE_SECONDS", "20"))
REPORT = os.environ.get("FLORADROP_OUTAGE_REPORT")  # at import: tests clear FLORADROP_*
BEFORE, DURING = 12, 12  # files dropped before the outage and while it lasts


class Arrivals:
    """When API requests reached the emulator."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.times: list[float] = []

    def __call__(self, line: str) -> None:
        if line.split(" ")[1].startswith("/api/"):
            with self.lock:
                self.times.append(time.monotonic())

    def first_after(self, moment: float) -> float | None:
        with self.lock:
            return next((t for t in self.times if t >= moment), None)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


@pytest.mark.slow
@pytest.mark.timeout(300 + OUTAGE)
def test_api_down_for_a_while_then_back_work_resumes_by_itself(
    tmp_path: Path, daemon: list[DaemonProcess]
) -> None:
    arrivals = Arrivals()
    emu = Emulator(seed=8, run_seconds=1.0, data_dir=tmp_path / "emu", access_log=arrivals)
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon=f"max_concurrent_runs = 8\n\n[flora]\napi_key_file = {str(key)!r}",
    )
    inbox = tmp_path / "in"
    inbox.mkdir()
    figures: dict[str, object] = {"outage_seconds": OUTAGE}
    with emu:
        d = DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.out")
        daemon.append(d.start())
        for n in range(BEFORE):
            drop(inbox, f"before {n:02d}.png", png_bytes(700 + n))
        wait_for(lambda: d.states().get("done", 0) >= 3, 60, "three files done")

        emu.stop()  # FLORA is gone: connections are refused
        down = time.monotonic()
        for n in range(DURING):
            drop(inbox, f"during {n:02d}.png", png_bytes(800 + n))
        status = wait_for(
            lambda: (s := d.status())["offline"] and s,
            60,
            "status --json to say offline",
        )
        figures["offline_shown_after_s"] = round(time.monotonic() - down, 1)
        assert status["attention"]["kind"] == "offline", status
        assert "resumes by itself" in status["attention"]["message"]
        # Intake goes on: every file dropped during the outage is journaled.
        wait_for(
            lambda: sum(d.states().values()) == BEFORE + DURING,
            60,
            f"{BEFORE + DURING} jobs journaled (now {d.states()})",
        )
        # The outage lasts; nothing fails, the daemon stays offline, nothing is lost.
        while time.monotonic() < down + OUTAGE:
            status = d.status()
            assert status["offline"], status
            assert not d.states().get("failed"), d.states()
            assert d.proc is not None and d.proc.poll() is None
        during = d.states()
        figures["journal_during_outage"] = during
        assert during.get("done", 0) < BEFORE + DURING

        emu.start()  # back, on the same port, with the same runs
        back = time.monotonic()
        wait_for(lambda: not d.status()["offline"], 120, "status to say online again")
        online = time.monotonic()
        wait_for(
            lambda: d.states() == {"done": BEFORE + DURING},
            120,
            f"every file done (now {d.states()})",
        )
        finished = time.monotonic()
        first = arrivals.first_after(back)
        assert first is not None
        figures |= {
            "first_request_after_s": round(first - back, 1),
            "online_after_s": round(online - back, 1),
            "all_done_after_s": round(finished - back, 1),
        }
        assert d.stop() == 0, d.tail()

    print("\noutage:", json.dumps(figures))
    if REPORT:
        Path(REPORT).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    assert emu.stats.runs_created == BEFORE + DURING
    by_file = Counter(
        unquote(urlsplit(r.inputs["input_image"]).path).rsplit("/", 1)[1] for r in emu.runs()
    )
    assert set(by_file.values()) == {1} and len(by_file) == BEFORE + DURING
    outputs = {p.name for p in (tmp_path / "in-outputs").iterdir() if p.suffix == ".png"}
    assert len(outputs) == BEFORE + DURING
