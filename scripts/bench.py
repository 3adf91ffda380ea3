#!/usr/bin/env python3
"""Benchmarks of the hot-folder engine against the FLORA emulator over loopback.

    python3 scripts/bench.py                 # every case, full size (about 6 minutes)
    python3 scripts/bench.py --quick         # smaller numbers, for a smoke run
    python3 scripts/bench.py latency idle    # some cases only

Each case runs in a fresh child process (so RSS and CPU figures are its own) with the daemon's
engine in-process and, where CPU or memory is measured, the emulator in a separate process.
Results print as a table and as JSON (``--json PATH``); BENCHMARKS.md records them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = (
    "latency",
    "throughput",
    "idle",
    "queue_rss",
    "big_file",
    "polling",
    "history",
    "ui_idle",
    "sdk",
)
SDK_PACKAGE = "@flora-ai/flora@0.11.0"  # the official TypeScript SDK, for the "sdk" case


# -- helpers (run inside the child) ----------------------------------------------------------


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak_rss() -> None:
    """Reset VmHWM (Linux >= 4.0: write 5 to clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def png_bytes(seed: int) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", (64, 48), (seed % 256, (seed * 7) % 256, (seed * 13) % 256))
    image.putpixel((0, 0), (seed & 255, (seed >> 8) & 255, (seed >> 16) & 255))  # unique bytes
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(every)


def state_count(engine: Any, state: str = "done") -> int:
    """Cheap (one COUNT query), so that waiting costs the measured process next to nothing."""
    return sum(c.get(state, 0) for c in engine.journal.counts().values())


class EmulatorProcess:
    """``floradrop emulator`` in its own process, so its CPU and memory are not counted."""

    def __init__(self, *args: str, stderr: Path | None = None) -> None:
        self.key = "sk_test_bench"
        self._stderr = stderr.open("wb") if stderr is not None else None
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "floradrop",
                "emulator",
                "--port",
                "0",
                "--api-key",
                self.key,
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=self._stderr or subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = ""
        self.workspace_id = ""
        for line in self.proc.stdout:
            if "http://" in line and not self.base_url:
                self.base_url = line[line.index("http://") :].split()[0].rstrip(".")
            if line.startswith("Workspace:"):
                self.workspace_id = line.split()[1].rstrip(".")
                break
        if not self.base_url:
            raise SystemExit("bench: the emulator did not start")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self._stderr is not None:
            self._stderr.close()


def make_engine(root: Path, base_url: str, key: str, folders: str, daemon: str = "") -> Any:
    from floradrop.config import load_config
    from floradrop.engine import Engine
    from floradrop.flora import FloraClient

    counts: Counter[str] = Counter()

    def on_request(info: Any) -> None:
        path = str(info.url) if hasattr(info, "url") else ""
        if "/technique-runs" in path:
            counts["list_runs"] += 1
        elif "/runs/" in path and info.method == "GET":
            counts["get_run"] += 1
        elif path.endswith("/runs") and info.method == "POST":
            counts["create_run"] += 1
        elif "/assets" in path:
            counts["assets"] += 1
        else:
            counts["other"] += 1

    config_path = root / "floradrop.toml"
    config_path.write_text(
        f"[daemon]\nstate_dir = {str(root / 'state')!r}\nlog_dir = {str(root / 'logs')!r}\n"
        # a benchmark is a big drop on purpose: no big-drop question
        "confirm_above_files = 1000000\nconfirm_above_usd = 1000000.0\n"
        f"{daemon}\n{folders}\n",
        encoding="utf-8",
    )
    client = FloraClient(key, base_url=base_url, on_request=on_request)
    engine = Engine(load_config(config_path), client=client)
    engine.connect()
    return engine, counts


def folder(root: Path, name: str, technique: str, extra: str = "") -> str:
    return f"[[folders]]\npath = {str(root / name)!r}\ntechnique = {technique!r}\n{extra}\n"


def quiet_logs() -> None:
    from floradrop import logs

    logs.quiet_logging("ERROR")


# -- cases --------------------------------------------------------------------------------------


def case_latency(root: Path, quick: bool) -> dict[str, Any]:
    """File closed -> run created at the emulator, default settings, in-process emulator."""
    from flora_emulator import Emulator
    from floradrop.jobs import JobState

    n = 10 if quick else 40
    results: dict[str, Any] = {}
    with Emulator(seed=1) as emu:
        folders = folder(root, "in", "cctv-cam") + folder(root, "prompts", "icon-pack")
        engine, _ = make_engine(root, emu.base_url, emu.api_key, folders)
        engine.start()
        try:
            modes = (
                "written in place",
                "moved in",
                "moved in, written earlier",
                "prompt .txt written in place",
            )
            for mode in modes:
                samples = []
                # A prompt proves nothing by its bytes: it waits settle_seconds after its close.
                count = max(5, n // 4) if mode.startswith("prompt") else n
                for i in range(count):
                    before = emu.stats.runs_created
                    name = f"{len(results)}-{i}.png"
                    data = png_bytes(i + 1000 * len(results))
                    if mode.startswith("prompt"):
                        with (root / "prompts" / f"{len(results)}-{i}.txt").open("w") as handle:
                            handle.write(f"a lighthouse number {i} in the fog")
                        closed = time.time()
                    elif mode == "written in place":
                        with (root / "in" / name).open("wb") as handle:
                            handle.write(data)
                        closed = time.time()
                    else:
                        staging = root / "staging" / name
                        staging.parent.mkdir(exist_ok=True)
                        staging.write_bytes(data)
                        if mode.endswith("earlier"):  # e.g. a photo dragged from Downloads
                            past = time.time() - 3600
                            os.utime(staging, (past, past))
                        os.replace(staging, root / "in" / name)
                        closed = time.time()
                    wait_for(lambda b=before: emu.stats.runs_created > b, 30, "a run")
                    created = max(r.created_at for r in emu.runs())
                    samples.append(created - closed)
                    wait_for(
                        lambda: not engine.journal.jobs([s for s in JobState if not s.terminal]),
                        30,
                        "the job to finish",
                    )
                samples.sort()
                results[mode] = {
                    "p50_ms": round(statistics.median(samples) * 1000, 1),
                    "p95_ms": round(samples[int(len(samples) * 0.95) - 1] * 1000, 1),
                    "n": count,
                }
        finally:
            engine.stop()
    return results


def case_throughput(root: Path, quick: bool) -> dict[str, Any]:
    """N small images dropped at once; end to end; emulator in its own process."""

    out: dict[str, Any] = {}
    variants = (
        # the defaults are slow by design with instant runs (8 runs in flight, a poll every
        # 3 s): 200 files are enough to measure their rate
        ("defaults (8 runs, 4 uploads)", "", 50 if quick else 200),
        (
            "max_concurrent_runs = 100, poll_interval_seconds = 2",
            "max_concurrent_runs = 100\npoll_interval_seconds = 2",
            200 if quick else 1000,
        ),
        (
            "max_concurrent_runs = 300, poll_interval_seconds = 2",
            "max_concurrent_runs = 300\npoll_interval_seconds = 2",
            200 if quick else 1000,
        ),
    )
    for index, (label, daemon, n) in enumerate(variants):
        case_root = root / f"variant{index}"
        (case_root / "in").mkdir(parents=True)
        emu = EmulatorProcess("--seed", "1")
        try:
            engine, counts = make_engine(
                case_root, emu.base_url, emu.key, folder(case_root, "in", "cctv-cam"), daemon
            )
            staging = case_root / "staging"
            staging.mkdir()
            for i in range(n):
                (staging / f"img{i:05d}.png").write_bytes(png_bytes(i))
            engine.start()
            cpu0, emu_cpu0, t0 = cpu_seconds(), emu.cpu_seconds(), time.monotonic()
            for path in staging.iterdir():
                os.replace(path, case_root / "in" / path.name)
            wait_for(lambda e=engine, n=n: state_count(e) >= n, 600, f"{n} done", every=0.1)
            elapsed, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
            emu_cpu = emu.cpu_seconds() - emu_cpu0
            engine.stop()
            out[label] = {
                "files": n,
                "seconds": round(elapsed, 2),
                "files_per_s": round(n / elapsed, 1),
                "cpu_ms_per_file": round(cpu / n * 1000, 2),
                "emulator_cpu_ms_per_file": round(emu_cpu / n * 1000, 2),
                "requests": dict(counts),
            }
        finally:
            emu.stop()
    return out


def case_idle(root: Path, quick: bool) -> dict[str, Any]:
    """CPU while watching 10 folders of 10,000 files (that are not jobs) for 60 s."""
    per_folder = 1000 if quick else 10_000
    seconds = 10 if quick else 60
    base = Path(tempfile.mkdtemp(prefix="fdbench-idle-", dir="/dev/shm"))  # fast to fill
    try:
        emu = EmulatorProcess()
        try:
            folders = ""
            for f in range(10):
                inbox = base / f"f{f}"
                inbox.mkdir()
                for i in range(per_folder):
                    (inbox / f"file{i:05d}.dat").write_bytes(b"x")
                folders += folder(base, f"f{f}", "cctv-cam", 'match = "*.png"')
            engine, _ = make_engine(base, emu.base_url, emu.key, folders)
            seen = [0]
            on_ready = engine._on_ready

            def counting(ready: Any) -> None:
                seen[0] += 1
                on_ready(ready)

            engine._on_ready = counting
            t_start = time.monotonic()
            engine.start()
            total = 10 * per_folder
            wait_for(lambda: seen[0] >= total, 300, "the startup scan", every=0.05)
            scan = time.monotonic() - t_start
            wait_for(engine.idle, 300, "admission of the scanned files", every=0.1)
            cpu0 = cpu_seconds()
            time.sleep(seconds)  # the measurement window itself
            cpu = cpu_seconds() - cpu0
            engine.stop()
        finally:
            emu.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {
        "folders": 10,
        "files_per_folder": per_folder,
        "startup_scan_and_settle_s": round(scan, 2),
        "window_s": seconds,
        "cpu_s": round(cpu, 3),
        "percent_of_one_core": round(cpu / seconds * 100, 3),
    }


def case_queue_rss(root: Path, quick: bool) -> dict[str, Any]:
    """Peak RSS with 10,000 jobs queued (paused, so they stay queued)."""

    n = 2000 if quick else 10_000
    base = Path(tempfile.mkdtemp(prefix="fdbench-rss-", dir="/dev/shm"))
    try:
        emu = EmulatorProcess()
        try:
            staging = base / "staging"
            staging.mkdir()
            (base / "in").mkdir()
            for i in range(n):
                (staging / f"img{i:05d}.png").write_bytes(i.to_bytes(4, "big") * 8)
            engine, _ = make_engine(base, emu.base_url, emu.key, folder(base, "in", "cctv-cam"))
            engine.pause()
            rss_start, _ = rss_mb()
            engine.start()
            for path in staging.iterdir():
                os.replace(path, base / "in" / path.name)
            wait_for(lambda: state_count(engine, "waiting") >= n, 600, "queued", every=0.1)
            snapshot_t0 = time.monotonic()
            engine.snapshot()
            snapshot_ms = (time.monotonic() - snapshot_t0) * 1000
            rss_now, peak = rss_mb()
            engine.stop()
        finally:
            emu.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return {
        "jobs_queued": n,
        "rss_before_mb": round(rss_start, 1),
        "rss_queued_mb": round(rss_now, 1),
        "peak_rss_mb": round(peak, 1),
        "status_snapshot_ms": round(snapshot_ms, 1),
    }


def case_big_file(root: Path, quick: bool) -> dict[str, Any]:
    """RSS growth while a 1 GB video is uploaded (signed upload) and its output downloaded."""
    from floradrop.jobs import JobState

    size = (128 if quick else 1024) * 1024 * 1024
    emu = EmulatorProcess()
    try:
        engine, counts = make_engine(
            root, emu.base_url, emu.key, folder(root, "in", "product-motion")
        )
        (root / "in").mkdir(exist_ok=True)
        staging = root / "big.mp4"
        with staging.open("wb") as handle:
            chunk = os.urandom(1024 * 1024)
            for _ in range(size // len(chunk)):
                handle.write(chunk)
        engine.start()
        wait_for(engine.idle, 30, "idle")
        reset_peak_rss()
        before, _ = rss_mb()
        t0 = time.monotonic()
        os.replace(staging, root / "in" / "big.mp4")
        wait_for(lambda: engine.journal.jobs([JobState.DONE]), 1800, "the big file")
        elapsed = time.monotonic() - t0
        _, peak = rss_mb()
        outputs = [p for p in (root / "in-outputs").iterdir() if p.suffix == ".mp4"]
        assert outputs and outputs[0].stat().st_size == size, "the output is complete"
        engine.stop()
    finally:
        emu.stop()
    return {
        "file_mb": size // (1024 * 1024),
        "seconds": round(elapsed, 1),
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_growth_mb": round(peak - before, 1),
        "requests": dict(counts),
    }


def case_polling(root: Path, quick: bool) -> dict[str, Any]:
    """Requests per run while polling: per-run GETs vs one run list per cycle."""
    from floradrop.pipeline import poll

    n = 20 if quick else 60
    out: dict[str, Any] = {}
    for label, threshold in (("per-run GET", 10**9), ("run list per cycle", poll.BATCH_THRESHOLD)):
        case_root = root / label.split()[0]
        (case_root / "in").mkdir(parents=True)
        poll.BATCH_THRESHOLD = threshold
        emu = EmulatorProcess("--run-seconds", "10")
        try:
            engine, counts = make_engine(
                case_root,
                emu.base_url,
                emu.key,
                folder(case_root, "in", "cctv-cam"),
                "max_concurrent_runs = 100\nmax_concurrent_uploads = 8\npoll_interval_seconds = 2",
            )
            engine.start()
            t0 = time.monotonic()
            for i in range(n):
                (case_root / "in" / f"img{i:03d}.png").write_bytes(png_bytes(i))
            wait_for(lambda e=engine: state_count(e) >= n, 300, "done", every=0.1)
            elapsed = time.monotonic() - t0
            engine.stop()
            poll_requests = counts["get_run"] + counts["list_runs"]
            out[label] = {
                "runs": n,
                "poll_requests": poll_requests,
                "poll_requests_per_run": round(poll_requests / n, 2),
                "seconds_to_all_done": round(elapsed, 1),
            }
        finally:
            emu.stop()
    return out


# -- side by side with the official SDK ---------------------------------------------------------


def sdk_dir() -> Path:
    """The SDK, installed with npm into a cache directory (never into the repository)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    target = cache / "floradrop-bench" / SDK_PACKAGE.replace("/", "+")
    if not (target / "node_modules" / "@flora-ai" / "flora" / "package.json").exists():
        target.mkdir(parents=True, exist_ok=True)
        (target / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(target), SDK_PACKAGE],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return target


class AccessLog:
    """The emulator's access log (one line per request), counted between two marks."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        return self.path.stat().st_size

    def count(self, start: int) -> Counter[str]:
        import re

        size = -1
        while size != self.mark():  # the emulator writes a line just after its answer
            size = self.mark()
            time.sleep(0.3)
        with self.path.open("rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        kinds: Counter[str] = Counter()
        # (lines printed by several threads at once may run together: match requests, not lines)
        for method, raw in re.findall(r"(GET|POST|PUT) (/\S*) (?:\d{3}|dropped)", text):
            path = re.sub(r"/(run|asset|ws|tech|prj)_[A-Za-z0-9]+", r"/{\1}", raw)
            if "/_media/" in path:
                path = "/_media/..."
            kinds[f"{method} {path.split('?')[0].replace('/api/v1', '')}"] += 1
        return kinds


def round_trips(base_url: str, key: str, image: Path) -> dict[str, float]:
    """Median time of one upload, one create and one download against this emulator."""
    from floradrop.flora import FloraClient
    from floradrop.flora.models import RunInput

    times: dict[str, list[float]] = {"upload": [], "create": [], "download": []}
    with FloraClient(key, base_url=base_url) as client:
        workspace = client.list_workspaces()[0].workspace_id
        for i in range(3):
            t0 = time.monotonic()
            asset = client.upload_file(image, workspace_id=workspace, idempotency_key=f"rt-a{i}")
            times["upload"].append(time.monotonic() - t0)
            t0 = time.monotonic()
            run = client.start_run(
                "cctv-cam",
                [RunInput("input_image", "imageUrl", asset.url or "")],
                idempotency_key=f"rt-r{i}-{time.time()}",
            )
            times["create"].append(time.monotonic() - t0)
            while not run.terminal:
                time.sleep(0.2)
                run = client.get_run(run.run_id, technique="cctv-cam")
            t0 = time.monotonic()
            client.download(run.outputs[0].url, image.with_suffix(f".rt{i}"))
            times["download"].append(time.monotonic() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def case_sdk(root: Path, quick: bool) -> dict[str, Any]:
    """The same images through ``floradrop run --once`` and an SDK script, interleaved.

    Both against one emulator per case, 8 runs and 8 uploads in flight, a 2 s poll; the SDK
    (SDK_PACKAGE) is installed with npm into ~/.cache/floradrop-bench. ``FLORADROP_BENCH_SRC=
    /path/to/other/src`` runs another floradrop tree (e.g. an older commit) for comparison;
    ``FLORADROP_BENCH_PAIRS=N``: N runs of each (default 3, 1 with --quick)."""
    import math

    sdk = sdk_dir()
    script = ROOT / "scripts" / "sdk_baseline.mjs"
    pairs = int(os.environ.get("FLORADROP_BENCH_PAIRS") or (1 if quick else 3))
    out: dict[str, Any] = {}
    cases = (
        ("120 images, runs that finish at once", 40 if quick else 120, 0.0, 0.0),
        ("64 images, 6 s runs, --latency-ms 120", 16 if quick else 64, 6.0, 120.0),
    )
    for label, n, run_seconds, latency in cases:
        case_root = root / f"case{len(out)}"
        case_root.mkdir()
        log_path = case_root / "emulator.log"
        emu = EmulatorProcess(
            "--seed",
            "1",
            "--run-seconds",
            f"{run_seconds:g}",
            "--latency-ms",
            f"{latency:g}",
            stderr=log_path,
        )
        access = AccessLog(log_path)
        try:
            sample = case_root / "sample.png"
            sample.write_bytes(png_bytes(10**6))
            rtt = round_trips(emu.base_url, emu.key, sample)
            bound = math.ceil(n / 8) * (run_seconds + sum(rtt.values()))
            env = dict(os.environ, FLORA_API_KEY=emu.key, FLORA_BASE_URL=emu.base_url)
            src = Path(os.environ.get("FLORADROP_BENCH_SRC") or ROOT / "src")
            env["PYTHONPATH"] = str(src)  # e.g. an older commit's src/, for "before" figures
            settings = (src / "floradrop" / "config" / "settings.py").read_text()
            # A batch run on purpose: the big-drop guard would wait for `floradrop approve`.
            guard = "confirm_above_files = 100000\nconfirm_above_usd = 100000\n"
            guard = guard if "confirm_above_files" in settings else ""
            times: dict[str, list[float]] = {"floradrop": [], "sdk": []}
            requests: dict[str, Counter[str]] = {}
            cpu: dict[str, list[float]] = {}  # CPU seconds per file, start-up included
            for trial in range(2 * pairs):
                # fd, sdk, sdk, fd, fd, sdk: neither always goes first
                tool = ("floradrop", "sdk")[(trial + trial // 2) % 2]
                trial_root = case_root / f"t{trial}-{tool}"
                inbox = trial_root / "in"
                inbox.mkdir(parents=True)
                past = time.time() - 60  # files already there, as for a batch run
                for i in range(n):
                    image = inbox / f"img{i:04d}.png"
                    image.write_bytes(png_bytes(trial * 10_000 + i))
                    os.utime(image, (past, past))
                mark = access.mark()
                if tool == "floradrop":
                    config = trial_root / "floradrop.toml"
                    config.write_text(
                        f"[daemon]\nstate_dir = {str(trial_root / 'state')!r}\n"
                        f"log_dir = {str(trial_root / 'logs')!r}\nmax_concurrent_runs = 8\n"
                        "max_concurrent_uploads = 8\npoll_interval_seconds = 2\n"
                        + guard
                        + folder(trial_root, "in", "cctv-cam"),
                        encoding="utf-8",
                    )
                    command = [
                        sys.executable, "-m", "floradrop", "run", "--once", "--headless",
                        "--config", str(config),
                    ]  # fmt: skip
                else:
                    command = [
                        "node", str(script), str(inbox), str(trial_root / "in-outputs"),
                        "--workspace", emu.workspace_id, "--technique", "cctv-cam",
                        "--runs", "8", "--uploads", "8", "--poll-ms", "2000",
                    ]  # fmt: skip
                t0, cpu0 = time.monotonic(), children_cpu_seconds()
                done = subprocess.run(
                    command,
                    env=dict(env, SDK_DIR=str(sdk)),
                    capture_output=True,
                    text=True,
                    check=False,
                )
                elapsed = time.monotonic() - t0
                cpu.setdefault(tool, []).append((children_cpu_seconds() - cpu0) / n)
                if done.returncode:
                    raise SystemExit(f"bench: {tool} failed:\n{done.stderr[-2000:]}")
                outputs = [p for p in (trial_root / "in-outputs").iterdir() if p.suffix == ".png"]
                if len(outputs) != n:
                    raise SystemExit(f"bench: {tool} wrote {len(outputs)} outputs, not {n}")
                times[tool].append(elapsed)
                requests.setdefault(tool, Counter()).update(access.count(mark))
            fd, sd = statistics.median(times["floradrop"]), statistics.median(times["sdk"])
            out[label] = {
                "files": n,
                "floradrop_src": os.environ.get("FLORADROP_BENCH_SRC") or "this tree",
                "floradrop_s": [round(t, 2) for t in times["floradrop"]],
                "sdk_s": [round(t, 2) for t in times["sdk"]],
                "ratio_of_medians": round(fd / sd, 3),
                "ratio_spread": [
                    round(min(times["floradrop"]) / max(times["sdk"]), 3),
                    round(max(times["floradrop"]) / min(times["sdk"]), 3),
                ],
                "cpu_ms_per_file": {
                    tool: round(statistics.median(v) * 1000, 1) for tool, v in cpu.items()
                },
                "round_trips_ms": {k: round(v * 1000, 1) for k, v in rtt.items()},
                "bound_s": round(bound, 2),
                "floradrop_over_bound": round(fd / bound, 3),
                "requests_per_file": {
                    tool: {k: round(v / (n * pairs), 2) for k, v in sorted(c.items())}
                    for tool, c in requests.items()
                },
            }
        finally:
            emu.stop()
    return out


# -- driver -------------------------------------------------------------------------------------


# -- the dashboard ------------------------------------------------------------------------------


def fill_journal(path: Path, jobs: int, folders: list[Path]) -> None:
    """``jobs`` finished jobs over the last 90 days, written straight into a new journal."""
    import sqlite3

    from floradrop.journal import Journal

    Journal(path).close()  # the schema, at the current version
    now = time.time()
    states = ["done"] * 8 + ["failed", "duplicate"]
    techniques = ["cctv-cam", "palette-pull", "color-transfer"]
    rows = []
    for i in range(jobs):
        created = now - 90 * 86400 * (1 - i / jobs)
        state = states[i % len(states)]
        folder_path = str(folders[i % len(folders)])
        out = f"{folder_path}-outputs/photo-{i:06d}.cctv-cam.png"
        rows.append(
            (
                f"key{i}",
                folder_path,
                f"photo-{i:06d}.png",
                f"{folder_path}-done/photo-{i:06d}.png",
                1000,
                1,
                f"hash{i}",
                0,
                techniques[i % 3],
                0.05,
                state,
                0.05 if state == "done" else None,
                json.dumps([{"status": "written", "path": out}]) if state == "done" else "[]",
                f"run_{i:08d}",
                created,
                created + 5,
                created + 5,
                time.strftime("%Y-%m-%d", time.localtime(created + 5)),
            )
        )
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO jobs (job_key, folder, rel_path, source_path, size, mtime_ns, "
            "content_hash, rule_index, technique, run_cost, state, cost, outputs, run_id, "
            "created_at, updated_at, finished_at, day) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def timed_get(port: int, path: str, headers: dict[str, str], repeats: int) -> dict[str, float]:
    import http.client

    times = []
    for _ in range(repeats):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        conn.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **headers})
        response = conn.getresponse()
        body = response.read()
        times.append((time.perf_counter() - started) * 1000)
        conn.close()
        assert response.status == 200, body[:200]
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
        "max_ms": round(times[-1], 1),
    }


def case_history(root: Path, quick: bool) -> dict[str, Any]:
    """The dashboard's first history page (and its searches) over a journal of 100,000 jobs."""
    import sqlite3

    from floradrop.config import parse_config
    from floradrop.journal import Journal
    from floradrop.snapshot import build_snapshot
    from floradrop.ui import Dashboard, access
    from floradrop.ui.api import Context

    jobs = 20_000 if quick else 100_000
    folders = [root / f"folder{f}" for f in range(5)]
    state = root / "state"
    state.mkdir()
    started = time.monotonic()
    fill_journal(state / "journal.sqlite3", jobs, folders)
    filled = time.monotonic() - started
    config = parse_config(
        {
            "daemon": {"state_dir": str(state), "daily_budget_usd": 20},
            "folders": [{"path": str(f), "technique": "cctv-cam"} for f in folders],
        }
    )
    urls = {
        "first_page": "/api/history?page=1&facets=1",  # what the History tab asks first
        "search_name": "/api/history?page=1&q=photo-0421",
        "filter_folder_state": f"/api/history?page=1&folder={folders[2]}&state=failed",
        "filter_date": "/api/history?page=1&since=2000-01-01&until=2100-01-01",
        "page_100": "/api/history?page=100",
        "now": "/api/now",
        "spend_month_by_technique": "/api/spend?period=month&group=technique",
    }
    repeats = 10 if quick else 30
    result: dict[str, Any] = {"jobs": jobs, "fill_s": round(filled, 1)}
    for indexed in (True, False):
        journal = Journal(state / "journal.sqlite3")
        if not indexed:  # the same journal without the schema-2 indexes, for comparison
            with sqlite3.connect(state / "journal.sqlite3") as db:
                for name in (
                    "folder",
                    "folder_state",
                    "folder_finished",
                    "technique",
                    "created",
                    "finished",
                    "spend",
                ):
                    db.execute(f"DROP INDEX IF EXISTS jobs_{name}")
            journal.close()
            journal = _open_unmigrated(state / "journal.sqlite3")
        context = Context(
            config=lambda: config,
            journal=journal,
            snapshot=lambda j=journal: build_snapshot(config, j, daemon_running=True),
            control=lambda request: {"ok": True},
            thumbs_dir=state / "thumbs",
        )
        dashboard = Dashboard(state, 0, context)
        assert dashboard.start() is not None
        token = {access.TOKEN_HEADER: dashboard.secret}
        label = "with_indexes" if indexed else "without_indexes"
        result[label] = {
            name: timed_get(dashboard.port, url, token, repeats) for name, url in urls.items()
        }
        dashboard.stop()
        journal.close()
    return result


def _open_unmigrated(path: Path) -> Any:
    """A Journal on ``path`` that skips the schema-2 migration (the indexes stay dropped)."""
    from floradrop import journal as journal_module

    saved = journal_module.Journal._migrate
    journal_module.Journal._migrate = lambda self: None  # type: ignore[method-assign]
    try:
        return journal_module.Journal(path)
    finally:
        journal_module.Journal._migrate = saved  # type: ignore[method-assign]


def thread_cpu_seconds(native_id: int) -> float:
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def case_ui_idle(root: Path, quick: bool) -> dict[str, Any]:
    """The daemon's idle CPU with the dashboard off, then on with no browser open."""
    from floradrop.ui.daemon import start_dashboard

    seconds = 10 if quick else 60
    emu = EmulatorProcess()
    try:
        folders = "".join(folder(root, f"f{f}", "cctv-cam") for f in range(3))
        for f in range(3):
            (root / f"f{f}").mkdir()
        engine, _ = make_engine(root, emu.base_url, emu.key, folders)
        engine.start()
        wait_for(engine.idle, 60, "the engine to be idle", every=0.1)
        cpu0 = cpu_seconds()
        time.sleep(seconds)
        off = cpu_seconds() - cpu0
        dashboard = start_dashboard(engine.config, engine, lambda request: {"ok": True})
        assert dashboard is not None
        server_thread = next(t for t in threading.enumerate() if t.name == "floradrop-dashboard")
        assert server_thread.native_id is not None
        thread0 = thread_cpu_seconds(server_thread.native_id)
        cpu0 = cpu_seconds()
        time.sleep(seconds)
        on = cpu_seconds() - cpu0
        thread = thread_cpu_seconds(server_thread.native_id) - thread0
        dashboard.stop()
        engine.stop()
    finally:
        emu.stop()
    return {
        "window_s": seconds,
        "cpu_s_dashboard_off": round(off, 3),
        "cpu_s_dashboard_on": round(on, 3),
        "percent_of_one_core_off": round(off / seconds * 100, 3),
        "percent_of_one_core_on": round(on / seconds * 100, 3),
        "dashboard_thread_cpu_s": round(thread, 3),
    }


def run_case(name: str, quick: bool) -> dict[str, Any]:
    quiet_logs()
    with tempfile.TemporaryDirectory(prefix=f"floradrop-bench-{name}-") as tmp:
        result = globals()[f"case_{name}"](Path(tmp), quick)
    assert isinstance(result, dict)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "cases", nargs="*", choices=[*CASES, []], help="cases to run (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="smaller numbers")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_case(args.child, args.quick)))
        return 0
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        sys.path.insert(0, str(ROOT / "scripts"))
        from _venv import ensure_venv

        python = ensure_venv(extras=["dev"])
    results: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "command": "python3 scripts/bench.py" + (" --quick" if args.quick else ""),
    }
    for name in args.cases or CASES:
        print(f"== {name} ...", flush=True)
        started = time.monotonic()
        done = subprocess.run(
            [str(python), __file__, "--child", name, *(["--quick"] if args.quick else [])],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            print(done.stderr[-3000:], file=sys.stderr)
            results[name] = {"error": done.stderr.strip().splitlines()[-1:]}
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            json.dumps(results[name], indent=2), f"({time.monotonic() - started:.0f} s)", flush=True
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
