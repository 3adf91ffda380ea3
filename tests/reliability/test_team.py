"""Team mode with real processes: three ``floradrop run`` daemons (each with its own state
directory and config) on one folder and one PostgreSQL journal.

* SIGKILLed at random moments and restarted while files arrive: afterwards every file has
  exactly one run (the emulator counts the runs it created), one set of outputs and one filed
  original;
* a daily budget holds across the three: the runs started never cost more than it allows;
* PostgreSQL stopped for 20 s in the middle of a batch: the daemons say so (status), nothing is
  lost, and work resumes by itself.

Environment: FLORADROP_TEAM_FILES (default 300), FLORADROP_TEAM_KILLS (default 12),
FLORADROP_TEAM_SEED, FLORADROP_TEAM_REPORT (a JSON file for RELIABILITY.md's figures).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from flora_emulator import Emulator
from floradrop.instance import DaemonInfo
from tests.engine.harness import GUARD_OFF, drop, png_bytes, wait_for
from tests.pgserver import PASSWORD, PostgresServer, find_bin_dir

FILES = int(os.environ.get("FLORADROP_TEAM_FILES", "300"))
KILLS = int(os.environ.get("FLORADROP_TEAM_KILLS", "12"))
SEED = int(os.environ.get("FLORADROP_TEAM_SEED", "20261204"))
REPORT = os.environ.get("FLORADROP_TEAM_REPORT")
MEMBERS = 3


class Member:
    """One machine of the team: its own config and state directory, the shared folder."""

    def __init__(self, root: Path, n: int, folder: Path, url: str, emu: Emulator, extra: str):
        self.n = n
        self.state = root / f"m{n}" / "state"
        self.config = root / f"m{n}" / "floradrop.toml"
        self.log = root / f"m{n}" / "daemon.out"
        self.config.parent.mkdir(parents=True)
        self.config.write_text(
            "[daemon]\n"
            f"state_dir = {str(self.state)!r}\n"
            f"log_dir = {str(root / f'm{n}' / 'logs')!r}\n"
            "settle_seconds = 0.2\npoll_interval_seconds = 2\n"
            "max_concurrent_runs = 8\nmax_concurrent_uploads = 4\n"
            f"{GUARD_OFF}{extra}\n"
            f"[journal]\nurl = {url!r}\nlease_seconds = 5\n\n"
            f"[[folders]]\npath = {str(folder)!r}\nname = 'drop'\ntechnique = 'cctv-cam'\n",
            encoding="utf-8",
        )
        self.emu = emu
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Member:
        env = dict(
            os.environ,
            FLORA_API_KEY=self.emu.api_key,
            FLORA_BASE_URL=self.emu.base_url,
            PYTHONUNBUFFERED="1",
        )
        with self.log.open("ab") as out:
            argv = [sys.executable, "-m", "floradrop", "run", "--headless", "--config"]
            self.proc = subprocess.Popen(
                [*argv, str(self.config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def up(self) -> bool:
        info = DaemonInfo.read(self.state)
        return self.proc is not None and info is not None and info.pid == self.proc.pid

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def status(self) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, "-m", "floradrop", "status", "--json", "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert PASSWORD not in done.stdout + done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else {}

    def tail(self) -> str:
        return self.log.read_text("utf-8", errors="replace")[-3000:]


@pytest.fixture
def team_server() -> Iterator[PostgresServer]:
    """A server of this test's own: one test stops and starts it."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = (
            "PostgreSQL's server (initdb, pg_ctl) is not installed (apt-get install postgresql)"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


def unfinished(url: str) -> list[tuple[object, ...]]:
    """For a failure's message: the jobs not done, with their state, owner and run."""
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, connect_timeout=3) as db:
        query = "SELECT id, rel_path, state, owner, run_id FROM jobs WHERE state <> 'done'"
        return [tuple(r) for r in db.execute(query).fetchall()]
    return []


def states(url: str) -> dict[str, int]:
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, connect_timeout=3) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    return {}


@contextlib.contextmanager
def team(root: Path, url: str, emu: Emulator, extra: str = "") -> Iterator[list[Member]]:
    folder = root / "share" / "inbox"
    folder.mkdir(parents=True)
    members = [Member(root, n, folder, url, emu, extra) for n in range(MEMBERS)]
    try:
        yield members
    finally:
        for member in members:
            member.kill()
    for member in members:
        assert PASSWORD not in member.log.read_text("utf-8", errors="replace")
        for log in (member.config.parent / "logs").glob("*"):
            assert PASSWORD not in log.read_text("utf-8", errors="replace"), log


def check_exactly_once(root: Path, emu: Emulator, url: str, names: list[str]) -> None:
    share = root / "share"
    outputs = sorted(p.name for p in (share / "inbox-outputs").iterdir() if p.suffix == ".png")
    assert outputs == sorted(f"{Path(n).stem}.cctv-cam.png" for n in names), "one set each"
    sidecars = [p for p in (share / "inbox-outputs").iterdir() if p.name.endswith(".png.json")]
    assert len(sidecars) == len(names)
    assert not [p for p in (share / "inbox-outputs").iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in (share / "inbox-done").iterdir()) == sorted(names)
    assert not list((share / "inbox").iterdir())
    assert emu.stats.runs_created == len(names), "exactly one run per file"
    assert states(url) == {"done": len(names)}


