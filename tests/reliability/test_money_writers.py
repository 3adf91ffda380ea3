"""One paid run per drop, whatever the writer does: a real daemon, the emulator, real writers.

Each writer pattern from issue 9 runs at once against a real ``floradrop run`` process with the
default ``settle_seconds`` (1.0): bursts of open-append-close, truncate-and-rewrite, a slow copy,
several processes writing in turn, gaps longer than settle_seconds, temp-name-then-rename. The
emulator counts the runs it created and keeps the bytes that reached it: exactly one run per
drop, on the final bytes, no failed run, no extra output. (The sleeps are the writers' own
pacing, part of the pattern under test; the test itself waits on conditions.)
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from flora_emulator import Emulator
from tests.engine.harness import png_bytes, wait_for

from .daemonproc import DaemonProcess, write_key

pytestmark = pytest.mark.slow


def jpeg_bytes(seed: int, size: tuple[int, int] = (320, 240)) -> bytes:
    image = Image.new("RGB", size, ((seed * 70) % 256, 90, (seed * 20) % 256))
    for x in range(0, size[0], 8):
        image.putpixel((x, (x * seed) % size[1]), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def chunks(data: bytes, n: int) -> list[bytes]:
    step = len(data) // n + 1
    return [data[i : i + step] for i in range(0, len(data), step)]


# -- the writers --------------------------------------------------------------------------------


def bursts(path: Path, parts: list[bytes], gaps: list[float]) -> None:
    """open-append-close, again and again (a logger, a script, a slow editor)."""
    for part, gap in zip(parts, gaps, strict=True):
        with path.open("ab") as handle:
            handle.write(part)
        time.sleep(gap)


def truncate_and_rewrite(path: Path, data: bytes) -> None:
    """An editor saving twice in place: first save interrupted, then the whole file."""
    with path.open("wb") as handle:
        handle.write(data[: len(data) // 3])
    time.sleep(0.7)
    with path.open("wb") as handle:  # truncates
        for part in chunks(data, 4):
            handle.write(part)
            handle.flush()
            time.sleep(0.15)


def slow_copy(path: Path, data: bytes) -> None:
    """One open, many small writes with stalls (a network copy), one close."""
    with path.open("wb") as handle:
        for n, part in enumerate(chunks(data, 12)):
            handle.write(part)
            handle.flush()
            time.sleep(0.05 + 0.1 * (n % 4))


def writers_in_turn(path: Path, parts: list[bytes]) -> None:
    """Several processes append in turn, each opening and closing the file."""
    for n, part in enumerate(parts):
        code = "import sys; open(sys.argv[1], 'ab').write(bytes.fromhex(sys.argv[2]))"
        subprocess.run([sys.executable, "-c", code, str(path), part.hex()], check=True)
        time.sleep(0.3 + 0.2 * n)


def temp_then_rename(path: Path, data: bytes) -> None:
    temp = path.with_name(path.name + ".part")
    temp.write_bytes(data)
    os.replace(temp, path)


@pytest.fixture
def started() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


def daemon(tmp_path: Path, emu: Emulator, started: list[DaemonProcess]) -> DaemonProcess:
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    for name in ("icons", "cam"):
        (tmp_path / name).mkdir()
    config = tmp_path / "floradrop.toml"
    config.write_text(
        "[daemon]\n"
        f"state_dir = {str(tmp_path / 'state')!r}\n"
        f"log_dir = {str(tmp_path / 'logs')!r}\n"
        "settle_seconds = 1.0\n"  # the default: gaps up to this long are one write
        "poll_interval_seconds = 2\n\n"
        f"[flora]\napi_key_file = {str(key)!r}\n\n"
        f"[[folders]]\npath = {str(tmp_path / 'icons')!r}\ntechnique = 'icon-pack'\n\n"
        f"[[folders]]\npath = {str(tmp_path / 'cam')!r}\ntechnique = 'cctv-cam'\n",
        encoding="utf-8",
    )
    d = DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.out")
    started.append(d.start())
    return d


def media_bytes(emu: Emulator, url: str) -> bytes:
    _, _, owner, name = urlsplit(url).path.split("/")
    return (emu.media_dir / owner / unquote(name)).read_bytes()


def test_every_writer_pattern_at_once_makes_one_run_each_on_the_final_bytes(
    tmp_path: Path, started: list[DaemonProcess]
) -> None:
    prompt_words = [b"a", b" red", b" fox", b" on", b" a", b" green", b" hill", b" at", b" dawn"]
    expected_text = {
        "slow prompt.txt": b"".join(prompt_words).decode(),
        "two writers.txt": "a lighthouse in the fog, drawn with ink",
        "renamed prompt.txt": "a whole prompt, published by a rename",
    }
    jpeg_slow = jpeg_bytes(3)
    expected_media = {
        "bursts.jpg": jpeg_bytes(1),
        "long gaps.jpg": jpeg_slow,
        "saved twice.png": png_bytes(11, (160, 120)),
        "network copy.png": png_bytes(12, (200, 150)),
        "renamed.png": png_bytes(13),
    }
    with Emulator(seed=21, run_seconds=0.2) as emu:
        d = daemon(tmp_path, emu, started)
        icons, cam = tmp_path / "icons", tmp_path / "cam"
        jobs: list[Callable[[], None]] = [
            # a prompt in 9 bursts, 0.5 s apart (the "slow prompt")
            lambda: bursts(icons / "slow prompt.txt", prompt_words, [0.5] * 9),
            lambda: writers_in_turn(
                icons / "two writers.txt",
                [b"a lighthouse in the fog, ", b"drawn with ink"],
            ),
            lambda: temp_then_rename(
                icons / "renamed prompt.txt", expected_text["renamed prompt.txt"].encode()
            ),
            # a JPEG in bursts, gaps around settle_seconds
            lambda: bursts(
                cam / "bursts.jpg",
                chunks(expected_media["bursts.jpg"], 6),
                [0.3, 0.9, 0.2, 1.1, 0.4, 0.0],
            ),
            # gaps well past settle_seconds: only the JPEG end marker tells
            lambda: bursts(cam / "long gaps.jpg", chunks(jpeg_slow, 3), [2.5, 2.5, 0.0]),
            lambda: truncate_and_rewrite(
                cam / "saved twice.png", expected_media["saved twice.png"]
            ),
            lambda: slow_copy(cam / "network copy.png", expected_media["network copy.png"]),
            lambda: temp_then_rename(cam / "renamed.png", expected_media["renamed.png"]),
        ]
        threads = [threading.Thread(target=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        drops = len(expected_text) + len(expected_media)
        wait_for(
            lambda: d.states().get("done") == drops,
            120,
            f"every drop done ({d.states()}): {d.tail()}",
        )
        # settle: nothing more arrives later (a late extra run would show here)
        wait_for(lambda: d.status()["queued"] == 0 and d.status()["running"] == 0, 30, "idle")
        runs = emu.runs()
        assert d.states() == {"done": drops}, d.states()
        assert len(runs) == drops, [(r.technique, r.inputs) for r in runs]
        assert emu.stats.runs_created == drops

        texts = sorted(r.inputs["prompt"] for r in runs if r.technique == "icon-pack")
        assert texts == sorted(expected_text.values())
        reached = sorted(
            media_bytes(emu, r.inputs["input_image"]) for r in runs if r.technique == "cctv-cam"
        )
        assert reached == sorted(expected_media.values())

        outputs = sorted(p.name for p in (tmp_path / "icons-outputs").iterdir())
        assert len([n for n in outputs if not n.endswith(".json")]) == 4 * len(expected_text)
        assert not [n for n in outputs if " (" in n], outputs
        # Each run's cost is in one provenance sidecar, not repeated on its 4 outputs.
        sidecars = [json.loads(p.read_text()) for p in (tmp_path / "icons-outputs").glob("*.json")]
        assert sum(doc.get("cost_usd") or 0 for doc in sidecars) == pytest.approx(
            0.12 * len(expected_text)
        )
        assert sum("cost_usd_in" in doc for doc in sidecars) == 3 * len(expected_text)
        assert len(list((tmp_path / "cam-outputs").glob("*.png"))) == len(expected_media)
        assert not list((tmp_path / "cam-failed").iterdir())
        assert d.stop() == 0, d.tail()
