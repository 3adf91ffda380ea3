"""Base URL and key resolution, and the rule that the key goes to the API and nowhere else."""

from __future__ import annotations

import httpx
import pytest

from floradrop import __version__
from floradrop.errors import ConfigError
from floradrop.flora import DEFAULT_BASE_URL, AuthenticationError, FloraClient
from floradrop.flora.endpoint import Endpoint, is_loopback_host

from .conftest import BASE, KEY, FakeFlora, ok

WORKSPACES = ok({"workspaces": []})


def test_base_url_argument_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert FloraClient().base_url == DEFAULT_BASE_URL == "https://app.flora.ai/api/v1"
    monkeypatch.setenv("FLORA_BASE_URL", "http://127.0.0.1:9999/api/v1/")
    assert FloraClient().base_url == "http://127.0.0.1:9999/api/v1"
    assert FloraClient(base_url="https://other.test/api/v1").base_url == "https://other.test/api/v1"


def test_key_from_argument_or_environment_stripped(
    fake: FakeFlora, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.on("GET", "/workspaces", WORKSPACES)
    monkeypatch.setenv("FLORA_API_KEY", f"  {KEY}\n")
    with FloraClient(base_url=BASE, transport=fake.transport) as client:
        client.list_workspaces()
    with FloraClient(" sk_live_fromArgument1 ", base_url=BASE, transport=fake.transport) as client:
        client.list_workspaces()
    with FloraClient("Bearer sk_live_pasted123", base_url=BASE, transport=fake.transport) as client:
        client.list_workspaces()
    assert [s.headers["authorization"] for s in fake.seen] == [
        f"Bearer {KEY}",
        "Bearer sk_live_fromArgument1",
        "Bearer sk_live_pasted123",
    ]


def test_missing_key_fails_at_the_first_api_request_without_sending(fake: FakeFlora) -> None:
    fake.on("GET", "/workspaces", WORKSPACES)
    client = FloraClient(base_url=BASE, transport=fake.transport)
    assert not client.has_api_key
    with client, pytest.raises(AuthenticationError) as info:
        client.list_workspaces()
    assert "FLORA_API_KEY" in info.value.hint  # type: ignore[operator]
    assert "floradrop init" in info.value.hint  # type: ignore[operator]
    assert fake.seen == []


@pytest.mark.parametrize(
    "url",
    ["http://app.flora.ai/api/v1", "http://192.168.1.5:8000/api/v1", "http://localhost.evil.test/"],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="plain http"):
        FloraClient(KEY, base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8123/api/v1",
        "http://127.5.0.1/api/v1",
        "http://[::1]:80/api/v1",
        "http://localhost:1/x",
    ],
)
def test_plain_http_to_loopback_is_allowed(url: str) -> None:
    FloraClient(KEY, base_url=url).close()


@pytest.mark.parametrize(
    "url", ["ftp://app.flora.ai/api/v1", "app.flora.ai/api/v1", "https://user:pw@app.flora.ai/v1"]
)
def test_bad_base_urls_are_config_errors(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLORA_BASE_URL", url)
    with pytest.raises(ConfigError) as info:
        FloraClient(KEY)
    assert "FLORA_BASE_URL" in info.value.message
    assert "pw" not in info.value.message


def test_is_api_url_checks_origin_and_path_prefix() -> None:
    endpoint = Endpoint.resolve(KEY, "https://app.flora.ai/api/v1")
    assert endpoint.is_api_url("https://app.flora.ai/api/v1")
    assert endpoint.is_api_url("https://app.flora.ai/api/v1/techniques/x/runs/run_1?a=b")
    assert endpoint.is_api_url("https://app.flora.ai:443/api/v1/runs/run_1")
    assert not endpoint.is_api_url("https://app.flora.ai/api/v10/runs")
    assert not endpoint.is_api_url("https://app.flora.ai/_storage/upload/abc")
    assert not endpoint.is_api_url("http://app.flora.ai/api/v1/runs")
    assert not endpoint.is_api_url("https://app.flora.ai:8443/api/v1/runs")
    assert not endpoint.is_api_url("https://media.flora.ai/api/v1/runs")
    assert not endpoint.is_api_url("https://app.flora.ai.evil.test/api/v1/runs")


def test_loopback_hosts() -> None:
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("127.9.9.9")
    assert is_loopback_host("[::1]")
    assert is_loopback_host("LOCALHOST")
    assert not is_loopback_host("10.0.0.1")
    assert not is_loopback_host("localhost.example")


def test_requests_carry_user_agent_and_custom_headers(
    fake: FakeFlora, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "FLORA_CUSTOM_HEADERS",
        "X-Team: studio\nbad line\nAuthorization: Bearer stolen\nX-Trace:  abc ",
    )
    fake.on("GET", "/workspaces", WORKSPACES)
    with FloraClient(KEY, base_url=BASE, transport=fake.transport) as client:
        client.list_workspaces()
    headers = fake.seen[0].headers
    assert headers["user-agent"] == f"floradrop/{__version__} (+python-httpx/{httpx.__version__})"
    assert headers["x-team"] == "studio"
    assert headers["x-trace"] == "abc"
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["accept"] == "application/json"


def test_repr_never_shows_the_key() -> None:
    client = FloraClient(KEY, base_url=BASE)
    endpoint = Endpoint.resolve(KEY, BASE)
    assert KEY not in repr(client)
    assert KEY not in repr(endpoint)
    assert KEY not in str(vars(client))
    assert "api_key=<set>" in repr(client)
    client.close()


def test_timeouts_are_finite(fake: FakeFlora) -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={"workspaces": []})

    with FloraClient(KEY, base_url=BASE, transport=httpx.MockTransport(handler)) as client:
        client.list_workspaces()
    assert seen[0] == {"connect": 10.0, "read": 30.0, "write": 30.0, "pool": 30.0}
