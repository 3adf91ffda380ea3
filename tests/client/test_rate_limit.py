"""A 429 slows the whole session down, not just the request that got it.

FLORA rate-limits a workspace. Every worker that keeps retrying on its own keeps hitting a
limit that has asked it to wait; so after a 429 every API request of the session waits out
the ``retry-after``, and at most two are in flight until one gets through (FLORA's advice).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from floradrop.flora import FloraClient, RateLimitedError
from floradrop.flora.endpoint import Endpoint
from floradrop.flora.http import HttpSession, Target
from floradrop.flora.throttle import THROTTLED_CONCURRENCY, Throttle
from tests.engine.harness import wait_for

from .conftest import BASE, KEY, FakeFlora, Sleeps, error, ok

WORKSPACES = ok({"workspaces": [{"workspace_id": "ws_1", "name": "Studio", "role": "owner"}]})
TECHNIQUE = ok({"technique_id": "tech_x", "name": "X", "run_cost": 0, "inputs": [], "outputs": []})


def limited(seconds: str) -> httpx.Response:
    return error(429, "rate_limited", "Rate limit exceeded.", headers={"retry-after": seconds})


class Clock:
    """A monotonic clock that only the session's sleep moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_429_makes_the_next_request_wait_out_retry_after(fake: FakeFlora) -> None:
    fake.on("GET", "/workspaces", limited("7"))
    fake.on("GET", "/techniques/x", TECHNIQUE)
    clock = Clock()
    with FloraClient(
        KEY, base_url=BASE, transport=fake.transport, sleep=clock.sleep, max_retries=0
    ) as c:
        c._http.throttle = Throttle(clock=clock)
        with pytest.raises(RateLimitedError):
            c.list_workspaces()
        assert clock.slept == []
        c.get_technique("x")  # another request: it waits before it is sent
        assert clock.slept == [7.0]
        c.get_technique("x")  # the limit is over: no more waiting
    assert clock.slept == [7.0]
    assert [s.path for s in fake.seen] == ["/api/v1/workspaces"] + ["/api/v1/techniques/x"] * 2


def test_the_request_that_got_the_429_waits_once_before_its_retry(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("GET", "/workspaces", limited("3"), WORKSPACES)
    assert len(client.list_workspaces()) == 1
    assert sleeps.calls == [3.0]


def test_downloads_and_uploads_are_not_held_back_by_the_api_limit(
    fake: FakeFlora, sleeps: Sleeps
) -> None:
    fake.on("GET", "/workspaces", limited("9"))
    fake.on("GET", "https://media.test/o.png", httpx.Response(200, content=b"png"))
    with FloraClient(
        KEY, base_url=BASE, transport=fake.transport, sleep=sleeps, max_retries=0
    ) as c:
        with pytest.raises(RateLimitedError):
            c.list_workspaces()
        session = c._http  # the output host is not FLORA's API: no cool-down for it
        response = session.send(
            lambda: session.build("GET", "https://media.test/o.png"),
            target=Target.DOWNLOAD,
            retry=False,
        )
    assert response.status_code == 200
    assert sleeps.calls == []


class Gate:
    """A transport whose API answers wait until the test opens the gate; counts in flight."""

    def __init__(self, first: httpx.Response | None) -> None:
        self.first = first
        self.open = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            if self.first is not None:
                answer, self.first = self.first, None
                return answer
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            assert self.open.wait(30), "the test never opened the gate"
            return WORKSPACES
        finally:
            with self.lock:
                self.in_flight -= 1


@pytest.fixture
def session_for() -> Iterator[Callable[[Gate], HttpSession]]:
    sessions: list[HttpSession] = []

    def make(gate: Gate) -> HttpSession:
        session = HttpSession(
            Endpoint.resolve(KEY, BASE),
            transport=httpx.MockTransport(gate.handle),
            max_retries=0,
            sleep=lambda _s: None,
        )
        sessions.append(session)
        return session

    yield make
    for session in sessions:
        session.close()


def workers(session: HttpSession, count: int) -> list[threading.Thread]:
    def one() -> None:
        session.send(
            lambda: session.build("GET", BASE + "/workspaces"), target=Target.API, retry=False
        )

    threads = [threading.Thread(target=one, name=f"test-request-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


@pytest.mark.parametrize("after_429", [True, False], ids=["after a 429", "no 429"])
def test_after_a_429_at_most_two_requests_are_in_flight(
    session_for: Callable[[Gate], HttpSession], after_429: bool
) -> None:
    gate = Gate(limited("0") if after_429 else None)
    session = session_for(gate)
    if after_429:
        first = session.send(
            lambda: session.build("GET", BASE + "/workspaces"), target=Target.API, retry=False
        )
        assert first.status_code == 429 and session.throttle.limited
    threads = workers(session, 5)
    try:
        if after_429:
            wait_for(
                lambda: gate.in_flight == THROTTLED_CONCURRENCY and session.throttle.waiting == 3,
                10,
                "two requests sent and three waiting for a slot",
            )
        else:
            wait_for(lambda: gate.in_flight == 5, 10, "five requests in flight")
    finally:
        gate.open.set()
        for thread in threads:
            thread.join(30)
    assert gate.most == (THROTTLED_CONCURRENCY if after_429 else 5)
    assert not session.throttle.limited, "an answer other than 429 lifts the limit"


def test_the_cool_down_is_shared_and_extended_by_a_later_429() -> None:
    clock = Clock()
    throttle = Throttle(clock=clock)
    throttle.enter(clock.sleep)
    assert throttle.leave(429, wait=5.0) == 1005.0
    assert throttle.cool_down_left() == 5.0
    throttle.enter(clock.sleep)  # another request waits the whole cool-down
    assert clock.slept == [5.0]
    throttle.leave(429, wait=2.0)  # at 1005: cool-down until 1007
    clock.now = 1006.0
    throttle.enter(clock.sleep)
    assert clock.slept == [5.0, 1.0]
    throttle.leave(200)
    assert not throttle.limited and throttle.cool_down_left() == 0.0
