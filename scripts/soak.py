#!/usr/bin/env python3
"""Soak: a real daemon process fed a steady trickle of files while the API misbehaves.

    .venv/bin/python scripts/soak.py --minutes 30 --json soak.json
    .venv/bin/python scripts/soak.py --minutes 1.2 --fault-scale 0.15 --interval 0.5   # CI scale

``floradrop run --headless`` runs in a child process against an in-process emulator whose
fault knobs are switched on and off on a schedule (5xx bursts, 429 with Retry-After, lost
responses, connection resets, and an outage where every API request is reset). Every few
seconds the daemon's RSS, open file descriptors and thread count are sampled from /proc.

The daemon's periodic rescan is set to an hour, so a file whose events were missed would stay
unprocessed: at the end every dropped file must be done exactly once (one run at the emulator,
one output, one filed original). Before the trickle starts, a small burst warms the daemon up
(every thread pool at full size) and it is sampled idle; after the last file it is sampled idle
again, and the two idle samples are compared. Results print as a summary and, with ``--json``,
as JSON with every sample (tests/reliability/test_soak.py reads it).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flora_emulator import Emulator

# (name, knobs, seconds at --fault-scale 1); calm phases in between.
FAULTS: tuple[tuple[str, dict[str, float], float], ...] = (
    ("5xx burst", {"error_rate": 0.5}, 20),
    ("429 with Retry-After", {"rate_limit_rate": 0.5}, 20),
    ("lost responses", {"lose_response_rate": 0.25}, 20),
    ("connection resets", {"reset_rate": 0.3}, 20),
    ("outage", {"reset_rate": 1.0}, 60),
)
CALM_SECONDS = 40
_CALM = {"error_rate": 0.0, "rate_limit_rate": 0.0, "lose_response_rate": 0.0, "reset_rate": 0.0}


@dataclass
class Sample:
    t: float  # seconds since the trickle started (negative: warm-up)
    rss_kb: int
    fds: int
    sockets: int  # of fds: keep-alive connections come and go with the pools' use
    threads: int
    dropped: int
    done: int
    phase: str


def proc_sample(pid: int) -> tuple[int, int, int, int]:
    """(RSS in KiB, open fds, of them sockets, threads) of a live process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    fds = sockets = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:  # closed while we looked
            continue
        fds += 1
        sockets += target.startswith("socket:")
    return int(fields["VmRSS"].split()[0]), fds, sockets, int(fields["Threads"])


