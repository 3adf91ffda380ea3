"""Assets: direct multipart, signed uploads (reserve, upload, complete, retry), get, list."""

from __future__ import annotations

import io
import re
import time
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from PIL import Image

from flora_emulator import Emulator
from tests.emulator.helpers import FakeClock, api_client, error_of, fields_of, png, upload

FOUR_MIB = 4 * 1024 * 1024


def _reserve(api: httpx.Client, emulator: Emulator, **body: Any) -> dict[str, Any]:
    payload = {"source": "signed-url", "workspace_id": emulator.workspace_id, **body}
    response = api.post("/assets", json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _send(target: dict[str, Any], data: bytes, name: str = "a.png", **kw: Any) -> httpx.Response:
    return httpx.post(
        target["url"], data=target["form_fields"], files={target["file_field"]: (name, data)}, **kw
    )


def test_direct_upload_is_ready_at_once(emulator: Emulator, api: httpx.Client) -> None:
    created = upload(api, emulator, png((96, 64)), "photo.png")
    assert created["asset_id"].startswith("asset_")
    assert created["uploaded_via"] == "direct"
    assert created["status"] == "ready"
    assert created["visibility"] == "workspace"
    assert created["workspace_id"] == emulator.workspace_id
    asset = api.get(f"/assets/{created['asset_id']}").json()
    assert asset["content_type"] == "image/png"
    assert (asset["width"], asset["height"]) == (96, 64)
    assert asset["size_bytes"] == len(png((96, 64)))
    assert asset["name"] == "photo.png"
    assert asset["failure_message"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", asset["created_at"])
    served = httpx.get(asset["url"])
    assert served.headers["content-type"] == "image/png"
    assert served.content == png((96, 64))


def test_direct_upload_fields_override_the_part(emulator: Emulator, api: httpx.Client) -> None:
    created = upload(
        api, emulator, png(), "x.bin", file_name="../../etc/named.png", content_type="image/png"
    )
    asset = api.get(f"/assets/{created['asset_id']}").json()
    assert asset["name"] == "named.png"
    assert asset["url"].endswith("/named.png")
    assert asset["upload_content_type"] == "image/png"


def test_direct_upload_limit_is_four_mib(emulator: Emulator, api: httpx.Client) -> None:
    form = {"workspace_id": emulator.workspace_id}
    exactly = api.post("/assets", data=form, files={"file": ("a.mp4", bytes(FOUR_MIB))})
    assert exactly.status_code == 201
    over = api.post("/assets", data=form, files={"file": ("a.mp4", bytes(FOUR_MIB + 1))})
    assert over.status_code == 400
    assert "signed-url" in fields_of(over)["file"]


def test_direct_upload_checks_its_fields(emulator: Emulator, api: httpx.Client) -> None:
    response = api.post("/assets", data={"source": "x"}, files={"upload": ("a.png", png())})
    assert response.status_code == 400
    assert fields_of(response) == {
        "source": "Unrecognized key",
        "workspace_id": "Required",
        "file": "Required",
        "upload": "Unrecognized key",
    }
    form = {"workspace_id": emulator.workspace_id}
    empty = api.post("/assets", data=form, files={"file": ("a.png", b"")})
    assert fields_of(empty) == {"file": "File is empty"}
    text = api.post("/assets", data=form, files={"file": ("notes.txt", b"hello")})
    assert "content_type" in fields_of(text)
    other = api.post("/assets", data={"workspace_id": "ws_other"}, files={"file": ("a.png", png())})
    assert other.status_code == 403


def test_a_direct_upload_may_name_the_project(emulator: Emulator, api: httpx.Client) -> None:
    upload(api, emulator, png(), project_id=emulator.project_id)
    listed = api.get("/assets", params={"project_id": emulator.project_id}).json()["assets"]
    assert [a["project_id"] for a in listed] == [emulator.project_id]
    unknown = api.post(
        "/assets",
        data={"workspace_id": emulator.workspace_id, "project_id": "prj_other"},
        files={"file": ("a.png", png())},
    )
    assert unknown.status_code == 404


def test_a_broken_image_makes_a_failed_asset(emulator: Emulator, api: httpx.Client) -> None:
    created = upload(api, emulator, b"not really a png", "broken.png")
    assert created["status"] == "failed"
    asset = api.get(f"/assets/{created['asset_id']}").json()
    assert "not a valid image/png image" in asset["failure_message"]
    assert httpx.get(asset["url"]).status_code == 404


def test_signed_upload_flow(emulator: Emulator, api: httpx.Client) -> None:
    reserved = _reserve(api, emulator, file_name="big.png", content_type="image/png")
    assert reserved["status"] == "pending_upload"
    assert reserved["uploaded_via"] == "signed_url"
    target = reserved["upload"]
    assert target["method"] == "POST"
    assert target["content_type"] == "multipart/form-data"
    assert target["file_field"] == "file"
    assert reserved["upload_url"] == target["url"]
    assert target["url"].startswith(emulator.origin + "/_storage/upload/")
    assert reserved["expires_at"].endswith("Z")
    assert httpx.get(reserved["url"]).status_code == 404  # not ready yet

    stored = _send(target, png((50, 40)), "big.png")
    assert stored.status_code == 200
    assert stored.json()["size"] == len(png((50, 40)))
    assert api.get(f"/assets/{reserved['asset_id']}").json()["status"] == "pending_upload"

    completed = api.post(f"/assets/{reserved['asset_id']}/complete")
    assert completed.status_code == 200
    assert completed.json() == {
        "asset_id": reserved["asset_id"],
        "url": reserved["url"],
        "workspace_id": emulator.workspace_id,
        "visibility": "workspace",
        "status": "ready",
        "failure_message": None,
    }
    asset = api.get(f"/assets/{reserved['asset_id']}").json()
    assert (asset["width"], asset["height"], asset["uploaded_via"]) == (50, 40, "signed_url")
    assert httpx.get(reserved["url"]).content == png((50, 40))
    assert emulator.stats.uploads_received == 1
    assert emulator.stats.requests_with_auth_to_storage == 0
    # The used upload URL is gone, like a consumed signed policy.
    assert _send(target, png()).status_code == 404


def test_storage_refuses_a_request_carrying_a_key(emulator: Emulator, api: httpx.Client) -> None:
    target = _reserve(api, emulator, file_name="a.png")["upload"]
    refused = _send(target, png(), headers={"Authorization": f"Bearer {emulator.api_key}"})
    assert refused.status_code == 403
    body = refused.json()
    assert "error" not in body  # the storage host's own shape, not FLORA's envelope
    assert "Authorization" in body["message"]
    assert emulator.stats.requests_with_auth_to_storage == 1
    assert emulator.stats.uploads_received == 0
    assert _send(target, png()).status_code == 200  # the reservation is still usable


def test_storage_checks_the_signed_fields(emulator: Emulator, api: httpx.Client) -> None:
    target = _reserve(api, emulator, file_name="a.png")["upload"]
    tampered = dict(target, form_fields={**target["form_fields"], "fileName": "other.png"})
    assert _send(tampered, png()).status_code == 403
    missing = httpx.post(target["url"], data=target["form_fields"], files={"other": ("a", b"x")})
    assert missing.status_code == 400
    assert httpx.post(emulator.origin + "/_storage/upload/nope", data={}).status_code == 404


def test_storage_takes_a_raw_put_too(emulator: Emulator, api: httpx.Client) -> None:
    reserved = _reserve(api, emulator, file_name="clip.mp4", content_type="video/mp4")
    put = httpx.put(
        reserved["upload_url"], content=b"fake mp4", headers={"Content-Type": "video/mp4"}
    )
    assert put.status_code == 200
    done = api.post(f"/assets/{reserved['asset_id']}/complete").json()
    assert done["status"] == "ready"
    assert httpx.get(done["url"]).headers["content-type"] == "video/mp4"


def test_an_expired_reservation_is_refused_and_retry_renews_it(
    emulator_factory: Callable[..., Emulator], clock: FakeClock
) -> None:
    emulator = emulator_factory(clock=clock, reservation_seconds=60)
    with api_client(emulator) as api:
        reserved = _reserve(api, emulator, file_name="a.png")
        clock.advance(61)
        expired = _send(reserved["upload"], png())
        assert expired.status_code == 403
        assert "expired" in expired.json()["message"]
        early = api.post(f"/assets/{reserved['asset_id']}/complete")
        assert early.status_code == 400
        assert "retry" in fields_of(early)["asset_id"]

        renewed = api.post(f"/assets/{reserved['asset_id']}/retry")
        assert renewed.status_code == 200
        fresh = renewed.json()
        assert fresh["status"] == "pending_upload"
        assert fresh["upload"]["url"] != reserved["upload"]["url"]
        assert fresh["expires_at"] > reserved["expires_at"]
        assert _send(reserved["upload"], png()).status_code == 404  # the old URL is dead
        assert _send(fresh["upload"], png()).status_code == 200
        done = api.post(f"/assets/{reserved['asset_id']}/complete").json()
        assert done["status"] == "ready"


def test_complete_and_retry_refuse_the_wrong_state(emulator: Emulator, api: httpx.Client) -> None:
    reserved = _reserve(api, emulator, file_name="a.png")
    asset_id = reserved["asset_id"]
    before = api.post(f"/assets/{asset_id}/complete")
    assert before.status_code == 400
    assert error_of(before)["code"] == "input_validation_error"
    assert "upload.url" in fields_of(before)["asset_id"]
    _send(reserved["upload"], png())
    assert api.post(f"/assets/{asset_id}/complete").status_code == 200
    again = api.post(f"/assets/{asset_id}/complete")
    assert again.status_code == 400 and "is ready" in fields_of(again)["asset_id"]
    retry = api.post(f"/assets/{asset_id}/retry")
    assert retry.status_code == 400 and "nothing to retry" in fields_of(retry)["asset_id"]
    assert api.post("/assets/asset_000/complete").status_code == 404
    assert api.post("/assets/nope/retry").status_code == 400


def test_a_failed_upload_can_be_retried(emulator: Emulator, api: httpx.Client) -> None:
    reserved = _reserve(api, emulator, file_name="a.png", content_type="image/png")
    _send(reserved["upload"], b"garbage")
    failed = api.post(f"/assets/{reserved['asset_id']}/complete").json()
    assert failed["status"] == "failed" and failed["failure_message"]
    fresh = api.post(f"/assets/{reserved['asset_id']}/retry").json()
    assert fresh["status"] == "pending_upload" and fresh["failure_message"] is None
    _send(fresh["upload"], png())
    assert api.post(f"/assets/{reserved['asset_id']}/complete").json()["status"] == "ready"


def test_the_json_body_follows_the_spec(emulator: Emulator, api: httpx.Client) -> None:
    base = {"source": "signed-url", "workspace_id": emulator.workspace_id}
    extra = api.post("/assets", json={**base, "project_id": emulator.project_id})
    assert fields_of(extra) == {"project_id": "Unrecognized key"}
    assert fields_of(api.post("/assets", json={})) == {
        "source": "Required",
        "workspace_id": "Required",
    }
    fetch = api.post("/assets", json={**base, "source": "https://example.invalid/a.png"})
    assert fetch.status_code == 201 and fetch.json()["uploaded_via"] == "url"
    asset_id = fetch.json()["asset_id"]
    deadline = time.monotonic() + 30
    while (got := api.get(f"/assets/{asset_id}").json())["status"] == "pending_upload":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert got["status"] == "failed" and "no internet" in got["failure_message"]
    loopback = api.post("/assets", json={**base, "source": "https://127.0.0.1/a.png"})
    assert "loopback" in fields_of(loopback)["source"]
    local = api.post("/assets", json={**base, "source": "/home/me/a.png"})
    assert "signed-url" in fields_of(local)["source"]
    bad_type = api.post("/assets", json={**base, "content_type": "text/plain"})
    assert "content_type" in fields_of(bad_type)
    assert api.post("/assets", json={**base, "workspace_id": "ws_x"}).status_code == 403


def test_list_assets_newest_first_with_filters(emulator: Emulator, api: httpx.Client) -> None:
    first = upload(api, emulator, png(), "first.png")
    second = upload(api, emulator, png(), "second.png")
    reserved = _reserve(api, emulator, file_name="third.png")
    body = api.get("/assets", params={"limit": 2}).json()
    assert [a["asset_id"] for a in body["assets"]] == [reserved["asset_id"], second["asset_id"]]
    assert isinstance(body["assets"][0]["created_at"], int)
    rest = api.get("/assets", params={"cursor": body["meta"]["next_cursor"]}).json()
    assert [a["asset_id"] for a in rest["assets"]] == [first["asset_id"]]
    assert rest["meta"]["next_cursor"] is None
    found = api.get("/assets", params={"query": "SECOND"}).json()["assets"]
    assert [a["name"] for a in found] == ["second.png"]


def _chunks(total: int, size: int = 256 * 1024) -> Iterator[bytes]:
    block = bytes(range(256)) * (size // 256)
    for _ in range(total // size):
        yield block


def test_a_large_upload_streams_to_disk_not_memory(emulator: Emulator, api: httpx.Client) -> None:
    """64 MiB through the signed-upload target, with far less than that allocated."""
    total = 64 * 1024 * 1024
    target = _reserve(api, emulator, file_name="big.mp4", content_type="video/mp4")["upload"]
    boundary = "emulator-test-boundary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in target["form_fields"].items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
        "Content-Type: video/mp4\r\n\r\n"
    )

    def body() -> Iterator[bytes]:
        yield head.encode()
        yield from _chunks(total)
        yield f"\r\n--{boundary}--\r\n".encode()

    tracemalloc.start()
    try:
        response = httpx.post(
            target["url"],
            content=body(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            timeout=60,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert response.json()["size"] == total
    assert peak < 16 * 1024 * 1024
    assert emulator.stats.bytes_uploaded == total


def test_an_asset_created_in_process_is_ready(emulator: Emulator) -> None:
    image = io.BytesIO()
    Image.new("RGB", (8, 8)).save(image, "PNG")
    asset = emulator.create_asset(image.getvalue(), file_name="seed.png")
    assert asset["status"] == "ready" and (asset["width"], asset["height"]) == (8, 8)
    assert httpx.get(asset["url"]).content == image.getvalue()
