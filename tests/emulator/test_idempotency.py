"""Idempotency keys: a duplicate within two hours is refused (409), as FLORA does."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from flora_emulator import Emulator
from tests.emulator.helpers import (
    FakeClock,
    api_client,
    error_of,
    image_input,
    png,
    start,
    upload,
)


def _dupe(response: httpx.Response) -> bool:
    return response.status_code == 409 and error_of(response) == {
        "code": "idempotency_duplicate",
        "message": "Duplicate idempotency key.",
    }


def test_body_key_and_header_key_are_both_honoured(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    inputs = [image_input(url)]
    assert start(api, "cctv-cam", inputs, idempotency_key="body-1").status_code == 201
    assert _dupe(start(api, "cctv-cam", inputs, idempotency_key="body-1"))
    assert _dupe(
        api.post(
            "/techniques/cctv-cam/runs",
            json={"inputs": inputs, "mode": "async"},
            headers={"Idempotency-Key": "body-1"},
        )
    )
    headers = {"Idempotency-Key": "header-1"}
    body = {"inputs": inputs, "mode": "async"}
    assert api.post("/techniques/cctv-cam/runs", json=body, headers=headers).status_code == 201
    assert _dupe(api.post("/techniques/cctv-cam/runs", json=body, headers=headers))
    assert emulator.stats.runs_created == 2
    assert emulator.stats.idempotency_duplicates == 3
    assert [r.idempotency_key for r in emulator.runs()] == ["body-1", "header-1"]


def test_the_window_is_two_hours(
    emulator_factory: Callable[..., Emulator], clock: FakeClock
) -> None:
    emulator = emulator_factory(clock=clock)
    with api_client(emulator) as api:
        inputs = [image_input(upload(api, emulator, png())["url"])]
        assert start(api, "cctv-cam", inputs, idempotency_key="k").status_code == 201
        clock.advance(2 * 3600 - 1)
        assert _dupe(start(api, "cctv-cam", inputs, idempotency_key="k"))
        clock.advance(1)
        assert start(api, "cctv-cam", inputs, idempotency_key="k").status_code == 201
    assert emulator.stats.runs_created == 2


def test_a_rejected_request_does_not_use_up_its_key(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    bad = start(api, "cctv-cam", [image_input("nope")], idempotency_key="k")
    assert bad.status_code == 400
    assert start(api, "cctv-cam", [image_input(url)], idempotency_key="k").status_code == 201


def test_an_injected_server_error_does_not_use_up_its_key(
    emulator: Emulator, api: httpx.Client
) -> None:
    inputs = [image_input(upload(api, emulator, png())["url"])]
    emulator.error_rate = 1.0
    assert start(api, "cctv-cam", inputs, idempotency_key="k").status_code == 500
    emulator.error_rate = 0.0
    assert start(api, "cctv-cam", inputs, idempotency_key="k").status_code == 201
    assert emulator.stats.runs_created == 1


def test_keys_are_scoped_to_operation_and_destination(
    emulator: Emulator, api: httpx.Client
) -> None:
    url = upload(api, emulator, png())["url"]
    assert start(api, "cctv-cam", [image_input(url)], idempotency_key="k").status_code == 201
    assert start(api, "palette-pull", [image_input(url)], idempotency_key="k").status_code == 201
    headers = {"Idempotency-Key": "k"}
    form = {"workspace_id": emulator.workspace_id}
    first = api.post("/assets", data=form, files={"file": ("a.png", png())}, headers=headers)
    assert first.status_code == 201
    assert _dupe(api.post("/assets", data=form, files={"file": ("a.png", png())}, headers=headers))


def test_asset_operations_honour_the_header(emulator: Emulator, api: httpx.Client) -> None:
    headers = {"Idempotency-Key": "reserve-1"}
    body = {"source": "signed-url", "workspace_id": emulator.workspace_id, "file_name": "a.png"}
    asset = api.post("/assets", json=body, headers=headers).json()
    assert _dupe(api.post("/assets", json=body, headers=headers))
    target = asset["upload"]
    stored = httpx.post(target["url"], data=target["form_fields"], files={"file": ("a.png", png())})
    assert stored.status_code == 200
    done = api.post(f"/assets/{asset['asset_id']}/complete", headers={"Idempotency-Key": "c1"})
    assert done.status_code == 200
    assert _dupe(
        api.post(f"/assets/{asset['asset_id']}/complete", headers={"Idempotency-Key": "c1"})
    )
