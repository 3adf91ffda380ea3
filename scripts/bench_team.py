#!/usr/bin/env python3
"""Team mode benchmark: N files through 1, 2 and 3 ``floradrop run`` daemons on one
PostgreSQL journal (docs/team.md).

    python3 scripts/bench_team.py                    # 1,000 files through 1, 2 and 3 daemons
    python3 scripts/bench_team.py --files 200 --daemons 1 3
    python3 scripts/bench_team.py --json team.json

Each case starts a fresh PostgreSQL server (Debian's postgresql package; durable settings:
fsync on), the FLORA emulator in this process over loopback, and the daemons as separate
processes (own state directories, one shared folder). All files are dropped at once; the time
is from the first drop to the last job done (read from the journal). Round trips are the
statements (and BEGIN/COMMIT) every daemon sent to the journal, from the line each logs at
its exit. BENCHMARKS.md records the results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def run_case(files: int, daemons: int, run_seconds: float) -> dict[str, Any]:
    import psycopg
    from tests.engine.harness import GUARD_OFF, png_bytes
    from tests.pgserver import PostgresServer, find_bin_dir

    from flora_emulator import Emulator

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("PostgreSQL's server is not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir, durable=True).start()
    root = Path(tempfile.mkdtemp(prefix="floradrop-bench-team-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        url = server.create_database("bench")
        inbox = root / "share" / "inbox"
        inbox.mkdir(parents=True)
        staging = root / "staging"
        staging.mkdir()
        for n in range(files):
            (staging / f"f{n:05d}.png").write_bytes(png_bytes(n))
        with Emulator(seed=3, run_seconds=run_seconds) as emu:
            for n in range(daemons):
                home = root / f"m{n}"
                home.mkdir()
                config = home / "floradrop.toml"
                config.write_text(
                    f"[daemon]\nstate_dir = {str(home / 'state')!r}\n"
                    f"log_dir = {str(home / 'logs')!r}\nsettle_seconds = 0.2\n"
                    f"max_concurrent_runs = 16\nmax_concurrent_uploads = 4\n{GUARD_OFF}\n"
                    f"[ui]\nenabled = false\n\n[journal]\nurl = {url!r}\n\n"
                    f"[[folders]]\npath = {str(inbox)!r}\nname = 'drop'\ntechnique = 'cctv-cam'\n",
                    encoding="utf-8",
                )
                env = dict(
                    os.environ,
                    FLORA_API_KEY=emu.api_key,
                    FLORA_BASE_URL=emu.base_url,
                    PYTHONUNBUFFERED="1",
                )
                with (home / "daemon.out").open("wb") as out:
                    argv = [sys.executable, "-m", "floradrop", "run", "--headless", "--config"]
                    procs.append(
                        subprocess.Popen(
                            [*argv, str(config)],
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                            start_new_session=True,
                        )
                    )
            with psycopg.connect(url, autocommit=True) as db:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # every daemon joined the team
                    try:
                        row = db.execute("SELECT COUNT(*) FROM members").fetchone()
                    except psycopg.errors.UndefinedTable:  # the first one creates it
                        row = None
                    if row and row[0] >= daemons:
                        break
                    time.sleep(0.1)
                started = time.monotonic()
                for path in sorted(staging.iterdir()):
                    os.replace(path, inbox / path.name)
                done = 0
                while done < files:
                    if time.monotonic() - started > 1800:
                        raise SystemExit(f"timed out with {done} of {files} done")
                    time.sleep(0.2)
                    row = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'done'").fetchone()
                    done = int(row[0]) if row else 0
                elapsed = time.monotonic() - started
                owners = dict(
                    db.execute(
                        "SELECT m.host || ':' || m.pid, COUNT(*) FROM jobs j JOIN members m "
                        "ON m.id = j.owner GROUP BY 1"
                    ).fetchall()
                )
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                proc.wait(120)
            runs = emu.stats.runs_created
        trips = 0
        for n in range(daemons):
            for line in (root / f"m{n}" / "daemon.out").read_text(errors="replace").splitlines():
                if "round trips to the team's journal" in line:
                    trips += int(line.split(" round trips")[0].split()[-1])
        return {
            "files": files,
            "daemons": daemons,
            "seconds": round(elapsed, 1),
            "files_per_second": round(files / elapsed, 2),
            "round_trips": trips,
            "round_trips_per_file": round(trips / files, 1),
            "runs_created": runs,
            "jobs_per_daemon": sorted(owners.values(), reverse=True),
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        server.stop()
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--daemons", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--run-seconds", type=float, default=1.0, help="the emulator's run time")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results = []
    for daemons in args.daemons:
        result = run_case(args.files, daemons, args.run_seconds)
        print(json.dumps(result), flush=True)
        results.append(result)
    machine = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    print(f"\n{'daemons':>7} {'files':>6} {'seconds':>8} {'files/s':>8} {'trips/file':>10}")
    for r in results:
        print(
            f"{r['daemons']:>7} {r['files']:>6} {r['seconds']:>8} {r['files_per_second']:>8} "
            f"{r['round_trips_per_file']:>10}"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
