"""Error answers: authentication, the envelope, validation with fields, unknown routes."""

from __future__ import annotations

import httpx
import pytest

from flora_emulator import Emulator
from tests.emulator.helpers import error_of, fields_of, image_input, png, start, upload


def test_a_missing_key_is_401_unauthorized(emulator: Emulator) -> None:
    response = httpx.get(emulator.base_url + "/workspaces")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["content-type"] == "application/json"
    assert response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    "header",
    ["Bearer sk_live_wrong", "Bearer  sk_test_floradrop_emulator", "Basic abc", "Bearer"],
)
def test_a_wrong_or_malformed_key_is_401_invalid_api_key(emulator: Emulator, header: str) -> None:
    response = httpx.get(emulator.base_url + "/techniques", headers={"Authorization": header})
    assert response.status_code == 401
    error = error_of(response)
    assert error["code"] == "invalid_api_key"
    assert emulator.api_key not in response.text


def test_authentication_comes_before_routing(emulator: Emulator) -> None:
    assert httpx.get(emulator.base_url + "/no/such/route").status_code == 401


def test_unknown_api_routes_are_404_not_found(api: httpx.Client) -> None:
    for method, path in (("GET", "/nothing"), ("DELETE", "/workspaces"), ("GET", "/runs")):
        response = api.request(method, path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


def test_every_api_response_has_a_request_id(emulator: Emulator, api: httpx.Client) -> None:
    ids = {
        api.get("/workspaces").headers["request-id"],
        api.get("/nothing").headers["request-id"],
        httpx.get(emulator.base_url + "/workspaces").headers["request-id"],
    }
    assert len(ids) == 3
    assert all(i.startswith("req_") for i in ids)


def test_a_body_that_is_not_json_is_invalid_json(api: httpx.Client) -> None:
    response = api.post(
        "/techniques/cctv-cam/runs",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_json"
    response = api.post("/runs/technique", content=b"a=b", headers={"Content-Type": "text/plain"})
    assert error_of(response)["code"] == "invalid_json"


def test_shape_errors_name_every_field(api: httpx.Client) -> None:
    body = {"inputs": [{"id": 3, "type": "image", "value": "x"}, "y"], "mode": "sync", "x": 1}
    response = api.post("/techniques/cctv-cam/runs", json=body)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "input_validation_error"
    assert fields_of(response) == {
        "x": "Unrecognized key",
        "inputs.0.id": "Expected string, received number",
        "inputs.0.type": "Invalid enum value. Expected 'text' | 'imageUrl' | 'videoUrl', "
        "received 'image'",
        "inputs.1": "Expected object, received string",
        "mode": "Invalid enum value. Expected 'async' | 'stream', received 'sync'",
    }
    assert error["message"].startswith("x: Unrecognized key; inputs.0.id: Expected string")


def test_missing_body_fields_are_required(api: httpx.Client) -> None:
    response = api.post("/techniques/cctv-cam/runs", json={})
    assert fields_of(response) == {"inputs": "Required", "mode": "Required"}
    response = api.post("/techniques/cctv-cam/runs", json={"inputs": [], "mode": "async"})
    assert fields_of(response) == {"inputs": "Array must contain at least 1 element(s)"}
    response = api.post("/techniques/cctv-cam/runs", json=[1])
    assert fields_of(response) == {"": "Expected object, received array"}


def test_inputs_are_checked_against_the_technique(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    cases = [
        (
            [image_input(url), {"id": "colour", "type": "text", "value": "red"}],
            {
                "inputs.1.id": "Unknown input 'colour' for cctv-cam; expected one of: "
                "input_image, prompt"
            },
        ),
        (
            [{"id": "input_image", "type": "text", "value": url}],
            {"inputs.0.type": "Input 'input_image' expects type imageUrl, received text"},
        ),
        (
            [{"id": "prompt", "type": "text", "value": "CAM 1"}],
            {"inputs": "Missing required input 'input_image' (imageUrl)"},
        ),
        (
            [image_input("not a url")],
            {"inputs.0.value": "Input 'input_image' must be a URL (imageUrl)"},
        ),
        (
            [image_input(url), {"id": "prompt", "type": "text", "value": ""}],
            {"inputs.1.value": "String must contain at least 1 character(s)"},
        ),
        (
            [image_input(url), image_input(url)],
            {"inputs.1.id": "Duplicate input 'input_image'"},
        ),
    ]
    for inputs, expected in cases:
        response = start(api, "cctv-cam", inputs)
        assert response.status_code == 400, inputs
        assert error_of(response)["code"] == "input_validation_error"
        assert fields_of(response) == expected
    assert emulator.stats.runs_created == 0


def test_optional_inputs_may_be_left_out(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    assert start(api, "cctv-cam", [image_input(url)]).status_code == 201


def test_top_level_inputs_map_errors_name_the_input(emulator: Emulator, api: httpx.Client) -> None:
    tech = api.get("/techniques/color-transfer").json()["technique_id"]
    body = {
        "technique_id": tech,
        "workspace_id": emulator.workspace_id,
        "inputs": {"source_image": "ftp://x", "strength": 5, "bogus": "1"},
    }
    response = api.post("/runs/technique", json=body)
    assert fields_of(response) == {"inputs.strength": "Expected string, received number"}
    body["inputs"] = {"source_image": "ftp://x", "bogus": "1"}
    response = api.post("/runs/technique", json=body)
    assert fields_of(response) == {
        "inputs.source_image": "Input 'source_image' must be a URL (imageUrl)",
        "inputs.bogus": "Unknown input 'bogus' for color-transfer; expected one of: "
        "source_image, reference_image, strength",
        "inputs.reference_image": "Required",
    }


def test_callback_urls_must_be_public_https(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    for callback in ("http://example.com/hook", "https://localhost/hook", "https://10.0.0.1/x"):
        response = start(api, "cctv-cam", [image_input(url)], callback_url=callback)
        assert response.status_code == 400
        assert "callback_url" in fields_of(response)
    ok = start(api, "cctv-cam", [image_input(url)], callback_url="https://hooks.example.com/f")
    assert ok.status_code == 201


def test_non_api_paths_are_plain_404(emulator: Emulator) -> None:
    response = httpx.get(emulator.origin + "/")
    assert response.status_code == 404
    assert "request-id" not in response.headers