def png_bytes(seed: int, big: bool = False) -> bytes:
    """A unique PNG; ``big`` gives one over 4 MiB (the signed-upload path)."""
    from PIL import Image

    if big:
        side = 1300
        image = Image.frombytes("RGB", (side, side), random.Random(seed).randbytes(side * side * 3))
    else:
        image = Image.new("RGB", (64, 48), (seed % 256, (seed * 7) % 256, (seed * 13) % 256))
    image.putpixel((0, 0), (seed & 255, (seed >> 8) & 255, (seed >> 16) & 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def journal_counts(state_dir: Path) -> dict[str, int]:
    path = state_dir / "journal.sqlite3"
    if not path.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
    except sqlite3.OperationalError:  # the daemon is creating it right now
        return {}


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per hour."""
    if len(points) < 3:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    cov = sum((t - mean_t) * (v - mean_v) for t, v in points)
    return cov / var * 3600


class Soak:
    def __init__(self, root: Path, args: argparse.Namespace) -> None:
        self.root = root
        self.args = args
        self.inbox = root / "in"
        self.staging = root / "staging"
        self.state = root / "state"
        self.samples: list[Sample] = []
        self.dropped: dict[str, float] = {}  # name -> when it was moved in
        self.phase = "warm-up"
        self.phases: list[dict[str, Any]] = []
        self.stop = threading.Event()
        self.rng = random.Random(args.seed)
        self.t0 = time.monotonic()
        self.trace: Path | None = args.json.with_suffix(".samples.jsonl") if args.json else None

    # -- set-up -------------------------------------------------------------------------------

    def write_config(self) -> Path:
        config = self.root / "floradrop.toml"
        config.write_text(
            "[daemon]\n"
            f"state_dir = {str(self.state)!r}\n"
            f"log_dir = {str(self.root / 'logs')!r}\n"
            "settle_seconds = 0.5\n"
            "confirm_above_files = 1000000\n"  # a soak is a big drop on purpose
            "confirm_above_usd = 1000000.0\n"
            "poll_interval_seconds = 2\n"
            "rescan_seconds = 3600\n"  # a missed event must not be rescued by a rescan
            "\n[[folders]]\n"
            f"path = {str(self.inbox)!r}\n"
            'technique = "cctv-cam"\n',
            encoding="utf-8",
        )
        return config

    def start_daemon(self, config: Path, emu: Emulator) -> subprocess.Popen[bytes]:
        env = dict(os.environ, FLORA_API_KEY=emu.api_key, FLORA_BASE_URL=emu.base_url)
        with (self.root / "daemon.out").open("ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "floradrop", "run", "--headless", "--config", str(config)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def drop(self, n: int, big: bool = False) -> None:
        name = f"soak {n:05d}.png"
        temp = self.staging / name
        temp.write_bytes(png_bytes(n, big))
        os.replace(temp, self.inbox / name)
        self.dropped[name] = time.time()

    def done(self) -> int:
        return journal_counts(self.state).get("done", 0)

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"soak: timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.2)

    # -- the threads ----------------------------------------------------------------------------

    def dropper(self, first: int) -> None:
        n = first
        while not self.stop.is_set():
            big = self.args.big_every > 0 and n % self.args.big_every == 0
            self.drop(n, big)
            n += 1
            if self.stop.wait(self.args.interval * self.rng.uniform(0.5, 1.5)):
                return

    def faults(self, emu: Emulator) -> None:
        scale = self.args.fault_scale
        while True:
            for name, knobs, seconds in FAULTS:
                self.phase = "calm"
                if self.stop.wait(CALM_SECONDS * scale):
                    return
                self.phase = name
                self.phases.append({"t": round(self.now(), 1), "fault": name})
                for knob, value in knobs.items():
                    setattr(emu, knob, value)
                stopped = self.stop.wait(seconds * scale)
                for knob, value in _CALM.items():
                    setattr(emu, knob, value)
                if stopped:
                    return

    def now(self) -> float:
        return time.monotonic() - self.t0

    def sample(self, pid: int) -> Sample:
        rss, fds, sockets, threads = proc_sample(pid)
        sample = Sample(
            round(self.now(), 1),
            rss,
            fds,
            sockets,
            threads,
            len(self.dropped),
            self.done(),
            self.phase,
        )
        self.samples.append(sample)
        return sample

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        self.inbox.mkdir()
        self.staging.mkdir()
        config = self.write_config()
        with Emulator(seed=args.seed, run_seconds=args.run_seconds, latency_ms=5) as emu:
            proc = self.start_daemon(config, emu)
            try:
                return self._run(proc, emu)
            finally:
                self.stop.set()
                if proc.poll() is None:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(10)

    def _run(self, proc: subprocess.Popen[bytes], emu: Emulator) -> dict[str, Any]:
        args = self.args
        # Warm-up: a burst that fills every pool, then an idle baseline.
        for n in range(args.warmup_files):
            self.drop(n, big=n == 0 and args.big_every > 0)
        self.wait(lambda: self.done() >= args.warmup_files, 120, "the warm-up files")
        self.wait(lambda: not self.active(), 30, "the warm-up to settle")
        idle_start = self.idle_sample(proc.pid)
        self.t0 = time.monotonic()
        dropper = threading.Thread(target=self.dropper, args=(args.warmup_files,), name="dropper")
        faults = threading.Thread(target=self.faults, args=(emu,), name="faults")
        dropper.start()
        faults.start()
        deadline = self.t0 + args.minutes * 60
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise SystemExit(f"soak: the daemon exited with {proc.returncode}")
                sample = self.sample(proc.pid)
                if args.verbose:
                    print(sample, flush=True)
                if self.trace is not None:  # every sample on disk at once: a long run can be
                    with self.trace.open("a", encoding="utf-8") as trace:  # looked at early
                        trace.write(json.dumps(sample.__dict__) + "\n")
                time.sleep(min(args.sample_seconds, max(0.0, deadline - time.monotonic())))
        finally:
            self.stop.set()
            dropper.join()
            faults.join()
        self.phase = "drain"
        files = len(self.dropped)
        drain_started = time.monotonic()
        backlog = files - self.finished()
        self.wait(lambda: self.finished() >= files, 300 + backlog, f"{files} finished jobs")
        drain_seconds = time.monotonic() - drain_started
        self.wait(lambda: not self.active(), 30, "the daemon to go idle")
        idle_end = self.idle_sample(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        return self.report(emu, idle_start, idle_end, code, drain_seconds)

    def finished(self) -> int:
        counts = journal_counts(self.state)
        return sum(counts.get(s, 0) for s in ("done", "failed", "duplicate", "cancelled"))

    def active(self) -> bool:
        counts = journal_counts(self.state)
        return any(
            v for k, v in counts.items() if k not in ("done", "failed", "duplicate", "cancelled")
        )

    def idle_sample(self, pid: int) -> Sample:
        """Idle: give keep-alive connections and caches a moment, then take the median."""
        time.sleep(self.args.idle_seconds)
        taken = []
        for _ in range(5):
            taken.append(proc_sample(pid))
            time.sleep(0.5)
        rss, fds, sockets, threads = (
            sorted(col)[len(col) // 2] for col in zip(*taken, strict=True)
        )
        return Sample(
            round(self.now(), 1), rss, fds, sockets, threads, len(self.dropped), self.done(), "idle"
        )

    def report(
        self, emu: Emulator, start: Sample, end: Sample, code: int, drain_seconds: float
    ) -> dict[str, Any]:
        outputs = sorted(p.name for p in (self.root / "in-outputs").glob("*.png"))
        expected = sorted(f"{Path(n).stem}.cctv-cam.png" for n in self.dropped)
        done_dir = sorted(p.name for p in (self.root / "in-done").iterdir())
        leftovers = [
            p.name for p in (self.root / "in-outputs").iterdir() if p.name.startswith(".")
        ] + [p.name for p in self.inbox.iterdir()]
        db = f"file:{self.state / 'journal.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(db, uri=True)) as conn:
            rows = conn.execute("SELECT rel_path, created_at, finished_at FROM jobs").fetchall()
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        admitted = {rel: created for rel, created, _ in rows}
        latencies = sorted(
            admitted[name] - at for name, at in self.dropped.items() if name in admitted
        )
        turnaround = sorted(
            finished - self.dropped[rel]
            for rel, _, finished in rows
            if finished is not None and rel in self.dropped
        )
        steady = [s for s in self.samples if s.t >= self.args.minutes * 60 * 0.1]

        def series(attr: str) -> dict[str, Any]:
            values = [getattr(s, attr) for s in self.samples]
            return {
                "idle_start": getattr(start, attr),
                "idle_end": getattr(end, attr),
                "min": min(values),
                "max": max(values),
                "first": values[0],
                "last": values[-1],
                "slope_per_hour": round(
                    slope_per_hour([(s.t, getattr(s, attr)) for s in steady]), 2
                ),
            }

        return {
            "minutes": self.args.minutes,
            "files": len(self.dropped),
            "big_files": sum(
                1
                for n in range(len(self.dropped))
                if self.args.big_every and n % self.args.big_every == 0
            ),
            "runs_created": emu.stats.runs_created,
            "faults_injected": dict(emu.stats.faults),
            "fault_phases": self.phases,
            "journal": journal_counts(self.state),
            "integrity_check": integrity,
            "outputs_match": outputs == expected,
            "outputs": len(outputs),
            "filed_originals": len(done_dir),
            "never_admitted": sorted(set(self.dropped) - set(admitted)),
            "leftovers": leftovers,
            "admit_latency_s": {
                "p50": round(latencies[len(latencies) // 2], 2) if latencies else None,
                "max": round(latencies[-1], 2) if latencies else None,
            },
            "turnaround_s": {
                "p50": round(turnaround[len(turnaround) // 2], 2) if turnaround else None,
                "p95": round(turnaround[int(len(turnaround) * 0.95)], 2) if turnaround else None,
                "max": round(turnaround[-1], 2) if turnaround else None,
            },
            "drain_seconds": round(drain_seconds, 1),
            "exit_code": code,
            "rss_kb": series("rss_kb"),
            "fds": series("fds"),
            "sockets": series("sockets"),
            "threads": series("threads"),
            "samples": [s.__dict__ for s in self.samples],
        }


def check(result: dict[str, Any]) -> list[str]:
    """What went wrong with exactly-once (empty when everything held)."""
    problems = []
    files = result["files"]
    if result["runs_created"] != files:
        problems.append(f"{result['runs_created']} runs for {files} files")
    if result["journal"] != {"done": files}:
        problems.append(f"journal: {result['journal']}")
    if not result["outputs_match"]:
        problems.append(f"{result['outputs']} outputs for {files} files")
    if result["filed_originals"] != files:
        problems.append(f"{result['filed_originals']} originals filed for {files} files")
    if result["never_admitted"]:
        problems.append(f"never admitted (missed events): {result['never_admitted'][:5]}")
    if result["leftovers"]:
        problems.append(f"left over: {result['leftovers'][:5]}")
    if result["integrity_check"] != "ok":
        problems.append(f"integrity_check: {result['integrity_check']}")
    if result["exit_code"] != 0:
        problems.append(f"the daemon exited with {result['exit_code']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the trickle")
    parser.add_argument("--interval", type=float, default=2.0, help="mean seconds between files")
    parser.add_argument("--big-every", type=int, default=40, help="every Nth file is > 4 MiB")
    parser.add_argument("--fault-scale", type=float, default=1.0, help="fault schedule scale")
    parser.add_argument("--run-seconds", type=float, default=1.0, help="emulated run length")
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--warmup-files", type=int, default=12)
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="quiet before idle samples")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--json", type=Path, help="write the result here (samples also go to *.samples.jsonl)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every sample")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="floradrop-soak-"))
    try:
        result = Soak(root, args).run()
    finally:
        if not args.keep:
            import shutil

            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"soak: work folder kept at {root}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    summary = {k: v for k, v in result.items() if k not in ("samples", "fault_phases")}
    print(json.dumps(summary, indent=1))
    problems = check(result)
    for problem in problems:
        print(f"soak: FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
