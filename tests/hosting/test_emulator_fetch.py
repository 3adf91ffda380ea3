"""The emulator fetches run inputs and asset sources from other hosts, within FLORA's limits
(../shared/flora-api/REFERENCE.md §8.1): at most 50 MB for an asset, no private, loopback or
metadata targets, and no redirects to them. ``allow_private_fetch`` lets loopback through for
tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from flora_emulator import Emulator
from tests.emulator.helpers import api_client, image_input, png, run_until_done, start
from tests.engine.harness import wait_for

from .conftest import FileServer

PNG = {"Content-Type": "image/png"}


def settled_asset(api: httpx.Client, asset_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        view = api.get(f"/assets/{asset_id}").json()
        return view if view["status"] != "pending_upload" else None

    return dict(wait_for(done, 30, f"asset {asset_id}"))


def create_from(api: httpx.Client, emulator: Emulator, source: str) -> httpx.Response:
    body = {"source": source, "workspace_id": emulator.workspace_id}
    return api.post("/assets", json=body)


def test_a_run_input_on_another_host_is_fetched(
    emulator_factory: Callable[..., Emulator], file_server: FileServer
) -> None:
    file_server.routes["/in/a.png"] = (200, PNG, png())
    emulator = emulator_factory(allow_private_fetch=True)
    with api_client(emulator) as api:
        url = f"{file_server.url}/in/a.png?X-Amz-Signature=abc"
        run = start(api, "cctv-cam", [image_input(url)]).json()
        done = run_until_done(api, run["run_id"])
    assert done["status"] == "completed", done
    assert file_server.hits == ["/in/a.png?X-Amz-Signature=abc"]
    assert emulator.state.assets == {}, "no FLORA asset was made for it"


def test_without_the_switch_loopback_inputs_are_unreachable_and_not_charged(
    emulator_factory: Callable[..., Emulator], file_server: FileServer
) -> None:
    file_server.routes["/a.png"] = (200, PNG, png())
    emulator = emulator_factory(balance_usd=10.0)
    with api_client(emulator) as api:
        run = start(api, "cctv-cam", [image_input(f"{file_server.url}/a.png")]).json()
        done = run_until_done(api, run["run_id"])
    assert done["status"] == "failed" and done["error_code"] == "input_unreachable"
    assert "loopback" in done["error_message"]
    assert file_server.hits == []
    assert emulator.balance_usd == 10.0


def test_a_redirect_to_a_metadata_address_is_refused(
    emulator_factory: Callable[..., Emulator], file_server: FileServer
) -> None:
    metadata = "http://169.254.169.254/latest/meta-data/"
    file_server.routes["/jump.png"] = (302, {"Location": metadata}, b"")
    file_server.routes["/hop.png"] = (302, {"Location": "/a.png"}, b"")
    file_server.routes["/a.png"] = (200, PNG, png())
    emulator = emulator_factory(allow_private_fetch=True)
    with api_client(emulator) as api:
        bad = start(api, "cctv-cam", [image_input(f"{file_server.url}/jump.png")]).json()
        good = start(api, "cctv-cam", [image_input(f"{file_server.url}/hop.png")]).json()
        failed = run_until_done(api, bad["run_id"])
        completed = run_until_done(api, good["run_id"])
    assert failed["error_code"] == "input_unreachable" and "metadata" in failed["error_message"]
    assert completed["status"] == "completed"


def test_a_wrong_kind_of_file_fails_the_run(
    emulator_factory: Callable[..., Emulator], file_server: FileServer
) -> None:
    file_server.routes["/clip.mp4"] = (200, {"Content-Type": "video/mp4"}, b"\0" * 64)
    emulator = emulator_factory(allow_private_fetch=True)
    with api_client(emulator) as api:
        run = start(api, "cctv-cam", [image_input(f"{file_server.url}/clip.mp4")]).json()
        done = run_until_done(api, run["run_id"])
    assert done["status"] == "failed" and "must be an image" in done["error_message"]


def test_an_asset_source_is_fetched_into_a_ready_asset(
    emulator_factory: Callable[..., Emulator], file_server: FileServer
) -> None:
    file_server.routes["/photos/red.png"] = (200, PNG, png())
    emulator = emulator_factory(allow_private_fetch=True)
    with api_client(emulator) as api:
        created = create_from(api, emulator, f"{file_server.url}/photos/red.png")
        assert created.status_code == 201, created.text
        assert created.json()["uploaded_via"] == "url"
        asset = settled_asset(api, created.json()["asset_id"])
        assert asset["status"] == "ready" and asset["content_type"] == "image/png"
        assert asset["name"] == "red.png"
        assert httpx.get(asset["url"]).content == png()


def test_asset_sources_over_50_mb_or_on_loopback_are_refused(
    emulator_factory: Callable[..., Emulator], file_server: FileServer
) -> None:
    file_server.routes["/huge.png"] = (200, PNG, b"\0" * (50 * 1024 * 1024 + 1))
    strict = emulator_factory()
    with api_client(strict) as api:
        refused = create_from(api, strict, f"{file_server.url.replace('http', 'https')}/a.png")
        assert refused.status_code == 400 and "loopback" in refused.text
    emulator = emulator_factory(allow_private_fetch=True)
    with api_client(emulator) as api:
        created = create_from(api, emulator, f"{file_server.url}/huge.png")
        asset = settled_asset(api, created.json()["asset_id"])
    assert asset["status"] == "failed" and "50 MB" in asset["failure_message"]


def test_the_command_line_switch_allows_loopback(file_server: FileServer) -> None:
    import signal
    import subprocess
    import sys

    file_server.routes["/a.png"] = (200, PNG, png())
    argv = [sys.executable, "-m", "floradrop", "emulator", "--port", "0", "--quiet"]
    proc = subprocess.Popen(
        [*argv, "--run-seconds", "0", "--allow-private-fetch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        env = dict(line.split(" ", 1)[1].strip().split("=", 1) for line in lines[1:3])
        auth = {"Authorization": f"Bearer {env['FLORA_API_KEY']}"}
        with httpx.Client(base_url=env["FLORA_BASE_URL"], headers=auth, timeout=30) as api:
            run = start(api, "cctv-cam", [image_input(f"{file_server.url}/a.png")]).json()
            done = run_until_done(api, run["run_id"])
        assert done["status"] == "completed", done
        assert file_server.hits == ["/a.png"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
