"""A short soak (scripts/soak.py at CI scale): no leak of threads, descriptors or memory, and
no missed file, under a trickle of drops and a full cycle of API faults.

RELIABILITY.md has the figures of the 30-minute run (``scripts/soak.py --minutes 30``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RSS_MARGIN_KB = 16 * 1024  # first-time allocations settle in the first minutes (see RELIABILITY.md)
FILE_MARGIN = 8  # inputs being uploaded and outputs being written, at most a few per worker


@pytest.mark.slow
def test_a_short_soak_stays_flat_and_misses_nothing(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    command = [
        sys.executable,
        str(ROOT / "scripts" / "soak.py"),
        "--minutes",
        "0.9",
        "--fault-scale",
        "0.12",  # every fault once: 5xx, 429, lost responses, resets, an outage
        "--interval",
        "0.4",
        "--big-every",
        "25",
        "--sample-seconds",
        "2",
        "--json",
        str(out),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=400, check=False)
    assert out.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())

    # Exactly once, nothing missed (the daemon's periodic rescan is off: events only).
    files = result["files"]
    assert files > 100
    assert result["never_admitted"] == []
    assert result["runs_created"] == files
    assert result["journal"] == {"done": files}
    assert result["outputs_match"] and result["filed_originals"] == files
    assert result["leftovers"] == []
    assert result["integrity_check"] == "ok"
    assert result["exit_code"] == 0
    faults = result["faults_injected"]
    assert {"error", "rate_limit", "lose_response", "reset"} <= faults.keys()
    assert {p["fault"] for p in result["fault_phases"]} == {
        "5xx burst",
        "429 with Retry-After",
        "lost responses",
        "connection resets",
        "outage",
    }

    # Flat: threads exactly, descriptors within keep-alive churn, memory within a margin.
    threads, fds, rss = result["threads"], result["fds"], result["rss_kb"]
    assert threads["idle_end"] == threads["idle_start"], threads
    assert threads["max"] <= threads["idle_start"], threads
    # Descriptors of files (journal, logs, inotify, inputs and outputs in flight) come back to
    # exactly where they were. Sockets are keep-alive connections to the API and the media host:
    # how many stay pooled depends on how many workers last ran at once (more after an outage's
    # backlog than after the warm-up), never on how many files went through, so they are bounded
    # by the threads that can hold one, not by the idle baseline.
    sockets = result["sockets"]
    files_start = fds["idle_start"] - sockets["idle_start"]
    files_end = fds["idle_end"] - sockets["idle_end"]
    assert files_end <= files_start, (fds, sockets)
    assert fds["max"] <= fds["idle_start"] + FILE_MARGIN + threads["max"], (fds, sockets)
    assert sockets["idle_end"] <= threads["idle_start"], (sockets, threads)
    assert sockets["max"] <= threads["max"], (sockets, threads)
    assert rss["idle_end"] <= rss["idle_start"] + RSS_MARGIN_KB, rss
    assert proc.returncode == 0, proc.stdout[-3000:]