@pytest.mark.slow
def test_three_daemons_killed_at_random_run_each_file_once(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    rng = random.Random(SEED)
    url = postgres_server.create_database()
    names = [f"photo {n:03d}.png" for n in range(FILES)]
    kills: list[dict[str, Any]] = []
    started = time.monotonic()
    with Emulator(seed=5, run_seconds=0.3) as emu, team(tmp_path, url, emu) as members:
        inbox = tmp_path / "share" / "inbox"
        for member in members:
            member.start()
        wait_for(lambda: all(m.up() for m in members), 60, "three daemons up")
        stop_dropping = threading.Event()

        def dropper() -> None:
            for n, name in enumerate(names):
                drop(inbox, name, png_bytes(n))
                if stop_dropping.wait(rng.uniform(0.0, 0.02)):
                    return

        thread = threading.Thread(target=dropper, name="test-dropper")
        thread.start()
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.5, 3.0))  # the random moment to kill at
                victim = rng.choice(members)
                before = states(url)
                victim.kill()
                kills.append({"member": victim.n, "states": before})
                if rng.random() < 0.8:  # most come back; some stay down a while
                    victim.start()
        except BaseException:
            stop_dropping.set()
            raise
        finally:
            thread.join()
        for member in members:
            if member.proc is None or member.proc.poll() is not None:
                member.start()
        wait_for(
            lambda: states(url).get("done", 0) >= FILES,
            timeout=300,
            what=f"{FILES} done jobs (now {states(url)}; {members[0].tail()})",
        )
        status = members[0].status()
        team_status = status.get("team") or {}
        assert len([m for m in team_status.get("members", []) if m["alive"]]) == MEMBERS
        for member in members:
            assert member.stop() == 0, member.tail()
        check_exactly_once(tmp_path, emu, url, names)
        logs = "".join(m.log.read_text("utf-8", errors="replace") for m in members)
    taken = [
        int(line.split("took over ")[1].split()[0])
        for line in logs.splitlines()
        if "took over " in line
    ]
    figures = {
        "files": FILES,
        "daemons": MEMBERS,
        "kills": len(kills),
        "seed": SEED,
        "seconds": round(time.monotonic() - started, 1),
        "runs_created": FILES,
        "take_overs": len(taken),
        "jobs_taken_over": sum(taken),
        "lost_leases": logs.count("lease on the team's journal ran out"),
    }
    print(json.dumps(figures))
    if REPORT:
        Path(REPORT).write_text(json.dumps({**figures, "each": kills}))


@pytest.mark.slow
def test_a_daily_budget_holds_across_three_daemons(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = postgres_server.create_database()
    files = 40
    with (
        Emulator(seed=5, run_seconds=0.2) as emu,
        team(tmp_path, url, emu, "daily_budget_usd = 0.5") as members,
    ):
        for member in members:
            member.start()
        wait_for(lambda: all(m.up() for m in members), 60, "three daemons up")
        for n in range(files):
            drop(tmp_path / "share" / "inbox", f"b{n:02d}.png", png_bytes(n))
        # $0.50 / $0.05 a run: ten runs, whichever daemon starts them; the rest wait.
        wait_for(
            lambda: states(url).get("done", 0) == 10 and states(url).get("held", 0) == files - 10,
            timeout=120,
            what=f"10 done, {files - 10} held (now {states(url)})",
        )
        assert emu.stats.runs_created == 10
        status = members[1].status()
        assert status["spend_today_usd"] == pytest.approx(0.5)
        for member in members:
            assert member.stop() == 0, member.tail()
        assert emu.stats.runs_created == 10


@pytest.mark.slow
def test_postgresql_away_for_20_seconds_loses_nothing(
    tmp_path: Path, team_server: PostgresServer
) -> None:
    url = team_server.create_database()
    names = [f"p{n:03d}.png" for n in range(60)]
    with Emulator(seed=5, run_seconds=0.5) as emu, team(tmp_path, url, emu) as members:
        inbox = tmp_path / "share" / "inbox"
        for member in members:
            member.start()
        wait_for(lambda: all(m.up() for m in members), 60, "three daemons up")
        for n, name in enumerate(names[:30]):
            drop(inbox, name, png_bytes(n))
        wait_for(lambda: states(url).get("done", 0) >= 5, 120, "a batch under way")
        team_server.pg_ctl_stop("fast")  # mid-batch: uploads, runs and fetches in flight
        away = time.monotonic()
        for n, name in enumerate(names[30:], start=30):
            drop(inbox, name, png_bytes(n))  # files keep arriving while it is away

        def says_so() -> bool:
            attention = members[2].status().get("attention") or {}
            return attention.get("kind") == "journal"

        wait_for(says_so, 30, "the status to say the team's journal is unreachable")
        status = members[2].status()
        assert "cannot be reached" in status["attention"]["message"]
        assert PASSWORD not in json.dumps(status)
        time.sleep(max(0.0, 20 - (time.monotonic() - away)))  # the outage lasts 20 s
        team_server.pg_ctl_start()
        wait_for(
            lambda: states(url).get("done", 0) >= len(names),
            timeout=180,
            what=f"every file done after the outage (now {states(url)}: {unfinished(url)})",
        )
        wait_for(lambda: not members[2].status().get("attention"), 30, "the line to clear")
        for member in members:
            assert member.stop() == 0, member.tail()
        check_exactly_once(tmp_path, emu, url, names)
