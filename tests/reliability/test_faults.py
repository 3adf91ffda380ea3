"""Faults from the API and the network: a whole batch through the real engine, every fault on.

The emulator answers some API requests with 500, some with 429 and ``retry-after``, drops some
connections before handling them, handles some and then drops the answer (a run created whose
answer never arrives), paces the signed-upload target, and hands out upload reservations some
of which expire before the bytes arrive. Halfway through, a 429 storm (every API request
refused) checks that the daemon's request rate backs off. In the end every file has its
output, the emulator created exactly one run per file, and the journal has nothing left over.

    FLORADROP_FAULT_FILES=500 .venv/bin/pytest tests/reliability/test_faults.py -m slow -s

``FLORADROP_FAULT_FILES`` (default 120, the CI size), ``FLORADROP_FAULT_SEED`` (default 6) and
``FLORADROP_FAULT_REPORT`` (a JSON file to write the figures to) change the run.
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from flora_emulator import Emulator
from floradrop.flora.throttle import THROTTLED_CONCURRENCY
from floradrop.flora.uploads import DIRECT_LIMIT
from floradrop.jobs import JobState
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config

FILES = int(os.environ.get("FLORADROP_FAULT_FILES", "120"))
SEED = int(os.environ.get("FLORADROP_FAULT_SEED", "6"))
REPORT = os.environ.get("FLORADROP_FAULT_REPORT")  # at import: tests clear FLORADROP_*
BIG_EVERY = 20  # every 20th file is over 4 MiB: the signed upload path
STORM_SECONDS = 6.0
STORM_RETRY_AFTER = 1.0


def noise_png(seed: int) -> bytes:
    """A PNG over the direct-upload limit (random pixels do not compress), unique per seed."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (1250, 1200), rng.randbytes(1250 * 1200 * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    assert buffer.tell() > DIRECT_LIMIT
    return buffer.getvalue()


class Lifetimes:
    """``Emulator.reservation_seconds`` per reservation (the emulator reads it with ``float()``),
    in turn: born expired (the client sees it and asks for a fresh one), a few milliseconds
    (expired by the time the bytes arrive, or just not), a minute, a minute."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.drawn: Counter[str] = Counter()

    def __float__(self) -> float:
        with self.lock:
            turn = sum(self.drawn.values()) % 4
            kind = ("born expired", "milliseconds", "a minute", "a minute")[turn]
            self.drawn[kind] += 1
            if kind == "born expired":
                return 0.0
            return self.rng.uniform(0.001, 0.05) if kind == "milliseconds" else 60.0


class Traffic:
    """When each API request reached the emulator (from its access log)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.api: list[float] = []
        self.storage_refusals = 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        _method, path, outcome = line.split(" ")[:3]
        with self.lock:
            if path.startswith("/api/"):
                self.api.append(now)
            elif path.startswith("/_storage/") and outcome == "403":
                self.storage_refusals += 1

    def rate(self, start: float, end: float) -> float:
        with self.lock:
            return sum(1 for t in self.api if start <= t < end) / (end - start)


