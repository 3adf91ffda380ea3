"""A real daemon for tests: the emulator over loopback, a real observer, a real journal."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flora_emulator import Emulator
from floradrop.config import Config, load_config
from floradrop.engine import Engine
from floradrop.flora import FloraClient
from floradrop.jobs import JobState
from floradrop.journal import Job


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


GUARD_OFF = "confirm_above_files = 1000000\nconfirm_above_usd = 1000000.0\n"


def write_config(root: Path, folders: str, daemon: str = "") -> Path:
    text = (
        "[daemon]\n"
        f"state_dir = {str(root / 'state')!r}\n"
        f"log_dir = {str(root / 'logs')!r}\n"
        "settle_seconds = 0.2\n"
        "poll_interval_seconds = 2\n"
        # Most tests drop more than 20 files at once: the big-drop guard is off here (it has
        # tests of its own in tests/reliability/test_money_*.py).
        + ("" if "confirm_above" in daemon else GUARD_OFF)
        + f"{daemon}\n"
        f"{folders}\n"
    )
    path = root / "floradrop.toml"
    path.write_text(text, encoding="utf-8")
    return path


def folder_toml(root: Path, name: str, technique: str, extra: str = "") -> str:
    return f"[[folders]]\npath = {str(root / name)!r}\ntechnique = {technique!r}\n{extra}\n"


def drop(inbox: Path, name: str, data: bytes | str) -> Path:
    """Drop a file as a person would: written elsewhere, then moved in."""
    staging = inbox.parent / ".staging"
    staging.mkdir(exist_ok=True)
    temp = staging / name
    if isinstance(data, str):
        temp.write_text(data, encoding="utf-8")
    else:
        temp.write_bytes(data)
    target = inbox / name
    os.replace(temp, target)
    return target


def png_bytes(seed: int = 0, size: tuple[int, int] = (64, 48)) -> bytes:
    import io

    from PIL import Image

    image = Image.new("RGB", size, ((seed * 50) % 256, (seed * 90) % 256, (seed * 30) % 256))
    for x in range(0, size[0], 4):
        image.putpixel((x, (x + seed) % size[1]), (255, 255, 255))
    image.putpixel((1, 0), (seed & 255, (seed >> 8) & 255, (seed >> 16) & 255))  # unique bytes
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class Daemon:
    def __init__(self, config: Config, emulator: Emulator) -> None:
        self.config = config
        self.emulator = emulator
        self.client = FloraClient(emulator.api_key, base_url=emulator.base_url)
        self.engine = Engine(
            config,
            client=self.client,
            # what `run` does: re-read the (possibly replaced) key when probing after a 401
            client_factory=lambda: FloraClient(emulator.api_key, base_url=emulator.base_url),
        )

    def start(self) -> Daemon:
        self.engine.connect()
        self.engine.start()
        return self

    def stop(self) -> None:
        self.engine.stop()  # also fine when start() failed half-way
        self.engine.client.close()  # after a 401 the engine may have made a new client
        self.client.close()
        self.engine.journal.close()

    def jobs(self, *states: JobState) -> list[Job]:
        return self.engine.journal.jobs(states or None)

    def wait_state(self, count: int, *states: JobState, timeout: float = 30.0) -> list[Job]:
        return wait_for(
            lambda: (jobs := self.jobs(*states)) and len(jobs) >= count and jobs,
            timeout,
            f"{count} job(s) in {[s.value for s in states]} (now: "
            f"{[(j.name, j.state.value) for j in self.jobs()]})",
        )


@contextmanager
def running(config_path: Path, emulator: Emulator) -> Iterator[Daemon]:
    daemon = Daemon(load_config(config_path), emulator)
    try:
        yield daemon.start()
    finally:
        daemon.stop()
