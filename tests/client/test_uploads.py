"""Uploads: the direct path up to 4 MiB, the signed path above, renewals, streaming."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from floradrop.errors import JobError
from floradrop.flora import FloraClient, UploadError
from floradrop.flora.errors import AssetFailedError
from floradrop.flora.uploads import DIRECT_LIMIT

from .conftest import BASE, KEY, FakeFlora, Sleeps, ok

STORAGE = "https://storage.test/upload/tok1"
STORAGE2 = "https://storage.test/upload/tok2"


def asset(status: str = "ready", **extra: Any) -> dict[str, Any]:
    return {
        "asset_id": "asset_1",
        "status": status,
        "uploaded_via": "direct",
        "url": "https://ik.test/asset_1.png",
        "workspace_id": "ws_a",
        "visibility": "workspace",
        **extra,
    }


def future(seconds: float = 900) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


def reservation(url: str = STORAGE, expires_at: str | None = None, **extra: Any) -> dict[str, Any]:
    return asset(
        "pending_upload",
        uploaded_via="signed_url",
        upload={
            "url": url,
            "method": "POST",
            "content_type": "multipart/form-data",
            "file_field": "file",
            "form_fields": {"key": "uploads/asset_1", "policy": "p0l1cy"},
        },
        expires_at=expires_at or future(),
        **extra,
    )


def make_file(tmp_path: Path, size: int, name: str = "photo.png") -> Path:
    path = tmp_path / name
    block = bytes(range(256)) * 4096  # 1 MiB of a repeating pattern
    with path.open("wb") as out:
        remaining = size
        while remaining:
            out.write(block[: min(remaining, len(block))])
            remaining -= min(remaining, len(block))
    return path


def multipart_parts(seen_body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, value) of a multipart body (small bodies only)."""
    boundary = content_type.split("boundary=")[1].encode()
    parts: dict[str, tuple[str | None, bytes]] = {}
    for chunk in seen_body.split(b"--" + boundary)[1:-1]:
        head, _, value = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            line
            for line in head.decode().split("\r\n")
            if line.lower().startswith("content-disposition")
        )
        name = disposition.split('name="')[1].split('"')[0]
        filename = (
            disposition.split('filename="')[1].split('"')[0] if "filename=" in disposition else None
        )
        parts[name] = (filename, value)
    return parts


def field_order(seen_body: bytes) -> list[str]:
    return [part.split(b'"')[0].decode() for part in seen_body.split(b'form-data; name="')[1:]]