def name_of(url: str) -> str:
    """The file name in an emulator asset URL (``/_media/{asset_id}/{name}``)."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[1])


@pytest.mark.slow
@pytest.mark.timeout(300 + 3 * FILES)
def test_every_fault_at_once_every_file_done_exactly_once(tmp_path: Path) -> None:
    lifetimes = Lifetimes(SEED)
    traffic = Traffic()
    emu = Emulator(
        seed=SEED,
        run_seconds=0.3,
        error_rate=0.05,
        rate_limit_rate=0.03,
        retry_after_seconds=0.5,
        reset_rate=0.03,
        lose_response_rate=0.03,
        upload_slow_ms=15,
        access_log=traffic,
    )
    emu.reservation_seconds = lifetimes  # type: ignore[assignment]
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam"),
        daemon="max_concurrent_runs = 64\nmax_concurrent_uploads = 6",
    )
    names = [f"photo {n:04d}.png" for n in range(FILES)]
    inbox = tmp_path / "in"
    inbox.mkdir()
    figures: dict[str, object] = {"files": FILES, "seed": SEED}
    began = time.monotonic()
    with emu, running(config, emu) as daemon:

        def dropper() -> None:
            for n, name in enumerate(names):
                drop(inbox, name, noise_png(n) if n % BIG_EVERY == 7 else png_bytes(5000 + n))

        thread = threading.Thread(target=dropper, name="test-dropper")
        thread.start()
        try:
            # The 429 storm, once a third of the files are done: the request rate before it
            # (with the other faults on) against the rate while every request is refused.
            wait_for(
                lambda: len(daemon.jobs(JobState.DONE)) >= FILES // 3,
                timeout=30 + FILES,
                what=f"a third of {FILES} files done",
            )
        finally:
            thread.join()
        window = 4.0
        normal_from = time.monotonic()
        wait_for(lambda: time.monotonic() >= normal_from + window, window + 1, "the window")
        storm_from = time.monotonic()
        emu.retry_after_seconds = STORM_RETRY_AFTER
        emu.rate_limit_rate = 1.0
        wait_for(lambda: time.monotonic() >= storm_from + STORM_SECONDS, STORM_SECONDS + 1)
        storm_to = time.monotonic()
        emu.rate_limit_rate = 0.03
        emu.retry_after_seconds = 0.5
        # Skip the storm's first second: requests already under way when it began.
        normal = traffic.rate(normal_from, storm_from)
        storm = traffic.rate(storm_from + 1.0, storm_to)
        daemon.wait_state(FILES, JobState.DONE, timeout=60 + 2 * FILES)
        figures["seconds"] = round(time.monotonic() - began, 1)
        states = Counter(j.state.value for j in daemon.jobs())
        jobs = daemon.jobs()

    figures |= {
        "normal_requests_per_s": round(normal, 1),
        "storm_requests_per_s": round(storm, 1),
        "faults": dict(emu.stats.faults),
        "reservations": dict(lifetimes.drawn),
        "storage_refusals": traffic.storage_refusals,
        "reservation_renewals": emu.stats.requests[("POST", "/assets/{assetId}/retry")],
        "signed_uploads": emu.stats.uploads_received,
        "idempotency_duplicates": emu.stats.idempotency_duplicates,
        "api_requests": len(traffic.api),
        "runs_created": emu.stats.runs_created,
    }
    print("\nfault injection:", json.dumps(figures))
    if REPORT:
        Path(REPORT).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")

    # Nothing stuck: every job done, none failed, retried for ever, or waiting.
    assert states == {"done": FILES}
    # Every file has its output and sidecar, and the original is filed away.
    outputs = tmp_path / "in-outputs"
    expected = {n.replace(".png", ".cctv-cam.png") for n in names}
    assert {p.name for p in outputs.iterdir() if p.suffix == ".png"} == expected
    assert {p.name for p in outputs.iterdir() if p.suffix == ".json"} == {
        f"{n}.json" for n in expected
    }
    assert not [p for p in outputs.iterdir() if p.name.startswith(".")], "no temp files left"
    assert sorted(p.name for p in (tmp_path / "in-done").iterdir()) == names
    assert not list(inbox.iterdir())
    # Exactly one run per file at the emulator, and no two runs for the same file.
    assert emu.stats.runs_by_technique == {"cctv-cam": FILES}
    runs = emu.runs()
    by_file = Counter(name_of(r.inputs["input_image"]) for r in runs)
    assert by_file == Counter(names), [n for n, c in by_file.items() if c > 1]
    assert {j.run_id for j in jobs} == {r.run_id for r in runs}
    # Every fault kind happened (else this test proves less than it says).
    faults = emu.stats.faults
    for kind in ("error", "rate_limit", "reset", "lose_response"):
        assert faults[kind] > 0, f"no {kind} fault was injected: {faults}"
    assert emu.stats.uploads_received >= FILES // BIG_EVERY
    assert lifetimes.drawn["born expired"] and lifetimes.drawn["milliseconds"]
    assert figures["reservation_renewals"], "no expired reservation was renewed"
    assert emu.stats.requests_with_auth_to_storage == 0
    assert emu.stats.requests_with_auth_to_media == 0
    assert emu.stats.internal_errors == 0
    # The request rate backs off under 429: all workers share the server's retry-after and
    # at most THROTTLED_CONCURRENCY requests go out per retry-after (plus a little slack).
    assert storm <= 1.5 * THROTTLED_CONCURRENCY / STORM_RETRY_AFTER, figures
    assert storm < normal / 2, figures
