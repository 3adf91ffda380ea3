"""Every client method against the emulator over loopback (real sockets, real HTTP/1.1)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from flora_emulator import Emulator, Exchange
from floradrop.flora import (
    AuthenticationError,
    DownloadError,
    FloraClient,
    IdempotencyDuplicateError,
    NotFoundError,
    RequestInfo,
    Run,
    RunInput,
    ValidationError,
)
from floradrop.flora.errors import AssetFailedError
from floradrop.flora.uploads import DIRECT_LIMIT

from .conftest import Sleeps

SLUGS = {
    "cctv-cam",
    "color-transfer",
    "art-directors-critique",
    "palette-pull",
    "icon-pack",
    "product-motion",
    "sigil",
}


@pytest.fixture
def client(emu: Emulator, sleeps: Sleeps) -> Iterator[FloraClient]:
    with FloraClient(emu.api_key, base_url=emu.base_url, sleep=sleeps) as c:
        yield c


def png(path: Path, side: int) -> Path:
    """A PNG of random pixels, stored uncompressed: about 3 * side**2 bytes."""
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, compress_level=0)
    return path


def small_png(tmp_path: Path) -> Path:
    path = png(tmp_path / "small.png", 18)
    assert 900 <= path.stat().st_size <= 1200, path.stat().st_size  # about 1 KB
    return path


def big_png(tmp_path: Path) -> Path:
    path = png(tmp_path / "big.png", 1450)
    assert path.stat().st_size > 6_000_000 > DIRECT_LIMIT
    return path


def wait_for_run(client: FloraClient, run: Run, *, technique: str, timeout: float = 30.0) -> Run:
    deadline = time.monotonic() + timeout
    while not run.terminal:
        assert time.monotonic() < deadline, f"run {run.run_id} did not finish: {run.status}"
        time.sleep(0.05)
        run = client.get_run(run.run_id, technique=technique, poll_url=run.poll_url)
    return run


def exchanges(emu: Emulator, kind: str) -> list[Exchange]:
    return [e for e in emu.exchanges if e.kind == kind]


def test_list_workspaces(emu: Emulator, client: FloraClient) -> None:
    assert [w.workspace_id for w in client.list_workspaces()] == [emu.workspace_id]


def test_list_techniques_follows_every_page(emu: Emulator, client: FloraClient) -> None:
    techniques = client.list_techniques(page_size=2)
    assert len(techniques) == len(SLUGS)
    assert all(t.technique_id.startswith("tech_") and t.inputs and t.outputs for t in techniques)
    pages = [e for e in exchanges(emu, "api") if e.route == "/techniques"]
    assert len(pages) == 4
    assert [e.query.get("cursor") is not None for e in pages] == [False, True, True, True]
    found = [t.name for t in client.list_techniques(query="palette")]
    assert "Palette Pull" in found
    assert len(found) < len(SLUGS)


def test_get_technique_by_slug_and_id(client: FloraClient) -> None:
    by_slug = client.get_technique("cctv-cam")
    assert by_slug.name == "CCTV Cam"
    assert by_slug.run_cost == pytest.approx(0.05)
    assert [(i.id, i.type, i.optional) for i in by_slug.inputs] == [
        ("input_image", "imageUrl", False),
        ("prompt", "text", True),
    ]
    assert client.get_technique(by_slug.technique_id) == by_slug
    with pytest.raises(NotFoundError):
        client.get_technique("no-such-technique")


def test_wrong_key_is_an_authentication_error(emu: Emulator) -> None:
    client = FloraClient("sk_test_wrong_key_123", base_url=emu.base_url)
    with client, pytest.raises(AuthenticationError) as info:
        client.list_workspaces()
    assert info.value.status_code == 401
    assert info.value.request_id


def test_upload_1kb_file_directly(emu: Emulator, client: FloraClient, tmp_path: Path) -> None:
    path = small_png(tmp_path)
    progress: list[tuple[int, int]] = []
    asset = client.upload_file(
        path,
        workspace_id=emu.workspace_id,
        idempotency_key="direct-1",
        on_progress=lambda *a: progress.append(a),
    )
    assert asset.ready
    assert asset.uploaded_via == "direct"
    assert client.get_asset(asset.asset_id).size_bytes == path.stat().st_size
    [create] = [e for e in exchanges(emu, "api") if e.route == "/assets"]
    assert create.request_headers["idempotency-key"] == "direct-1"
    assert create.request_files["file"] == ("small.png", path.stat().st_size)
    assert create.request_form["workspace_id"] == emu.workspace_id
    assert exchanges(emu, "storage") == []
    assert progress[-1] == (path.stat().st_size, path.stat().st_size)
    assert asset.url is not None
    dest = tmp_path / "copy.png"
    client.download(asset.url, dest)
    assert dest.read_bytes() == path.read_bytes()


def test_upload_6mb_file_by_signed_url(emu: Emulator, client: FloraClient, tmp_path: Path) -> None:
    path = big_png(tmp_path)
    asset = client.upload_file(path, workspace_id=emu.workspace_id, idempotency_key="signed-1")
    assert asset.ready
    assert emu.stats.uploads_received == 1
    assert emu.stats.bytes_uploaded == path.stat().st_size
    assert emu.stats.requests_with_auth_to_storage == 0
    routes = [(e.method, e.route) for e in emu.exchanges if e.kind != "media"]
    assert routes == [
        ("POST", "/assets"),
        ("POST", "/_storage/upload/{token}"),
        ("POST", "/assets/{assetId}/complete"),
    ]
    create, upload, complete = (e for e in emu.exchanges if e.kind != "media")
    assert create.request_json["source"] == "signed-url"
    assert create.request_headers["idempotency-key"] == "signed-1"
    assert "authorization" not in upload.request_headers
    assert complete.request_headers["idempotency-key"] == "signed-1:complete:0"
    assert client.get_asset(asset.asset_id).size_bytes == path.stat().st_size
    assert asset.url is not None
    dest = tmp_path / "copy.png"
    client.download(asset.url, dest)
    assert dest.read_bytes() == path.read_bytes()


def test_expired_reservation_is_renewed(emu: Emulator, tmp_path: Path, sleeps: Sleeps) -> None:
    emu.reservation_seconds = 0  # the first reservation is born expired

    def renew_normally(info: RequestInfo) -> None:
        if info.method == "POST" and info.url.endswith("/assets"):
            emu.reservation_seconds = 900

    with FloraClient(
        emu.api_key, base_url=emu.base_url, sleep=sleeps, on_request=renew_normally
    ) as client:
        asset = client.upload_file(
            big_png(tmp_path), workspace_id=emu.workspace_id, idempotency_key="exp-1"
        )
    assert asset.ready
    assert [(e.method, e.route) for e in emu.exchanges if e.kind != "media"] == [
        ("POST", "/assets"),
        ("POST", "/assets/{assetId}/retry"),
        ("POST", "/_storage/upload/{token}"),
        ("POST", "/assets/{assetId}/complete"),
    ]


def test_a_file_that_is_not_the_image_it_claims_fails_the_asset(
    emu: Emulator, client: FloraClient, tmp_path: Path
) -> None:
    path = tmp_path / "fake.png"
    path.write_bytes(b"not a png" * 100)
    with pytest.raises(AssetFailedError, match="not a valid image/png"):
        client.upload_file(path, workspace_id=emu.workspace_id, idempotency_key="bad-1")


def test_run_lifecycle_poll_list_and_download(
    emu: Emulator, client: FloraClient, tmp_path: Path
) -> None:
    asset = client.upload_file(
        small_png(tmp_path), workspace_id=emu.workspace_id, idempotency_key="in-1"
    )
    assert asset.url is not None
    inputs = [
        RunInput("input_image", "imageUrl", asset.url),
        RunInput("prompt", "text", "CAM 01"),
    ]
    run = client.start_run("cctv-cam", inputs, idempotency_key="run-1")
    assert run.run_id.startswith("run_")
    run = wait_for_run(client, run, technique="cctv-cam")
    assert run.succeeded, (run.error_code, run.error_message)
    assert run.charged_cost is None or run.charged_cost >= 0

    assert client.get_run(run.run_id, technique="cctv-cam").status == "completed"
    assert client.get_run(run.run_id).status == "completed"
    [created] = [e for e in exchanges(emu, "api") if e.route == "/techniques/{techniqueId}/runs"]
    assert created.request_headers["idempotency-key"] == "run-1"
    assert created.request_json["idempotency_key"] == "run-1"
    assert created.request_json["mode"] == "async"

    technique_id = client.get_technique("cctv-cam").technique_id
    listed = list(
        client.iter_technique_runs(
            workspace_id=emu.workspace_id, technique_id=technique_id, status="completed"
        )
    )
    assert [r.run_id for r in listed] == [run.run_id]

    [output] = run.outputs
    dest = tmp_path / "out.part"
    result = client.download(output.url, dest)
    assert result.size_bytes == dest.stat().st_size > 0
    assert (result.content_type or "").startswith("image/")
    with Image.open(dest) as image:
        image.verify()
    assert emu.stats.requests_with_auth_to_media == 0


def test_same_key_never_makes_a_second_run(emu: Emulator, client: FloraClient) -> None:
    inputs = [RunInput("prompt", "text", "three owls")]
    first = client.start_run("icon-pack", inputs, idempotency_key="once")
    with pytest.raises(IdempotencyDuplicateError):
        client.start_run("icon-pack", inputs, idempotency_key="once")
    assert emu.stats.runs_created == 1
    assert [r.run_id for r in emu.runs()] == [first.run_id]


def test_lost_response_is_retried_with_the_same_key(emu: Emulator, sleeps: Sleeps) -> None:
    """The run is created but its answer is lost: the retry carries the same key, so FLORA
    refuses a second run and the run can be found by listing."""
    emu.lose_response_rate = 1.0

    def heal(info: RequestInfo) -> None:
        emu.lose_response_rate = 0.0

    with FloraClient(emu.api_key, base_url=emu.base_url, sleep=sleeps, on_request=heal) as client:
        with pytest.raises(IdempotencyDuplicateError):
            client.start_run(
                "icon-pack", [RunInput("prompt", "text", "owls")], idempotency_key="lost"
            )
        [found] = list(client.iter_technique_runs(workspace_id=emu.workspace_id, max_pages=1))
    assert emu.stats.runs_created == 1
    assert found.run_id == emu.runs()[0].run_id
    posts = [e for e in emu.exchanges if e.route == "/techniques/{techniqueId}/runs"]
    assert [e.request_headers["idempotency-key"] for e in posts] == ["lost", "lost"]
    assert len(sleeps.calls) == 1


def test_rate_limit_waits_as_told_then_succeeds(emu: Emulator, sleeps: Sleeps) -> None:
    emu.rate_limit_rate = 1.0
    emu.retry_after_seconds = 2

    def heal(info: RequestInfo) -> None:
        emu.rate_limit_rate = 0.0

    with FloraClient(emu.api_key, base_url=emu.base_url, sleep=sleeps, on_request=heal) as client:
        assert len(client.list_workspaces()) == 1
    assert sleeps.calls == [2.0]


def test_top_level_run(emu: Emulator, client: FloraClient) -> None:
    technique = client.get_technique("icon-pack")
    run = client.start_run_top_level(
        technique.technique_id, emu.workspace_id, {"prompt": "a fox"}, idempotency_key="top-1"
    )
    assert run.run_id.startswith("run_")
    assert run.technique_id == technique.technique_id
    run = wait_for_run(client, run, technique="icon-pack")
    assert run.succeeded
    assert len(run.outputs) == 4


def test_invalid_inputs_name_the_field(client: FloraClient) -> None:
    with pytest.raises(ValidationError) as info:
        client.start_run("cctv-cam", [RunInput("prompt", "text", "x")], idempotency_key="v-1")
    assert info.value.fields
    assert any("input" in f.field for f in info.value.fields)


def test_download_over_the_limit_leaves_nothing(
    emu: Emulator, client: FloraClient, tmp_path: Path
) -> None:
    asset = client.upload_file(
        small_png(tmp_path), workspace_id=emu.workspace_id, idempotency_key="lim-1"
    )
    assert asset.url is not None
    dest = tmp_path / "o.part"
    with pytest.raises(DownloadError):
        client.download(asset.url, dest, max_bytes=100)
    assert not dest.exists()


def test_key_never_reaches_storage_or_media_nor_logs(
    emu: Emulator,
    client: FloraClient,
    tmp_path: Path,
    logs: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = emu.api_key
    small = client.upload_file(
        small_png(tmp_path), workspace_id=emu.workspace_id, idempotency_key="k-1"
    )
    client.upload_file(big_png(tmp_path), workspace_id=emu.workspace_id, idempotency_key="k-2")
    assert small.url is not None
    run = client.start_run(
        "palette-pull", [RunInput("input_image", "imageUrl", small.url)], idempotency_key="k-3"
    )
    run = wait_for_run(client, run, technique="palette-pull")
    for n, output in enumerate(o for o in run.outputs if not o.is_text):
        client.download(output.url, tmp_path / f"out-{n}")
    with pytest.raises(NotFoundError) as info:
        client.get_technique("missing")

    api, storage, media = (exchanges(emu, kind) for kind in ("api", "storage", "media"))
    assert api and storage and media
    assert all(e.request_headers.get("authorization") == f"Bearer {key}" for e in api)
    for exchange in storage + media:
        assert "authorization" not in exchange.request_headers
        assert key not in repr(exchange.request_headers)
        assert key.encode() not in (exchange.request_body or b"")
    assert emu.stats.requests_with_auth_to_storage == 0
    assert emu.stats.requests_with_auth_to_media == 0

    assert logs
    text = "\n".join([*logs, caplog.text, info.value.describe(), repr(info.value), repr(client)])
    assert key not in text
