"""A scripted FLORA for client unit tests: httpx.MockTransport with per-route answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from loguru import logger

from flora_emulator import Emulator
from floradrop.flora import FloraClient

BASE = "https://api.flora.test/api/v1"
KEY = "sk_live_unitTESTkey0123456789"

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def error(
    status: int,
    code: str | None,
    message: str = "Something went wrong.",
    *,
    fields: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return httpx.Response(status, json={"error": body}, headers=headers)


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@dataclass
class Seen:
    """One request as the fake server received it (body fully read)."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    body: bytes

    @property
    def path(self) -> str:
        return self.url.path

    def json(self) -> Any:
        import json

        return json.loads(self.body)


@dataclass
class FakeFlora:
    """Answers per (method, URL without query); a route's answers are used in order and the
    last one repeats. Unknown routes answer 404 so a wrong URL fails loudly."""

    routes: dict[tuple[str, str], list[Answer]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def on(self, method: str, path_or_url: str, *answers: Answer) -> None:
        url = path_or_url if "://" in path_or_url else BASE + path_or_url
        self.routes[(method, url)] = list(answers)

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.seen.append(Seen(request.method, request.url, request.headers, body))
        key = (request.method, str(request.url.copy_with(query=None)))
        answers = self.routes.get(key)
        if not answers:
            return error(404, "not_found", f"no route {key}")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def requests_to(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method and s.path.endswith(path)]


@pytest.fixture
def fake() -> FakeFlora:
    return FakeFlora()


@dataclass
class Sleeps:
    """The client's sleep function: records the waits, never waits."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(fake: FakeFlora, sleeps: Sleeps) -> Iterator[FloraClient]:
    with FloraClient(KEY, base_url=BASE, transport=fake.transport, sleep=sleeps) as c:
        yield c


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """The emulator on a free loopback port, recording every exchange."""
    with Emulator(seed=3, record=[]) as emulator:
        yield emulator


@pytest.fixture
def logs() -> Iterator[list[str]]:
    """Every loguru message at any level, formatted with its extras, while the test runs."""
    lines: list[str] = []
    handler = logger.add(lambda m: lines.append(str(m)), level="TRACE", format="{message} {extra}")
    yield lines
    logger.remove(handler)