def test_small_file_goes_direct_as_multipart(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    path = make_file(tmp_path, 1024)
    fake.on("POST", "/assets", ok(asset(), 201))
    progress: list[tuple[int, int]] = []
    result = client.upload_file(
        path, workspace_id="ws_a", idempotency_key="up-1", on_progress=lambda *a: progress.append(a)
    )
    assert result.ready
    assert result.url == "https://ik.test/asset_1.png"
    [post] = fake.seen
    assert post.headers["idempotency-key"] == "up-1"
    assert post.headers["authorization"] == f"Bearer {KEY}"
    parts = multipart_parts(post.body, post.headers["content-type"])
    assert parts["workspace_id"] == (None, b"ws_a")
    assert parts["file_name"] == (None, b"photo.png")
    assert parts["content_type"] == (None, b"image/png")
    assert parts["file"] == ("photo.png", path.read_bytes())
    assert "source" not in parts
    assert progress[-1] == (1024, 1024)


def test_exactly_4_mib_is_still_direct(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    path = make_file(tmp_path, DIRECT_LIMIT, "clip.mp4")
    fake.on("POST", "/assets", ok(asset(), 201))
    client.upload_file(path, workspace_id="ws_a", idempotency_key="k")
    assert "multipart/form-data" in fake.seen[0].headers["content-type"]


def test_direct_upload_polls_until_ready(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(asset("pending_upload"), 201))
    fake.on("GET", "/assets/asset_1", ok(asset("pending_upload")), ok(asset("ready")))
    result = client.upload_file(make_file(tmp_path, 10), workspace_id="ws_a", idempotency_key="k")
    assert result.ready
    assert len(fake.requests_to("GET", "/assets/asset_1")) == 2
    assert sleeps.calls == [1.0, 1.0]


def test_direct_upload_retry_resends_the_whole_file_with_the_same_key(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    path = make_file(tmp_path, 3000)
    fake.on("POST", "/assets", httpx.Response(503), httpx.ReadError("reset"), ok(asset(), 201))
    client.upload_file(path, workspace_id="ws_a", idempotency_key="same")
    posts = fake.requests_to("POST", "/assets")
    assert len(posts) == 3
    assert {p.headers["idempotency-key"] for p in posts} == {"same"}
    for post in posts:
        assert (
            multipart_parts(post.body, post.headers["content-type"])["file"][1] == path.read_bytes()
        )


def test_large_file_uses_a_signed_upload_without_the_key(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    path = make_file(tmp_path, DIRECT_LIMIT + 1, "movie.mp4")
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(204))
    fake.on("POST", "/assets/asset_1/complete", ok(asset("ready", uploaded_via="signed_url")))
    result = client.upload_file(path, workspace_id="ws_a", idempotency_key="big")
    assert result.ready

    create, upload, complete = fake.seen
    assert create.json() == {
        "source": "signed-url",
        "workspace_id": "ws_a",
        "file_name": "movie.mp4",
        "content_type": "video/mp4",
    }
    assert create.headers["idempotency-key"] == "big"
    assert create.headers["authorization"] == f"Bearer {KEY}"

    assert upload.url == httpx.URL(STORAGE)
    assert "authorization" not in upload.headers
    assert "idempotency-key" not in upload.headers
    assert field_order(upload.body) == ["key", "policy", "file"], "form fields go before the file"
    parts = multipart_parts(upload.body, upload.headers["content-type"])
    assert parts["file"] == ("movie.mp4", path.read_bytes())
    assert parts["policy"] == (None, b"p0l1cy")

    assert complete.body == b""
    assert complete.headers["idempotency-key"] == "big:complete:0"
    assert complete.headers["authorization"] == f"Bearer {KEY}"


def test_signed_upload_by_put_sends_raw_bytes(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    path = make_file(tmp_path, DIRECT_LIMIT + 10, "scan.pdf")
    put_url = "https://bucket.test/obj?X-Signature=abc"
    fake.on(
        "POST", "/assets", ok(asset("pending_upload", upload_url=put_url, expires_at=future()), 201)
    )
    fake.on("PUT", "https://bucket.test/obj", httpx.Response(200))
    fake.on("POST", "/assets/asset_1/complete", ok(asset("ready")))
    client.upload_file(path, workspace_id="ws_a", idempotency_key="k")
    put = fake.seen[1]
    assert put.method == "PUT"
    assert put.url.params["X-Signature"] == "abc"
    assert put.headers["content-type"] == "application/pdf"
    assert put.headers["content-length"] == str(DIRECT_LIMIT + 10)
    assert "authorization" not in put.headers
    assert put.body == path.read_bytes()


def test_expired_reservation_gets_fresh_instructions_first(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    fake.on("POST", "/assets", ok(reservation(expires_at=past), 201))
    fake.on("POST", "/assets/asset_1/retry", ok(reservation(url=STORAGE2)))
    fake.on("POST", STORAGE2, httpx.Response(201))
    fake.on("POST", "/assets/asset_1/complete", ok(asset("ready")))
    client.upload_file(
        make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
    )
    assert [(s.method, s.url.path) for s in fake.seen] == [
        ("POST", "/api/v1/assets"),
        ("POST", "/api/v1/assets/asset_1/retry"),
        ("POST", "/upload/tok2"),
        ("POST", "/api/v1/assets/asset_1/complete"),
    ]
    assert fake.seen[1].headers["idempotency-key"] == "k:retry:1"
    assert fake.seen[3].headers["idempotency-key"] == "k:complete:1"


def test_target_refusal_asks_for_a_fresh_reservation(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(403, text="<Error>Request has expired</Error>"))
    fake.on("POST", "/assets/asset_1/retry", ok(reservation(url=STORAGE2)))
    fake.on("POST", STORAGE2, httpx.Response(204))
    fake.on("POST", "/assets/asset_1/complete", ok(asset("ready")))
    client.upload_file(
        make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
    )
    assert len(fake.requests_to("POST", "/upload/tok1")) == 1, (
        "a 4xx from the target is not retried"
    )
    assert len(fake.requests_to("POST", "/upload/tok2")) == 1


def test_failed_asset_is_uploaded_again(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(204))
    fake.on("POST", "/assets/asset_1/complete", ok(asset("pending_upload")), ok(asset("ready")))
    fake.on("GET", "/assets/asset_1", ok(asset("failed", failure_message="checksum mismatch")))
    fake.on("POST", "/assets/asset_1/retry", ok(reservation()))
    assert client.upload_file(
        make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
    ).ready
    assert [s.headers.get("idempotency-key") for s in fake.seen if s.method == "POST"] == [
        "k",
        None,  # the storage target
        "k:complete:0",
        "k:retry:1",
        None,
        "k:complete:1",
    ]


def test_complete_conflict_reads_the_real_state(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(204))
    fake.on(
        "POST",
        "/assets/asset_1/complete",
        httpx.Response(
            409, json={"error": {"code": "conflict", "message": "Asset already ready."}}
        ),
    )
    fake.on("GET", "/assets/asset_1", ok(asset("ready")))
    assert client.upload_file(
        make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
    ).ready


def test_refused_complete_on_a_pending_asset_renews_the_reservation(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(204))
    fake.on(
        "POST",
        "/assets/asset_1/complete",
        httpx.Response(
            400,
            json={
                "error": {
                    "code": "input_validation_error",
                    "message": "No file was uploaded for asset asset_1.",
                    "fields": [{"field": "asset_id", "message": "No file was uploaded"}],
                }
            },
        ),
        ok(asset("ready")),
    )
    fake.on("GET", "/assets/asset_1", ok(asset("pending_upload")))
    fake.on("POST", "/assets/asset_1/retry", ok(reservation(url=STORAGE2)))
    fake.on("POST", STORAGE2, httpx.Response(204))
    assert client.upload_file(
        make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
    ).ready
    assert [(s.method, s.url.path) for s in fake.seen] == [
        ("POST", "/api/v1/assets"),
        ("POST", "/upload/tok1"),
        ("POST", "/api/v1/assets/asset_1/complete"),
        ("GET", "/api/v1/assets/asset_1"),
        ("POST", "/api/v1/assets/asset_1/retry"),
        ("POST", "/upload/tok2"),
        ("POST", "/api/v1/assets/asset_1/complete"),
    ]
    assert sleeps.calls == [], "a refused complete is not waited on"


def test_renewals_are_bounded(fake: FakeFlora, client: FloraClient, tmp_path: Path) -> None:
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(400))
    fake.on("POST", "/assets/asset_1/retry", ok(reservation()))
    with pytest.raises(UploadError, match="3 fresh upload reservations") as info:
        client.upload_file(
            make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
        )
    assert "HTTP 400" in info.value.message
    assert len(fake.requests_to("POST", "/assets/asset_1/retry")) == 3


def test_asset_never_ready_times_out(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(asset("pending_upload"), 201))
    fake.on("GET", "/assets/asset_1", ok(asset("pending_upload")))
    with pytest.raises(UploadError, match="not ready after 3 s"):
        client.upload_file(
            make_file(tmp_path, 10), workspace_id="ws_a", idempotency_key="k", ready_timeout=3
        )
    assert len(sleeps.calls) <= 3


def test_direct_asset_failure_is_reported(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(asset("failed", failure_message="unsupported type"), 201))
    with pytest.raises(AssetFailedError, match="unsupported type") as info:
        client.upload_file(make_file(tmp_path, 10), workspace_id="ws_a", idempotency_key="k")
    assert isinstance(info.value, JobError), "FLORA's verdict on the bytes fails the file"


def test_target_server_errors_are_retried_then_reported(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(503))
    with pytest.raises(UploadError, match="HTTP 503"):
        client.upload_file(
            make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
        )
    assert len(fake.requests_to("POST", "/upload/tok1")) == 5
    assert fake.requests_to("POST", "/complete") == []


def test_plain_http_upload_target_is_refused(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("POST", "/assets", ok(reservation(url="http://storage.test/upload"), 201))
    with pytest.raises(UploadError, match="plain http"):
        client.upload_file(
            make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="k"
        )
    assert len(fake.seen) == 1


def test_missing_file_is_a_job_error(client: FloraClient, tmp_path: Path) -> None:
    with pytest.raises(JobError, match=r"gone\.png"):
        client.upload_file(tmp_path / "gone.png", workspace_id="ws_a", idempotency_key="k")


def test_signed_upload_streams_the_file(tmp_path: Path, sleeps: Sleeps) -> None:
    """A 24 MiB upload never holds the file in memory: the peak stays far below its size."""
    size = 24 * 1024 * 1024
    path = make_file(tmp_path, size, "big.mov")
    received: dict[str, int] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "storage.test":
            assert isinstance(request.stream, httpx.SyncByteStream)
            received["bytes"] = sum(len(chunk) for chunk in request.stream)
            return httpx.Response(204)
        request.read()
        if request.url.path.endswith("/complete"):
            return ok(asset("ready"))
        return httpx.Response(201, content=json.dumps(reservation()).encode())

    class StreamingTransport(httpx.BaseTransport):
        """Like MockTransport, but without reading the whole request body first."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            return handler(request)

    with FloraClient(KEY, base_url=BASE, transport=StreamingTransport(), sleep=sleeps) as c:
        already_tracing = tracemalloc.is_tracing()
        if not already_tracing:
            tracemalloc.start()
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        try:
            c.upload_file(path, workspace_id="ws_a", idempotency_key="k")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            if not already_tracing:
                tracemalloc.stop()
    assert received["bytes"] > size
    grown = peak - baseline
    assert grown < 4 * 1024 * 1024, f"peak grew {grown} bytes for a {size}-byte upload"
