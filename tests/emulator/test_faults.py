"""Knobs for tests and demos: latency, 5xx, 429, resets, lost responses; reproducible by seed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flora_emulator import Emulator
from tests.emulator.helpers import api_client, error_of, image_input, png, start, upload


def _statuses(emulator: Emulator, count: int = 40) -> list[int]:
    with api_client(emulator) as api:
        return [api.get("/workspaces").status_code for _ in range(count)]


def test_error_rate_answers_500_unknown_error(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(error_rate=1.0)
    with api_client(emulator) as api:
        response = api.get("/workspaces")
    assert response.status_code == 500
    assert error_of(response) == {"code": "unknown_error", "message": "An unknown error occurred."}
    assert emulator.stats.faults["error"] == 1


def test_rate_limit_rate_answers_429_with_retry_after(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory(rate_limit_rate=1.0, retry_after_seconds=2)
    with api_client(emulator) as api:
        response = api.get("/techniques")
        assert response.status_code == 429
        assert error_of(response)["code"] == "rate_limited"
        assert response.headers["retry-after"] == "2"
        emulator.retry_after_seconds = 0.25
        assert api.get("/techniques").headers["retry-after"] == "0.25"


def test_faults_hit_only_authenticated_requests(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(error_rate=1.0, rate_limit_rate=1.0)
    assert httpx.get(emulator.base_url + "/workspaces").status_code == 401


def test_rates_are_reproducible_for_a_seed(emulator_factory: Callable[..., Emulator]) -> None:
    one = _statuses(emulator_factory(seed=11, error_rate=0.3))
    same = _statuses(emulator_factory(seed=11, error_rate=0.3))
    other = _statuses(emulator_factory(seed=12, error_rate=0.3))
    assert one == same != other
    assert 0 < one.count(500) < len(one)


def test_one_fault_kind_does_not_shift_another(emulator_factory: Callable[..., Emulator]) -> None:
    alone = _statuses(emulator_factory(seed=3, error_rate=0.3))
    with_limits = _statuses(emulator_factory(seed=3, error_rate=0.3, rate_limit_rate=0.2))
    # Where no 429 was drawn, the 500s fall exactly where they fell without rate limits.
    assert [s for s, t in zip(alone, with_limits, strict=True) if t != 429] == [
        t for t in with_limits if t != 429
    ]


def test_knobs_can_change_while_running(emulator: Emulator, api: httpx.Client) -> None:
    assert api.get("/workspaces").status_code == 200
    emulator.error_rate = 1.0
    assert api.get("/workspaces").status_code == 500
    emulator.error_rate = 0.0
    assert api.get("/workspaces").status_code == 200


def test_reset_rate_drops_the_connection_before_anything_happens(
    emulator: Emulator, api: httpx.Client
) -> None:
    url = upload(api, emulator, png())["url"]
    emulator.reset_rate = 1.0
    # A reset reads as "connection reset", or as a disconnect when it hit the body upload.
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        start(api, "cctv-cam", [image_input(url)], idempotency_key="k")
    emulator.reset_rate = 0.0
    assert emulator.stats.runs_created == 0
    assert emulator.stats.faults["reset"] == 1
    assert start(api, "cctv-cam", [image_input(url)], idempotency_key="k").status_code == 201


def test_lose_response_rate_acts_then_answers_nothing(
    emulator: Emulator, api: httpx.Client
) -> None:
    url = upload(api, emulator, png())["url"]
    emulator.lose_response_rate = 1.0
    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        start(api, "cctv-cam", [image_input(url)], idempotency_key="lost")
    emulator.lose_response_rate = 0.0
    assert emulator.stats.runs_created == 1  # the run exists although nobody heard of it
    retry = start(api, "cctv-cam", [image_input(url)], idempotency_key="lost")
    assert retry.status_code == 409
    [run] = api.get("/technique-runs").json()["technique_runs"]
    assert run["run_id"] == emulator.runs()[0].run_id


def test_latency_delays_api_requests(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(latency_ms=150)
    with api_client(emulator) as api:
        response = api.get("/workspaces")
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.15


def test_upload_slow_ms_paces_the_storage_target(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory(upload_slow_ms=100)
    with api_client(emulator) as api:
        body = {"source": "signed-url", "workspace_id": emulator.workspace_id, "file_name": "a.png"}
        target = api.post("/assets", json=body).json()["upload"]
    data = png() + bytes(600 * 1024)  # three 256 KiB reads at least
    response = httpx.post(
        target["url"], data=target["form_fields"], files={"file": ("a.png", data)}
    )
    assert response.status_code == 200
    assert response.elapsed.total_seconds() >= 0.3
