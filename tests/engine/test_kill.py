"""Exactly once across crashes: a real daemon process SIGKILLed again and again while files flow.

Files keep arriving while the daemon is killed and restarted; in the end every file has its
outputs exactly once, every output is complete (Pillow loads it, its hash is the journaled
one), the emulator created exactly one run per file, no temporary file is left and the journal
passes ``PRAGMA integrity_check``.

Kills land everywhere: every other kill waits until this daemon has moved some job into a
chosen stage (uploading, submitting, running, fetching, filing) and kills a few milliseconds
later; the others are at a random moment after the daemon is up, or (one in six) while it
starts up and recovers. Each phase between kills draws
its own run length, API latency and upload slowness, and every 15th file is over 4 MiB (the
signed-upload path, large outputs). Right after each kill the journal is read to record
which stages jobs were in.

Environment: FLORADROP_KILL_FILES (default 120), FLORADROP_KILL_COUNT (default 12),
FLORADROP_KILL_SEED (the random moments, replayable), FLORADROP_KILL_REPORT (a JSON file to
write the figures to; RELIABILITY.md quotes them).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from flora_emulator import Emulator
from floradrop.instance import DaemonInfo

from .harness import drop, folder_toml, png_bytes, wait_for, write_config

FILES = int(os.environ.get("FLORADROP_KILL_FILES", "120"))
KILLS = int(os.environ.get("FLORADROP_KILL_COUNT", "12"))
SEED = int(os.environ.get("FLORADROP_KILL_SEED", "20261123"))
REPORT = os.environ.get("FLORADROP_KILL_REPORT")
BIG_EVERY = 15
STAGES = ("uploading", "submitting", "running", "fetching", "filing")
ACTIVE = ("waiting", *STAGES)


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


def journal_states(state_dir: Path, since: float = 0.0) -> dict[str, int]:
    """Jobs per state (that changed since ``since``), read-only: never checkpoints the journal
    between kills."""
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            query = "SELECT state, COUNT(*) FROM jobs WHERE updated_at >= ? GROUP BY state"
            return dict(db.execute(query, (since,)).fetchall())
    except sqlite3.OperationalError:  # the daemon is creating it right now
        return {}


def wait_for_stage(state_dir: Path, stage: str, since: float, timeout: float) -> bool:
    """Until a job this daemon moved is in ``stage`` (a short stage like filing lasts a few
    milliseconds: one connection, polled every millisecond)."""
    path = state_dir / "journal.sqlite3"
    query = "SELECT 1 FROM jobs WHERE state = ? AND updated_at >= ? LIMIT 1"
    give_up = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > give_up:
            return False
        time.sleep(0.01)
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        while time.monotonic() < give_up:
            with contextlib.suppress(sqlite3.OperationalError):
                if db.execute(query, (stage, since)).fetchone():
                    return True
            time.sleep(0.001)
    return False


def big_png(seed: int) -> bytes:
    """Over 4 MiB: noise does not compress."""
    side = 1250
    image = Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    data = buffer.getvalue()
    assert len(data) > 4 * 1024 * 1024
    return data


def is_up(state_dir: Path, proc: subprocess.Popen[bytes]) -> bool:
    info = DaemonInfo.read(state_dir)
    return info is not None and info.pid == proc.pid


class Landings:
    """Which stages jobs were in at each kill, read from the journal right after it: only jobs
    the killed daemon moved (so a job left RUNNING by an earlier kill is not counted again)."""

    def __init__(self) -> None:
        self.kills: list[dict[str, object]] = []

    def record(self, target: str | None, states: dict[str, int], up: bool) -> None:
        active = {s: n for s, n in states.items() if s in ACTIVE and n}
        self.kills.append({"target": target or "random", "daemon_up": up, "states": active})

    def summary(self) -> dict[str, object]:
        landed: Counter[str] = Counter()
        jobs: Counter[str] = Counter()
        for kill in self.kills:
            states = kill["states"]
            assert isinstance(states, dict)
            for state, n in states.items():
                landed[state] += 1
                jobs[state] += n
        return {
            "kills": len(self.kills),
            "during_start_up": sum(1 for k in self.kills if not k["daemon_up"]),
            "kills_with_jobs_in": {s: landed[s] for s in ACTIVE},
            "jobs_caught_in": {s: jobs[s] for s in ACTIVE},
        }


@pytest.mark.slow
def test_sigkill_at_random_moments_keeps_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    state_dir = tmp_path / "state"
    folders = folder_toml(tmp_path, "in", "cctv-cam")
    config = write_config(
        tmp_path, folders, daemon="max_concurrent_runs = 16\nmax_concurrent_uploads = 4"
    )
    log = tmp_path / "daemon.out"
    landings = Landings()
    names = [f"photo {n:03d}.png" for n in range(FILES)]
    with Emulator(seed=5, run_seconds=0.6) as emu:
        stop_dropping = threading.Event()
        drop_rng = random.Random(SEED + 1)

        def dropper() -> None:
            for n, name in enumerate(names):
                data = big_png(n) if n % BIG_EVERY == BIG_EVERY - 1 else png_bytes(n)
                drop(tmp_path / "in", name, data)
                if stop_dropping.wait(drop_rng.uniform(0.0, 0.12)):
                    return

        (tmp_path / "in").mkdir()
        thread = threading.Thread(target=dropper, name="test-dropper")
        thread.start()
        try:
            for kill in range(KILLS):
                # This phase's weather: run length, API latency, slow signed uploads.
                emu.run_seconds = rng.choice((0.2, 0.6, 1.5, 3.0))
                emu.latency_ms = rng.choice((0, 0, 20, 80))
                emu.upload_slow_ms = rng.choice((0, 0, 20))
                target = None if kill % 2 == 0 else STAGES[(kill // 2) % len(STAGES)]
                spawned = time.time()
                proc = start_daemon(config, emu, log)
                if kill % 6 == 4:  # while it starts: connecting, recovering, first scan
                    time.sleep(rng.uniform(0.05, 1.0))
                elif target is None:
                    up_by = time.monotonic() + 30
                    while not is_up(state_dir, proc) and time.monotonic() < up_by:
                        time.sleep(0.01)
                    time.sleep(rng.uniform(0.0, 2.5))  # the random moment to kill at
                elif wait_for_stage(state_dir, target, spawned, timeout=8):
                    time.sleep(rng.choice((0.0, rng.uniform(0.0, 0.02))))
                up = is_up(state_dir, proc)
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                landings.record(target, journal_states(state_dir, spawned), up)
        except BaseException:
            stop_dropping.set()
            raise
        finally:
            thread.join()
        proc = start_daemon(config, emu, log)
        try:
            wait_for(lambda: is_up(state_dir, proc), 60, "the daemon is up")
            wait_for(
                lambda: journal_states(state_dir).get("done", 0) >= FILES,
                timeout=240,
                what=f"{FILES} done jobs (now {journal_states(state_dir)})",
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        assert proc.returncode == 0, log.read_text()[-3000:]

        summary = landings.summary()
        if REPORT:
            Path(REPORT).write_text(
                json.dumps({"files": FILES, "seed": SEED, **summary, "each": landings.kills})
            )
        print(json.dumps(summary))

        outputs_dir = tmp_path / "in-outputs"
        outputs = sorted(p for p in outputs_dir.iterdir() if p.suffix == ".png")
        expected = {f"{Path(name).stem}.cctv-cam.png" for name in names}
        assert {p.name for p in outputs} == expected, "every file has exactly one output"
        written = journal_outputs(state_dir)
        for path in outputs:
            with Image.open(path) as image:
                image.load()  # a truncated file fails here
            assert hashlib.sha256(path.read_bytes()).hexdigest() == written[str(path)]
            assert (path.parent / (path.name + ".json")).exists()
        assert not [p for p in outputs_dir.iterdir() if p.name.startswith(".")], "temp files"
        assert len(list((tmp_path / "in-done").iterdir())) == FILES
        assert not list((tmp_path / "in").iterdir())
        assert emu.stats.runs_created == FILES, "exactly one run per file"
        assert journal_states(state_dir) == {"done": FILES}
        with contextlib.closing(sqlite3.connect(state_dir / "journal.sqlite3")) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert summary["during_start_up"] != KILLS, "no kill hit a running daemon"


def journal_outputs(state_dir: Path) -> dict[str, str]:
    """Output path -> the SHA-256 the journal recorded before placing it."""
    with contextlib.closing(sqlite3.connect(state_dir / "journal.sqlite3")) as db:
        rows = db.execute("SELECT outputs FROM jobs").fetchall()
    return {o["path"]: o["sha256"] for (text,) in rows for o in json.loads(text)}
