"""Exactly once across crashes: a real daemon process SIGKILLed at random moments.

Files keep arriving while the daemon is killed and restarted; in the end every file has its
outputs exactly once, every output is complete, and the emulator created exactly one run per
file. The random moments are seeded, so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from floradrop.emulator import Emulator
from floradrop.instance import DaemonInfo

from .harness import drop, folder_toml, png_bytes, wait_for, write_config

FILES = int(os.environ.get("FLORADROP_KILL_FILES", "120"))
KILLS = int(os.environ.get("FLORADROP_KILL_COUNT", "12"))


def start_daemon(config: Path, emu: Emulator, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ, FLORA_API_KEY=emu.api_key, FLORA_BASE_URL=emu.base_url, PYTHONUNBUFFERED="1"
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "floradrop", "run", "--headless", "--config", str(config)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def journal_states(state_dir: Path) -> dict[str, int]:
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return {}
    with sqlite3.connect(path, timeout=10) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


@pytest.mark.slow
def test_sigkill_at_random_moments_keeps_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("FLORADROP_KILL_SEED", "20261123")))
    folders = folder_toml(tmp_path, "in", "cctv-cam")
    config = write_config(
        tmp_path, folders, daemon="max_concurrent_runs = 16\nmax_concurrent_uploads = 4"
    )
    log = tmp_path / "daemon.out"
    with Emulator(seed=5, run_seconds=0.6) as emu:
        stop_dropping = threading.Event()

        def dropper() -> None:
            for n in range(FILES):
                drop(tmp_path / "in", f"photo {n:03d}.png", png_bytes(n))
                if stop_dropping.wait(rng.uniform(0.0, 0.06)):
                    return

        (tmp_path / "in").mkdir()
        thread = threading.Thread(target=dropper, name="test-dropper")
        thread.start()
        try:
            for _ in range(KILLS):
                proc = start_daemon(config, emu, log)
                time.sleep(rng.uniform(0.4, 2.0))  # the random moment to kill at
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
        finally:
            thread.join()
        proc = start_daemon(config, emu, log)
        try:
            wait_for(
                lambda: (info := DaemonInfo.read(tmp_path / "state")) and info.pid == proc.pid,
                60,
                "the daemon is up",
            )
            wait_for(
                lambda: journal_states(tmp_path / "state").get("done", 0) >= FILES,
                timeout=240,
                what=f"{FILES} done jobs (now {journal_states(tmp_path / 'state')})",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        assert proc.returncode == 0, log.read_text()[-3000:]

        outputs = sorted(p for p in (tmp_path / "in-outputs").iterdir() if p.suffix == ".png")
        expected = {f"photo {n:03d}.cctv-cam.png" for n in range(FILES)}
        assert {p.name for p in outputs} == expected, "every file has exactly one output"
        for path in outputs:
            with Image.open(path) as image:
                image.load()  # a truncated file fails here
            assert (path.parent / (path.name + ".json")).exists()
        assert not [p for p in (tmp_path / "in-outputs").iterdir() if p.name.startswith(".")]
        assert len(list((tmp_path / "in-done").iterdir())) == FILES
        assert emu.stats.runs_created == FILES, "exactly one run per file"
        assert journal_states(tmp_path / "state") == {"done": FILES}
        with sqlite3.connect(tmp_path / "state" / "journal.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
