"""The API key goes only to the API, and never into logs, errors or reprs."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from floradrop.flora import FloraClient, FloraError, RunInput
from floradrop.flora.errors import redact
from floradrop.flora.uploads import DIRECT_LIMIT

from .conftest import KEY, FakeFlora, error, ok
from .test_uploads import STORAGE, asset, make_file, reservation


def test_redact_removes_keys_tokens_and_secrets() -> None:
    text = f"key {KEY} header Authorization: Bearer abc.def other sk_test_zzzz1234 whsec_abcdef12"
    cleaned = redact(text, KEY)
    assert KEY not in cleaned
    assert "abc.def" not in cleaned
    assert "sk_test_zzzz1234" not in cleaned
    assert "whsec_abcdef12" not in cleaned


def test_key_never_in_logs_or_errors_across_a_session(
    fake: FakeFlora,
    client: FloraClient,
    tmp_path: Path,
    logs: list[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.on("GET", "/workspaces", error(401, "invalid_api_key", f"Bad key {KEY}"))
    fake.on("GET", "/techniques/cctv-cam", httpx.ReadError(f"reset while sending {KEY}"))
    fake.on("POST", "/techniques/cctv-cam/runs", error(503, "service_unavailable"))
    fake.on("POST", "/assets", ok(reservation(), 201))
    fake.on("POST", STORAGE, httpx.Response(204))
    fake.on("POST", "/assets/asset_1/complete", ok(asset("ready")))
    fake.on("GET", "https://media.test/o.png", httpx.Response(200, content=b"png"))

    errors: list[FloraError] = []
    for call in (
        client.list_workspaces,
        lambda: client.get_technique("cctv-cam"),
        lambda: client.start_run("cctv-cam", [RunInput("p", "text", "x")], idempotency_key="k"),
    ):
        with pytest.raises(FloraError) as info:
            call()
        errors.append(info.value)
    client.upload_file(
        make_file(tmp_path, DIRECT_LIMIT + 1), workspace_id="ws_a", idempotency_key="u"
    )
    client.download("https://media.test/o.png", tmp_path / "o.png")

    assert logs, "the client logs its requests at debug level"
    everything = "\n".join(
        [*logs, caplog.text, *(f"{e} {e!r} {e.describe()} {e.__cause__}" for e in errors)]
    )
    assert KEY not in everything
    api = [s for s in fake.seen if s.url.host == "api.flora.test"]
    others = [s for s in fake.seen if s.url.host != "api.flora.test"]
    assert api
    assert all(s.headers["authorization"] == f"Bearer {KEY}" for s in api)
    assert {s.url.host for s in others} == {"storage.test", "media.test"}
    assert all(KEY not in str(s.headers) and "authorization" not in s.headers for s in others)
    assert all(KEY.encode() not in s.body for s in fake.seen)


def test_log_lines_hold_no_query_strings(
    fake: FakeFlora, client: FloraClient, logs: list[str], tmp_path: Path
) -> None:
    fake.on("GET", "https://media.test/o.png", httpx.Response(200, content=b"x"))
    client.download("https://media.test/o.png?X-Amz-Signature=s3cr3t", tmp_path / "o.png")
    assert logs
    assert all("s3cr3t" not in line for line in logs)
