"""Every FLORA error answer becomes the right floradrop error, with an actionable message."""

from __future__ import annotations

import httpx
import pytest

from floradrop.errors import FatalError, JobError, TransientError
from floradrop.flora import (
    AuthenticationError,
    ConflictError,
    FieldError,
    FloraClient,
    FloraError,
    IdempotencyConflictError,
    IdempotencyDuplicateError,
    InsufficientCreditsError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RunInput,
    ServerError,
    ValidationError,
)

from .conftest import BASE, KEY, FakeFlora, Sleeps, error, ok

CASES = [
    (400, "input_validation_error", ValidationError, JobError),
    (400, "invalid_json", ValidationError, JobError),
    (401, "unauthorized", AuthenticationError, FatalError),
    (401, "invalid_api_key", AuthenticationError, FatalError),
    (402, "insufficient_credits", InsufficientCreditsError, FatalError),
    (403, "forbidden", PermissionDeniedError, FatalError),
    (404, "not_found", NotFoundError, JobError),
    (409, "idempotency_duplicate", IdempotencyDuplicateError, FloraError),
    (409, "conflict", ConflictError, FloraError),
    (422, "idempotency_conflict", IdempotencyConflictError, JobError),
    (429, "rate_limited", RateLimitedError, TransientError),
    (500, "unknown_error", ServerError, TransientError),
    (500, "internal_error", ServerError, TransientError),
    (503, "service_unavailable", ServerError, TransientError),
]


@pytest.mark.parametrize(("status", "code", "cls", "kind"), CASES)
def test_each_error_code_maps_to_its_type(
    fake: FakeFlora, client: FloraClient, status: int, code: str, cls: type[FloraError], kind: type
) -> None:
    fake.on(
        "GET",
        "/techniques/cctv-cam",
        error(status, code, "The message from FLORA.", headers={"request-id": "req_123"}),
    )
    with pytest.raises(cls) as info:
        client.get_technique("cctv-cam")
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, kind)
    assert exc.status_code == status
    assert exc.code == code
    assert exc.request_id == "req_123"
    assert "The message from FLORA." in exc.message
    assert exc.hint, "every error tells the person what to do"
    assert "req_123" in exc.describe()


def test_409_duplicate_is_not_a_conflict(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("POST", "/techniques/cctv-cam/runs", error(409, "idempotency_duplicate"))
    with pytest.raises(IdempotencyDuplicateError) as info:
        client.start_run("cctv-cam", [RunInput("prompt", "text", "x")], idempotency_key="k1")
    assert not isinstance(info.value, ConflictError)


def test_validation_error_lists_the_fields(fake: FakeFlora, client: FloraClient) -> None:
    fake.on(
        "POST",
        "/techniques/cctv-cam/runs",
        error(
            400,
            "input_validation_error",
            "inputs.0.value: Required",
            fields=[
                {"field": "inputs.0.value", "message": "Required"},
                {"field": "mode", "message": "Invalid enum value"},
            ],
        ),
    )
    with pytest.raises(ValidationError) as info:
        client.start_run("cctv-cam", [RunInput("prompt", "text", "")], idempotency_key="k1")
    assert info.value.fields == (
        FieldError("inputs.0.value", "Required"),
        FieldError("mode", "Invalid enum value"),
    )
    assert "mode: Invalid enum value" in info.value.message


def test_rate_limited_carries_the_wait(fake: FakeFlora, sleeps: Sleeps) -> None:
    fake.on("GET", "/workspaces", error(429, "rate_limited", headers={"retry-after": "7"}))
    client = FloraClient(KEY, base_url=BASE, transport=fake.transport, sleep=sleeps, max_retries=0)
    with client, pytest.raises(RateLimitedError) as info:
        client.list_workspaces()
    assert info.value.retry_after == 7.0
    assert "7 s" in info.value.message


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, ValidationError), (401, AuthenticationError), (404, NotFoundError), (502, ServerError)],
)
def test_non_json_error_body_maps_by_status(
    fake: FakeFlora, client: FloraClient, status: int, cls: type[FloraError]
) -> None:
    fake.on(
        "GET",
        "/workspaces",
        httpx.Response(
            status, text="<html>Bad Gateway</html>", headers={"content-type": "text/html"}
        ),
    )
    with pytest.raises(cls) as info:
        client.list_workspaces()
    assert info.value.status_code == status
    assert info.value.code is None


def test_unexpected_4xx_is_a_rejected_request(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/workspaces", httpx.Response(413, text="too large"))
    with pytest.raises(ValidationError, match="HTTP 413"):
        client.list_workspaces()


def test_408_after_retries_is_a_network_error_not_sent(
    fake: FakeFlora, client: FloraClient
) -> None:
    fake.on("GET", "/workspaces", httpx.Response(408))
    with pytest.raises(NetworkError) as info:
        client.list_workspaces()
    assert info.value.maybe_sent is False


def test_success_that_is_not_json_is_a_server_error(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/workspaces", httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(ServerError, match="not a JSON object"):
        client.list_workspaces()


def test_list_without_its_items_is_a_server_error(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/workspaces", ok({"data": []}))
    with pytest.raises(ServerError, match="'workspaces'"):
        client.list_workspaces()


def test_key_echoed_by_the_server_is_redacted(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/workspaces", error(401, "invalid_api_key", f"Key {KEY} is revoked."))
    with pytest.raises(AuthenticationError) as info:
        client.list_workspaces()
    text = f"{info.value} {info.value!r} {info.value.describe()} {info.value.args}"
    assert KEY not in text
    assert "[redacted]" in info.value.message


def test_network_error_says_whether_the_request_may_have_been_sent(
    fake: FakeFlora, client: FloraClient
) -> None:
    fake.on("GET", "/workspaces", httpx.ConnectError("connection refused"))
    with pytest.raises(NetworkError) as refused:
        client.list_workspaces()
    assert refused.value.maybe_sent is False
    assert "could not connect to api.flora.test" in refused.value.message

    fake.on("GET", "/workspaces", httpx.ReadTimeout("timed out"))
    with pytest.raises(NetworkError) as timed_out:
        client.list_workspaces()
    assert timed_out.value.maybe_sent is True
    assert "timed out" in timed_out.value.message
