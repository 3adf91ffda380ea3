"""The emulator as an object: start, stop, threads, data directory, stats and recording."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from flora_emulator import Emulator, Exchange
from tests.emulator.helpers import api_client, image_input, png, run_until_done, start, upload


def _emulator_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("emulator-")]


def test_start_serves_and_stop_cleans_up() -> None:
    emulator = Emulator()
    assert emulator.start() is emulator
    assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/api/v1"
    data_dir = emulator.data_dir
    with api_client(emulator) as api:  # a keep-alive connection stays open across stop()
        asset = upload(api, emulator, png())
        run_until_done(api, start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"])
        emulator.stop()
    assert not data_dir.exists()
    assert not _emulator_threads()
    with pytest.raises(httpx.ConnectError):
        httpx.get(emulator.base_url + "/workspaces")
    emulator.stop()  # idempotent


def test_context_manager_and_a_given_data_dir_is_kept(tmp_path: Path) -> None:
    with Emulator(data_dir=tmp_path / "emu") as emulator, api_client(emulator) as api:
        upload(api, emulator, png(), "kept.png")
    assert list((tmp_path / "emu" / "media").glob("asset_*/kept.png"))
    assert not _emulator_threads()


def test_many_emulators_side_by_side(emulator_factory: Callable[..., Emulator]) -> None:
    emulators = [emulator_factory(seed=n) for n in range(3)]
    assert len({e.port for e in emulators}) == 3
    for emulator in emulators:
        with api_client(emulator) as api:
            assert api.get("/workspaces").json()["workspaces"][0]["workspace_id"] == (
                emulator.workspace_id
            )


def test_a_busy_port_raises_oserror(emulator: Emulator) -> None:
    with pytest.raises(OSError):
        Emulator(port=emulator.port).start()


def test_stop_ends_a_half_sent_request() -> None:
    emulator = Emulator().start()
    with socket.create_connection(("127.0.0.1", emulator.port)) as conn:
        conn.sendall(b"POST /api/v1/assets HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        emulator.stop()
    assert not _emulator_threads()


def test_stats_count_requests_runs_and_keys_sent_to_media(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, png())
    run_until_done(api, start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"])
    run_until_done(api, start(api, "sigil", [image_input(asset["url"])]).json()["run_id"])
    httpx.get(asset["url"])
    httpx.get(asset["url"], headers={"Authorization": "Bearer leaked"})
    stats = emulator.stats
    assert stats.runs_created == 2
    assert stats.runs_by_technique == {"cctv-cam": 1, "sigil": 1}
    assert stats.requests[("POST", "/techniques/{techniqueId}/runs")] == 2
    assert stats.requests[("GET", "/_media/{owner}/{name}")] == 2
    assert stats.requests_with_auth_to_media == 1
    assert stats.requests_with_auth_to_storage == 0
    records = emulator.runs()
    assert [r.technique for r in records] == ["cctv-cam", "sigil"]
    assert records[0].inputs == {"input_image": asset["url"]}
    assert records[0].technique_id.startswith("tech_")


def test_recording_keeps_each_exchange() -> None:
    record: list[Exchange] = []
    with Emulator(record=record) as emulator, api_client(emulator) as api:
        api.get("/techniques", params={"limit": 2})
        upload(api, emulator, png(), "r.png")
        assert emulator.exchanges is record
    listing, created = record
    assert (listing.kind, listing.method, listing.route) == ("api", "GET", "/techniques")
    assert listing.query == {"limit": ("2",)}
    assert listing.status == 200 and listing.response_json["meta"]["next_cursor"]
    assert listing.request_headers["authorization"].startswith("Bearer ")
    assert created.route == "/assets" and created.status == 201
    assert created.request_form == {"workspace_id": emulator.workspace_id}
    assert created.request_files == {"file": ("r.png", len(png()))}
    assert created.request_body is not None and b"r.png" in created.request_body
    assert created.response_headers["request-id"].startswith("req_")


def test_exchanges_need_recording_on(emulator: Emulator) -> None:
    with pytest.raises(RuntimeError, match="record"):
        _ = emulator.exchanges
