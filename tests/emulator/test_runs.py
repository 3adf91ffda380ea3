"""Runs: both create routes, every poll route, the lifecycle over time, costs, failures."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from flora_emulator import Emulator
from flora_emulator.catalog import find
from flora_emulator.lifecycle import run_view
from flora_emulator.state import Run
from tests.emulator.helpers import (
    FakeClock,
    api_client,
    error_of,
    image_input,
    png,
    run_until_done,
    scene,
    start,
    upload,
    wait_for,
)

CCTV = find("cctv-cam")
assert CCTV is not None


def test_nested_create_returns_a_pending_run_with_a_poll_url(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, png())
    response = start(api, "cctv-cam", [image_input(asset["url"])])
    assert response.status_code == 201
    run = response.json()
    assert run["run_id"].startswith("run_")
    assert run["status"] == "pending"
    assert run["progress"] == 0
    assert isinstance(run["created_at"], int)
    assert run["poll_url"] == f"{emulator.base_url}/techniques/cctv-cam/runs/{run['run_id']}"
    assert response.headers["request-id"].startswith("req_")


def test_every_poll_route_shows_the_same_completed_run(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, png())
    run_id = start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"]
    done = run_until_done(api, run_id)
    assert done["status"] == "completed"
    routes = [
        f"/runs/{run_id}",
        f"/techniques/cctv-cam/runs/{run_id}",
        f"/techniques/{CCTV.technique_id}/runs/{run_id}",
        done["poll_url"],
    ]
    views = [api.get(route).json() for route in routes]
    assert all(view == views[0] for view in views)
    assert views[0]["charged_cost"] == CCTV.run_cost
    assert views[0]["progress"] == 100
    assert views[0]["created_at"] <= views[0]["started_at"] <= views[0]["completed_at"]
    [output] = views[0]["outputs"]
    assert output["output_id"] == "output_image"
    assert output["type"] == "imageUrl"
    assert output["url"].startswith(emulator.origin + "/_media/" + run_id + "/")


def test_nested_poll_of_another_techniques_run_is_404(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, png())
    run_id = start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"]
    response = api.get(f"/techniques/palette-pull/runs/{run_id}")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert api.get(f"/techniques/no-such-technique/runs/{run_id}").status_code == 404


def test_top_level_create_returns_run_created_with_a_quote(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, png())
    body = {
        "technique_id": CCTV.technique_id,
        "workspace_id": emulator.workspace_id,
        "inputs": {"input_image": asset["url"], "prompt": "CAM 9"},
    }
    response = api.post("/runs/technique", json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["type"] == "technique"
    assert created["technique"] == {"technique_id": CCTV.technique_id, "name": "CCTV Cam"}
    assert created["charged_cost"] == CCTV.run_cost
    assert isinstance(created["estimated_seconds"], int)
    assert created["project_id"] == emulator.project_id
    done = run_until_done(api, created["run_id"])
    assert done["status"] == "completed"
    [record] = emulator.runs()
    assert record.route == "POST /runs/technique"
    assert record.inputs == {"input_image": asset["url"], "prompt": "CAM 9"}


def test_top_level_create_needs_a_tech_id_and_the_keys_workspace(
    emulator: Emulator, api: httpx.Client
) -> None:
    body = {"technique_id": "cctv-cam", "workspace_id": emulator.workspace_id, "inputs": {}}
    response = api.post("/runs/technique", json=body)
    assert response.status_code == 400
    assert "technique_id" in {f["field"] for f in error_of(response)["fields"]}
    body = {"technique_id": CCTV.technique_id, "workspace_id": "ws_someone_else", "inputs": {}}
    response = api.post("/runs/technique", json=body)
    assert response.status_code == 403
    assert error_of(response)["code"] == "forbidden"
    body = {"technique_id": "tech_unknown", "workspace_id": emulator.workspace_id, "inputs": {}}
    assert api.post("/runs/technique", json=body).status_code == 404


def test_lifecycle_follows_the_clock(
    emulator_factory: Callable[..., Emulator], clock: FakeClock
) -> None:
    emulator = emulator_factory(clock=clock, run_seconds=10)
    with api_client(emulator) as api:
        asset = upload(api, emulator, png())
        created = start(api, "cctv-cam", [image_input(asset["url"])]).json()
        run_id = created["run_id"]
        assert created["created_at"] == round(clock() * 1000)
        view = api.get(f"/runs/{run_id}").json()
        assert (view["status"], view["progress"]) == ("pending", 0)
        assert "started_at" not in view and "charged_cost" not in view

        clock.advance(5)
        view = api.get(f"/runs/{run_id}").json()
        assert (view["status"], view["progress"]) == ("running", 50)
        assert view["started_at"] == created["created_at"] + 1000
        assert "outputs" not in view and "completed_at" not in view

        wait_for(lambda: emulator.state.runs[run_id].work_finished_at is not None)
        clock.advance(4.9)
        assert api.get(f"/runs/{run_id}").json()["status"] == "running"

        clock.advance(0.1)
        view = api.get(f"/runs/{run_id}").json()
        assert view["status"] == "completed"
        assert view["completed_at"] == created["created_at"] + 10_000
        assert view["charged_cost"] == CCTV.run_cost

        clock.advance(3600)  # a finished run never changes again
        assert api.get(f"/runs/{run_id}").json() == view


def test_a_run_is_not_completed_before_its_work_is_done() -> None:
    run = Run(
        run_id="run_1",
        slug="cctv-cam",
        technique_id=CCTV.technique_id,
        technique_name=CCTV.name,
        workspace_id="ws_1",
        project_id="prj_1",
        inputs=[],
        created_at=100.0,
        run_seconds=2.0,
        run_cost=0.05,
        poll_slug="cctv-cam",
        seq=1,
    )
    late = run_view(run, now=150.0)
    assert (late["status"], late["progress"]) == ("running", 99)
    run.work_finished_at = 151.0
    run.outputs = [{"output_id": "o", "type": "text", "url": "hi"}]
    done = run_view(run, now=152.0)
    assert done["status"] == "completed"
    assert done["completed_at"] == 151_000  # when the work finished, after run_seconds


def test_zero_run_seconds_completes_when_the_work_is_done(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, scene())
    run_id = start(api, "palette-pull", [image_input(asset["url"])]).json()["run_id"]
    done = run_until_done(api, run_id)
    assert done["status"] == "completed"
    assert [o["output_id"] for o in done["outputs"]] == ["palette_image", "palette"]


def test_sigil_always_fails_with_a_moderation_code_and_is_not_charged(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, png())
    run_id = start(api, "sigil", [image_input(asset["url"])]).json()["run_id"]
    failed = run_until_done(api, run_id)
    assert failed["status"] == "failed"
    assert failed["error_code"] == "GENERATION_PROMPT_MODERATED"
    assert "moderation" in failed["error_message"]
    assert failed["progress"] == 100  # like FLORA: progress is not a success signal
    assert failed["charged_cost"] == 0
    assert "outputs" not in failed
    assert failed["completed_at"] >= failed["created_at"]


def test_fail_rate_fails_runs_with_a_transient_code(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory(fail_rate=1.0)
    with api_client(emulator) as api:
        asset = upload(api, emulator, png())
        run_id = start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"]
        failed = run_until_done(api, run_id)
    assert failed["status"] == "failed"
    assert failed["error_code"] == "GENERATION_PROVIDER_TIMEOUT"
    assert failed["charged_cost"] == 0


def test_an_input_url_the_emulator_cannot_fetch_fails_the_run(
    emulator: Emulator, api: httpx.Client
) -> None:
    url = "https://example.com/photo.png"
    run_id = start(api, "cctv-cam", [image_input(url)]).json()["run_id"]
    failed = run_until_done(api, run_id)
    assert failed["status"] == "failed"
    assert failed["error_code"] == "input_unreachable"
    assert url in failed["error_message"]
    unknown = f"{emulator.origin}/_media/asset_0123abcd/photo.png"
    run_id = start(api, "cctv-cam", [image_input(unknown)]).json()["run_id"]
    assert run_until_done(api, run_id)["error_code"] == "input_unreachable"


def test_a_video_given_as_an_image_fails_the_run(emulator: Emulator, api: httpx.Client) -> None:
    video = upload(api, emulator, b"\x00\x00\x00\x18ftypmp42" + bytes(64), "clip.mp4")
    run_id = start(api, "cctv-cam", [image_input(video["url"])]).json()["run_id"]
    failed = run_until_done(api, run_id)
    assert failed["error_code"] == "GENERATION_INPUT_VALIDATION"
    assert "video/mp4" in failed["error_message"]


def test_an_output_of_one_run_can_be_the_input_of_the_next(
    emulator: Emulator, api: httpx.Client
) -> None:
    asset = upload(api, emulator, scene())
    first = run_until_done(
        api, start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"]
    )
    output_url = first["outputs"][0]["url"]
    second = run_until_done(
        api, start(api, "palette-pull", [image_input(output_url)]).json()["run_id"]
    )
    assert second["status"] == "completed"


@pytest.mark.parametrize("bad", ["run_", "nope", "run_abc def"])
def test_a_malformed_run_id_is_rejected(api: httpx.Client, bad: str) -> None:
    response = api.get(f"/runs/{bad}")
    assert response.status_code == 400
    assert error_of(response)["code"] == "input_validation_error"
    assert error_of(response)["fields"][0]["field"] == "runId"


def test_an_unknown_run_is_404(api: httpx.Client) -> None:
    response = api.get("/runs/run_0000000000")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "Run not found."}
