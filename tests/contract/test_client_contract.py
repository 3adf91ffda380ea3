"""Every request floradrop's FLORA client sends matches the documents, and so does each answer.

The real :class:`~floradrop.flora.FloraClient` runs against a recording emulator through every
method the daemon uses, including its error paths (400, 401, 404, 409, 429, 500) and both
upload paths. Each API exchange is validated with openapi-core; uploads and downloads are
checked for never carrying the API key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from flora_emulator import Emulator, Exchange
from floradrop.flora import FloraClient
from floradrop.flora.errors import (
    AssetFailedError,
    AuthenticationError,
    IdempotencyDuplicateError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ValidationError,
)
from floradrop.flora.models import RunInput
from tests.contract import spec


def _photo(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, (30, 160, 90)).save(path, "PNG")
    return path


def _large_photo(path: Path) -> Path:
    """A real PNG above the 4 MiB direct limit (noise does not compress)."""
    import random

    rng = random.Random(1)
    Image.frombytes("RGB", (1400, 1100), rng.randbytes(1400 * 1100 * 3)).save(path, "PNG")
    assert path.stat().st_size > 4 * 1024 * 1024
    return path


def _finish(client: FloraClient, run_id: str, technique: str | None = None) -> None:
    for _ in range(2000):
        if client.get_run(run_id, technique=technique).terminal:
            return
    raise AssertionError(f"run {run_id} never finished")


def _client(emulator: Emulator, **kwargs: object) -> FloraClient:
    return FloraClient(
        emulator.api_key,
        base_url=emulator.base_url,
        sleep=lambda seconds: None,  # retries and polls without waiting
        **kwargs,  # type: ignore[arg-type]
    )


def _drive(emulator: Emulator, tmp_path: Path) -> None:
    ws = emulator.workspace_id
    with _client(emulator) as client:
        [workspace] = client.list_workspaces()
        assert workspace.workspace_id == ws
        assert len(client.list_techniques(page_size=2)) == 7
        assert client.list_techniques(workspace_id=ws, query="palette")
        cctv = client.get_technique("cctv-cam")
        assert client.get_technique(cctv.technique_id) == cctv

        small = client.upload_file(
            _photo(tmp_path / "small.png"), workspace_id=ws, idempotency_key="up-1"
        )
        assert small.ready and small.uploaded_via == "direct"
        large = client.upload_file(
            _large_photo(tmp_path / "large.png"), workspace_id=ws, idempotency_key="up-2"
        )
        assert large.ready
        assert client.get_asset(large.asset_id).uploaded_via == "signed_url"

        image = RunInput("input_image", "imageUrl", small.url or "")
        run = client.start_run(
            "cctv-cam", [image, RunInput("prompt", "text", "CAM 7")], idempotency_key="run-1"
        )
        _finish(client, run.run_id, "cctv-cam")
        done = client.get_run(run.run_id, poll_url=run.poll_url)
        assert done.succeeded
        result = client.download(done.outputs[0].url, tmp_path / "out.png")
        assert result.content_type == "image/png"
        top = client.start_run_top_level(
            cctv.technique_id, ws, {"input_image": small.url or ""}, idempotency_key="run-2"
        )
        _finish(client, top.run_id)
        critique = client.start_run("art-directors-critique", [image], idempotency_key="run-3")
        _finish(client, critique.run_id)
        failing = client.start_run("sigil", [image], idempotency_key="run-4")
        _finish(client, failing.run_id, "sigil")
        listed = list(client.iter_technique_runs(workspace_id=ws, page_size=2))
        assert listed[0].run_id == failing.run_id  # newest first
        assert list(client.iter_technique_runs(technique_id=cctv.technique_id, status="completed"))

        # Error paths, as the client meets them.
        with pytest.raises(IdempotencyDuplicateError):
            client.start_run("cctv-cam", [image], idempotency_key="run-1")
        with pytest.raises(ValidationError) as invalid:
            client.start_run("cctv-cam", [RunInput("nope", "text", "x")], idempotency_key="run-5")
        assert {f.field for f in invalid.value.fields} == {"inputs.0.id", "inputs"}
        with pytest.raises(NotFoundError):
            client.get_technique("no-such-technique")
        with pytest.raises(NotFoundError):
            client.get_run("run_000000")
        emulator.rate_limit_rate = 1.0
        with pytest.raises(RateLimitedError):
            client.list_workspaces()
        emulator.rate_limit_rate = 0.0
        emulator.error_rate = 1.0
        with pytest.raises(ServerError):
            client.get_asset(small.asset_id)
        emulator.error_rate = 0.0

        # A file that is not the image it claims to be: complete -> failed -> retry (renew).
        broken = tmp_path / "broken.png"
        broken.write_bytes(bytes(5 * 1024 * 1024))
        with pytest.raises(AssetFailedError):  # the same bytes would fail again: a file error
            client.upload_file(broken, workspace_id=ws, idempotency_key="up-3")

    with (
        FloraClient("sk_live_wrong", base_url=emulator.base_url) as stranger,
        pytest.raises(AuthenticationError),
    ):
        stranger.list_workspaces()


def test_the_client_speaks_the_documented_contract(
    contract: spec.Contract,
    recorder: Callable[..., tuple[Emulator, list[Exchange]]],
    tmp_path: Path,
) -> None:
    emulator, exchanges = recorder(seed=5)
    _drive(emulator, tmp_path)

    problems = []
    for exchange in exchanges:
        if exchange.kind != "api" or exchange.route is None:
            continue
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        for check in (contract.validate_request, contract.validate_response):
            try:
                check(exchange)
            except Exception as exc:
                problems.append(f"{where}: {check.__name__}: {exc!r} {exc.__cause__!r}")
    assert problems == []

    api = [e for e in exchanges if e.kind == "api"]
    used = {(e.method, e.route) for e in api}
    assert used >= {
        ("GET", "/workspaces"),
        ("GET", "/techniques"),
        ("GET", "/techniques/{techniqueId}"),
        ("POST", "/techniques/{techniqueId}/runs"),
        ("GET", "/techniques/{techniqueId}/runs/{runId}"),
        ("POST", "/runs/technique"),
        ("GET", "/runs/{runId}"),
        ("GET", "/technique-runs"),
        ("POST", "/assets"),
        ("POST", "/assets/{assetId}/complete"),
        ("POST", "/assets/{assetId}/retry"),
        ("GET", "/assets/{assetId}"),
    }
    assert {400, 401, 404, 409, 429, 500} <= {e.status for e in api}
    assert any(contract.operation_of(e).derived for e in api if e.route == "/assets")
    # Every mutating API request carries an idempotency key.
    assert all(e.request_headers.get("idempotency-key") for e in api if e.method == "POST")
    # The key goes to the API only: never to the upload target, never to the media host.
    off_api = [e for e in exchanges if e.kind != "api"]
    assert {e.kind for e in off_api} == {"storage", "media"}
    assert not [e for e in off_api if "authorization" in e.request_headers]
    assert emulator.stats.requests_with_auth_to_storage == 0
    assert emulator.stats.requests_with_auth_to_media == 0
