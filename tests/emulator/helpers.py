"""Helpers for the emulator's tests: an authenticated client, images, uploads, waiting."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

from flora_emulator import Emulator

TIMEOUT = 20.0


class FakeClock:
    """A clock the test moves by hand (``emulator_factory(clock=clock)``)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def api_client(emulator: Emulator, **kwargs: Any) -> httpx.Client:
    headers = {"Authorization": f"Bearer {emulator.api_key}"}
    return httpx.Client(base_url=emulator.base_url, headers=headers, timeout=TIMEOUT, **kwargs)


def png(size: tuple[int, int] = (96, 64), colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def scene(size: tuple[int, int] = (320, 240)) -> bytes:
    """A small photo-like JPEG: sky, sun, grass."""
    from PIL import ImageDraw

    img = Image.new("RGB", size, (90, 140, 200))
    draw = ImageDraw.Draw(img)
    w, h = size
    draw.ellipse((w // 3, h // 4, 2 * w // 3, 3 * h // 4), fill=(240, 200, 40))
    draw.rectangle((0, 4 * h // 5, w, h), fill=(40, 120, 50))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def upload(
    api: httpx.Client, emulator: Emulator, data: bytes, name: str = "photo.png", **fields: str
) -> dict[str, Any]:
    """A direct multipart upload; returns the created asset."""
    form = {"workspace_id": emulator.workspace_id, **fields}
    response = api.post("/assets", data=form, files={"file": (name, data)})
    assert response.status_code == 201, response.text
    return dict(response.json())


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        pause.wait(0.01)


def run_until_done(api: httpx.Client, run_id: str, route: str | None = None) -> dict[str, Any]:
    """Poll a run until it is completed or failed; returns its last view."""
    path = route or f"/runs/{run_id}"

    def done() -> dict[str, Any] | None:
        view = api.get(path).json()
        return view if view["status"] in ("completed", "failed") else None

    return dict(wait_for(done, what=f"run {run_id}"))


def start(
    api: httpx.Client, slug: str, inputs: list[dict[str, str]], **body: Any
) -> httpx.Response:
    return api.post(f"/techniques/{slug}/runs", json={"inputs": inputs, "mode": "async", **body})


def image_input(url: str, input_id: str = "input_image") -> dict[str, str]:
    return {"id": input_id, "type": "imageUrl", "value": url}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


def fields_of(response: httpx.Response) -> dict[str, str]:
    return {f["field"]: f["message"] for f in error_of(response).get("fields", [])}
