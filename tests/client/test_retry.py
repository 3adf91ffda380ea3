"""Which requests are tried again, how long the client waits, and the idempotency rule."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from floradrop.flora import (
    FloraClient,
    IdempotencyDuplicateError,
    NetworkError,
    RateLimitedError,
    RunInput,
    ServerError,
    ValidationError,
)
from floradrop.flora.retry import backoff, delay_before_retry, server_wait

from .conftest import BASE, KEY, FakeFlora, Sleeps, error, ok

WORKSPACES = ok({"workspaces": [{"workspace_id": "ws_1", "name": "Studio", "role": "owner"}]})
RUN = {"run_id": "run_1", "status": "pending", "progress": 0, "created_at": 1}


def first_backoff_ok(delay: float, retries_made: int) -> bool:
    base = min(30.0, 0.5 * 2.0**retries_made)
    return 0.75 * base <= delay <= base


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx.ReadError("reset by peer"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_network_failures_are_retried(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, failure: Exception
) -> None:
    fake.on("GET", "/workspaces", failure, WORKSPACES)
    assert [w.workspace_id for w in client.list_workspaces()] == ["ws_1"]
    assert len(fake.seen) == 2
    assert len(sleeps.calls) == 1
    assert first_backoff_ok(sleeps.calls[0], 0)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 507])
def test_retryable_statuses_are_retried(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, status: int
) -> None:
    fake.on("GET", "/workspaces", httpx.Response(status), WORKSPACES)
    assert len(client.list_workspaces()) == 1
    assert len(fake.seen) == 2
    assert len(sleeps.calls) == 1


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "input_validation_error"),
        (401, "invalid_api_key"),
        (402, "insufficient_credits"),
        (403, "forbidden"),
        (404, "not_found"),
        (409, "idempotency_duplicate"),
        (409, "conflict"),
        (422, "idempotency_conflict"),
    ],
)
def test_other_4xx_are_never_retried(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, status: int, code: str
) -> None:
    fake.on("GET", "/workspaces", error(status, code), WORKSPACES)
    with pytest.raises(Exception) as info:
        client.list_workspaces()
    assert getattr(info.value, "status_code", None) == status
    assert len(fake.seen) == 1
    assert sleeps.calls == []


def test_x_should_retry_false_forbids_a_retry(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on(
        "GET", "/workspaces", httpx.Response(503, headers={"x-should-retry": "false"}), WORKSPACES
    )
    with pytest.raises(ServerError):
        client.list_workspaces()
    assert len(fake.seen) == 1


def test_x_should_retry_true_forces_a_retry(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on(
        "GET",
        "/workspaces",
        error(400, "invalid_json", headers={"x-should-retry": "true"}),
        WORKSPACES,
    )
    assert len(client.list_workspaces()) == 1
    assert len(fake.seen) == 2


def test_x_should_retry_true_never_repeats_a_409(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on(
        "POST",
        "/techniques/cctv-cam/runs",
        error(409, "idempotency_duplicate", headers={"x-should-retry": "true"}),
        ok(RUN, 201),
    )
    with pytest.raises(IdempotencyDuplicateError):
        client.start_run("cctv-cam", [RunInput("prompt", "text", "hi")], idempotency_key="k")
    assert len(fake.seen) == 1


def test_retry_after_seconds_is_honoured(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on(
        "GET", "/workspaces", error(429, "rate_limited", headers={"retry-after": "3"}), WORKSPACES
    )
    client.list_workspaces()
    assert sleeps.calls == [3.0]


def test_retry_after_ms_wins_over_retry_after(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    headers = {"retry-after-ms": "1250.5", "retry-after": "9"}
    fake.on("GET", "/workspaces", error(429, "rate_limited", headers=headers), WORKSPACES)
    client.list_workspaces()
    assert sleeps.calls == [pytest.approx(1.2505)]


def test_retry_after_http_date_is_honoured(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    fake.on("GET", "/workspaces", httpx.Response(503, headers={"retry-after": when}), WORKSPACES)
    client.list_workspaces()
    assert 18.0 <= sleeps.calls[0] <= 20.0


def test_server_wait_is_capped_at_60_seconds(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on(
        "GET",
        "/workspaces",
        error(429, "rate_limited", headers={"retry-after": "3600"}),
        WORKSPACES,
    )
    client.list_workspaces()
    assert sleeps.calls == [60.0]


def test_garbage_retry_after_falls_back_to_backoff(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("GET", "/workspaces", httpx.Response(503, headers={"retry-after": "soon"}), WORKSPACES)
    client.list_workspaces()
    assert first_backoff_ok(sleeps.calls[0], 0)


def test_backoff_doubles_with_jitter_and_attempts_are_bounded(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("GET", "/workspaces", httpx.Response(500))
    with pytest.raises(ServerError):
        client.list_workspaces()
    assert len(fake.seen) == 5  # the first try and max_retries=4 retries
    assert len(sleeps.calls) == 4
    for retries_made, delay in enumerate(sleeps.calls):
        assert first_backoff_ok(delay, retries_made), (retries_made, delay)


def test_backoff_is_capped_at_30_seconds() -> None:
    assert backoff(10, random=lambda: 0.0) == 30.0
    assert backoff(10, random=lambda: 0.999) == pytest.approx(30.0 * 0.75, rel=1e-3)
    assert backoff(0, random=lambda: 0.0) == 0.5
    assert backoff(2, random=lambda: 0.0) == 2.0


def test_server_wait_parsing() -> None:
    assert server_wait({}) is None
    assert server_wait({"retry-after": "2.5"}) == 2.5
    assert server_wait({"retry-after": "-4"}) == 0.0
    assert server_wait({"retry-after-ms": "nan", "retry-after": "1"}) == 1.0
    assert server_wait({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert delay_before_retry(0, {"retry-after": "120"}, random=lambda: 0.0) == 60.0


def test_rate_limited_after_all_retries_keeps_the_wait(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("GET", "/workspaces", error(429, "rate_limited", headers={"retry-after": "2"}))
    with pytest.raises(RateLimitedError) as info:
        client.list_workspaces()
    assert info.value.retry_after == 2.0
    assert sleeps.calls == [2.0] * 4


def test_network_error_after_all_retries(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("GET", "/workspaces", httpx.ReadError("reset"))
    with pytest.raises(NetworkError) as info:
        client.list_workspaces()
    assert info.value.maybe_sent is True
    assert len(fake.seen) == 5


def test_max_retries_zero_means_one_attempt(fake: FakeFlora, sleeps: Sleeps) -> None:
    fake.on("GET", "/workspaces", httpx.Response(503), WORKSPACES)
    with (
        FloraClient(KEY, base_url=BASE, transport=fake.transport, sleep=sleeps, max_retries=0) as c,
        pytest.raises(ServerError),
    ):
        c.list_workspaces()
    assert len(fake.seen) == 1


def test_run_create_is_retried_only_with_the_same_key(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on(
        "POST",
        "/techniques/cctv-cam/runs",
        httpx.ConnectError("refused"),
        httpx.Response(502),
        httpx.ReadTimeout("lost the answer"),
        ok(RUN, 201),
    )
    run = client.start_run(
        "cctv-cam",
        [RunInput("input_image", "imageUrl", "https://x/y.png")],
        idempotency_key="key-1",
    )
    assert run.run_id == "run_1"
    posts = fake.requests_to("POST", "/techniques/cctv-cam/runs")
    assert len(posts) == 4
    assert {p.headers["idempotency-key"] for p in posts} == {"key-1"}
    assert {p.json()["idempotency_key"] for p in posts} == {"key-1"}
    assert len({p.body for p in posts}) == 1, "every attempt sends the same body"


def test_a_post_without_an_idempotency_key_is_never_retried(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("POST", "/assets/asset_1/complete", httpx.Response(503), ok({"asset_id": "asset_1"}))
    with pytest.raises(ServerError):
        client._call("POST", "/assets/asset_1/complete", what="asset")
    fake.on("POST", "/assets/asset_1/complete", httpx.ReadTimeout("lost"), ok({"asset_id": "a"}))
    with pytest.raises(NetworkError) as info:
        client._call("POST", "/assets/asset_1/complete", what="asset")
    assert info.value.maybe_sent is True
    assert len(fake.seen) == 2
    assert sleeps.calls == []


def test_create_methods_demand_an_idempotency_key(fake: FakeFlora, client: FloraClient) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        client.start_run("cctv-cam", [RunInput("p", "text", "x")], idempotency_key="")
    with pytest.raises(ValueError, match="idempotency key"):
        client.start_run_top_level("tech_x", "ws_1", {"p": "x"}, idempotency_key=" ")
    assert fake.seen == []


def test_validation_errors_on_create_are_not_retried(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps
) -> None:
    fake.on("POST", "/techniques/cctv-cam/runs", error(400, "input_validation_error"), ok(RUN))
    with pytest.raises(ValidationError):
        client.start_run("cctv-cam", [RunInput("p", "text", "x")], idempotency_key="k")
    assert len(fake.seen) == 1
