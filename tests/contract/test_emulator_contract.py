"""Every response the emulator gives, for every operation it implements, matches the documents.

The scenario drives each operation through its success and its error paths with raw httpx,
recording every exchange; then openapi-core validates each request and response against the
official 1.6.0 documents (or the SDK-derived one for the two operations they lack).
Requests sent on purpose outside the contract carry ``X-Contract: spec-invalid``; for those,
openapi-core must agree that they are invalid (so the emulator rejects what the spec rejects).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image

from flora_emulator import Emulator, Exchange
from flora_emulator.routes import ROUTES
from tests.contract import spec

SPEC_INVALID = {"X-Contract": "spec-invalid"}


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def _until_done(api: httpx.Client, path: str) -> dict[str, Any]:
    for _ in range(2000):
        view = api.get(path).json()
        if view["status"] in ("completed", "failed"):
            return dict(view)
    raise AssertionError(f"{path} never finished")


def _drive(emulator: Emulator) -> None:
    """Call every operation, successfully and with each error the spec names."""
    ws = emulator.workspace_id
    auth = {"Authorization": f"Bearer {emulator.api_key}"}
    with httpx.Client(base_url=emulator.base_url, headers=auth, timeout=30) as api:
        # Workspaces and techniques
        api.get("/workspaces")
        first = api.get("/techniques", params={"limit": 3}).json()
        api.get("/techniques", params={"limit": 3, "cursor": first["meta"]["next_cursor"]})
        api.get("/techniques", params={"query": "palette", "workspace_id": ws})
        cctv = api.get("/techniques/cctv-cam").json()
        api.get(f"/techniques/{cctv['technique_id']}")
        api.get("/techniques/no-such-technique")  # 404
        api.get("/techniques", params={"limit": 500}, headers=SPEC_INVALID)  # 400
        api.get("/techniques", params={"workspace_id": "nope"}, headers=SPEC_INVALID)  # 400
        api.get("/techniques", params={"workspace_id": "ws_someone_else"})  # 403
        api.get("/techniques", params={"cursor": "garbage"})  # 400

        # Assets: direct multipart, signed upload, complete, retry, get, list
        direct = api.post(
            "/assets",
            data={"workspace_id": ws, "file_name": "photo.png", "content_type": "image/png"},
            files={"file": ("photo.png", _png(), "image/png")},
            headers={"Idempotency-Key": "direct-1"},
        ).json()
        api.post(  # 409 duplicate
            "/assets",
            data={"workspace_id": ws},
            files={"file": ("photo.png", _png(), "image/png")},
            headers={"Idempotency-Key": "direct-1"},
        )
        api.post(  # 400: no file part
            "/assets", data={"workspace_id": ws}, files={"other": ("x", b"x")}, headers=SPEC_INVALID
        )
        reserved = api.post(
            "/assets",
            json={
                "source": "signed-url",
                "workspace_id": ws,
                "file_name": "big.png",
                "content_type": "image/png",
                "folder": "drops",
            },
        ).json()
        target = reserved["upload"]
        api.post(f"/assets/{reserved['asset_id']}/complete")  # 400: nothing uploaded yet
        httpx.post(target["url"], data=target["form_fields"], files={"file": ("big.png", _png())})
        api.post(f"/assets/{reserved['asset_id']}/complete")
        api.post(f"/assets/{reserved['asset_id']}/retry")  # 400: already ready
        api.get(f"/assets/{reserved['asset_id']}")
        broken = api.post("/assets", json={"source": "signed-url", "workspace_id": ws}).json()
        api.post(f"/assets/{broken['asset_id']}/retry")
        api.get(f"/assets/{broken['asset_id']}")
        # Server-side fetch of a source URL: created pending, then failed (no internet here)
        fetched = api.post(
            "/assets", json={"source": "https://example.invalid/a.png", "workspace_id": ws}
        ).json()
        for _ in range(2000):
            if api.get(f"/assets/{fetched['asset_id']}").json()["status"] != "pending_upload":
                break
        api.post(  # 400: a loopback source is refused (SSRF protection)
            "/assets", json={"source": "https://127.0.0.1/a.png", "workspace_id": ws}
        )
        api.get("/assets", params={"limit": 1})
        api.get("/assets", params={"workspace_id": ws, "project_id": emulator.project_id})
        api.get("/assets/asset_000000")  # 404
        api.get("/assets/not-an-asset", headers=SPEC_INVALID)  # 400
        api.post(  # 400: project_id is not in the 1.6.0 JSON body
            "/assets",
            json={"source": "signed-url", "workspace_id": ws, "project_id": emulator.project_id},
            headers=SPEC_INVALID,
        )
        api.post("/assets", json={"workspace_id": ws}, headers=SPEC_INVALID)  # 400: no source
        api.post(  # 400 invalid_json
            "/assets",
            content=b"{",
            headers={"Content-Type": "application/json", **SPEC_INVALID},
        )

        # Runs: nested create and poll, top-level create, generic poll, list
        image = {"id": "input_image", "type": "imageUrl", "value": direct["url"]}
        created = api.post(
            "/techniques/cctv-cam/runs",
            json={"inputs": [image], "mode": "async", "idempotency_key": "run-1"},
        ).json()
        api.post(  # 409 duplicate
            "/techniques/cctv-cam/runs",
            json={"inputs": [image], "mode": "async", "idempotency_key": "run-1"},
        )
        _until_done(api, f"/techniques/cctv-cam/runs/{created['run_id']}")
        api.get(f"/runs/{created['run_id']}")
        api.get(created["poll_url"])
        critique = api.post(
            "/techniques/art-directors-critique/runs", json={"inputs": [image], "mode": "async"}
        ).json()
        _until_done(api, f"/runs/{critique['run_id']}")  # a text output: the text in url
        failing = api.post(
            "/techniques/sigil/runs", json={"inputs": [image], "mode": "async"}
        ).json()
        _until_done(api, f"/runs/{failing['run_id']}")  # failed, with error_code
        top = api.post(
            "/runs/technique",
            json={
                "technique_id": cctv["technique_id"],
                "workspace_id": ws,
                "inputs": {"input_image": direct["url"], "prompt": "CAM 2"},
            },
            headers={"Idempotency-Key": "top-1"},
        ).json()
        api.post(  # 409 duplicate
            "/runs/technique",
            json={
                "technique_id": cctv["technique_id"],
                "workspace_id": ws,
                "inputs": {"input_image": direct["url"]},
            },
            headers={"Idempotency-Key": "top-1"},
        )
        _until_done(api, f"/runs/{top['run_id']}")
        api.get("/technique-runs", params={"limit": 2})
        api.get(
            "/technique-runs",
            params={"workspace_id": ws, "technique_id": cctv["technique_id"], "status": "failed"},
        )
        api.get("/technique-runs", params={"status": "done"}, headers=SPEC_INVALID)  # 400

        # Run errors: schema-valid bodies that the technique rejects, and spec-invalid ones
        for inputs in (
            [{"id": "nope", "type": "text", "value": "x"}, image],  # unknown input id
            [{"id": "input_image", "type": "text", "value": "x"}],  # wrong type
            [{"id": "prompt", "type": "text", "value": "x"}],  # missing required input
            [{"id": "input_image", "type": "imageUrl", "value": "not a url"}],  # malformed URL
        ):
            api.post("/techniques/cctv-cam/runs", json={"inputs": inputs, "mode": "async"})
        api.post(  # 400: mode missing, extra key
            "/techniques/cctv-cam/runs", json={"inputs": [image], "x": 1}, headers=SPEC_INVALID
        )
        api.post(  # 400: empty inputs
            "/techniques/cctv-cam/runs", json={"inputs": [], "mode": "async"}, headers=SPEC_INVALID
        )
        api.post(  # 404 unknown technique
            "/techniques/unknown-technique/runs", json={"inputs": [image], "mode": "async"}
        )
        api.post(  # 400: inputs must be a map here
            "/runs/technique",
            json={"technique_id": cctv["technique_id"], "workspace_id": ws, "inputs": []},
            headers=SPEC_INVALID,
        )
        api.post(  # 403: another workspace
            "/runs/technique",
            json={"technique_id": cctv["technique_id"], "workspace_id": "ws_x", "inputs": {}},
        )
        api.post(  # 404: unknown technique id
            "/runs/technique",
            json={"technique_id": "tech_unknown", "workspace_id": ws, "inputs": {}},
        )
        api.get("/runs/run_000000")  # 404
        api.get(f"/techniques/palette-pull/runs/{created['run_id']}")  # 404: not its run
        api.get("/runs/not-a-run", headers=SPEC_INVALID)  # 400

        # Authentication and injected faults
        httpx.get(emulator.base_url + "/techniques", headers=SPEC_INVALID)  # 401: no key
        httpx.get(emulator.base_url + "/assets", headers={"Authorization": "Bearer sk_wrong"})
        emulator.rate_limit_rate = 1.0
        api.get("/technique-runs")  # 429
        api.post("/techniques/cctv-cam/runs", json={"inputs": [image], "mode": "async"})  # 429
        emulator.rate_limit_rate = 0.0
        emulator.error_rate = 1.0
        api.get(f"/assets/{direct['asset_id']}")  # 500
        api.post(  # 500
            "/runs/technique",
            json={"technique_id": cctv["technique_id"], "workspace_id": ws, "inputs": {}},
        )
        emulator.error_rate = 0.0


def _problems(contract: spec.Contract, exchanges: list[Exchange]) -> list[str]:
    problems = []
    for exchange in exchanges:
        if exchange.kind != "api" or exchange.route is None:
            continue  # the upload target and media host are not FLORA API operations
        where = f"{exchange.method} {exchange.path} -> {exchange.status}"
        expect_invalid = exchange.request_headers.get("x-contract") == "spec-invalid"
        try:
            contract.validate_request(exchange)
            if expect_invalid:
                problems.append(f"{where}: openapi-core accepted a request sent as invalid")
        except Exception as exc:
            if not expect_invalid:
                problems.append(f"{where}: request: {exc!r} {exc.__cause__!r}")
        try:
            contract.validate_response(exchange)
        except Exception as exc:
            problems.append(f"{where}: response: {exc!r} {exc.__cause__!r}")
    return problems


def test_every_exchange_matches_the_documents(
    contract: spec.Contract, recorder: Callable[..., tuple[Emulator, list[Exchange]]]
) -> None:
    emulator, exchanges = recorder(seed=3)
    _drive(emulator)
    assert _problems(contract, exchanges) == []

    api = [e for e in exchanges if e.kind == "api"]
    assert all(e.response_headers["request-id"].startswith("req_") for e in api)
    assert all(e.response_json is not None for e in api)
    ok = {(e.method, e.route) for e in api if e.status is not None and e.status < 300}
    declared = {(o.method, o.template) for o in contract.operations}
    implemented = {(m, r.template) for r in ROUTES if r.kind == "api" for m in r.methods}
    assert implemented <= declared
    assert ok == implemented  # every operation answered successfully at least once
    statuses = {e.status for e in api}
    assert {400, 401, 403, 404, 409, 429, 500} <= statuses
    errors = [e.response_json["error"] for e in api if e.status == 400]
    assert {e["code"] for e in errors} == {"input_validation_error", "invalid_json"}
    assert all(e["fields"] for e in errors if e["code"] == "input_validation_error")
    derived = {contract.operation_of(e).derived for e in api}
    assert derived == {True, False}


def test_a_broken_response_would_be_caught(
    contract: spec.Contract, recorder: Callable[..., tuple[Emulator, list[Exchange]]]
) -> None:
    """The check is not vacuous: tampered responses and requests fail validation."""
    emulator, exchanges = recorder()
    auth = {"Authorization": f"Bearer {emulator.api_key}"}
    httpx.get(emulator.base_url + "/techniques/cctv-cam", headers=auth)
    httpx.get(emulator.base_url + "/technique-runs", headers=auth)
    technique, runs = exchanges
    contract.validate_response(technique)
    contract.validate_response(runs)
    tampered = [
        (
            technique,
            b'{"technique_id": "cctv-cam", "name": "x", "run_cost": 1, "inputs": [],'
            b' "outputs": []}',
        ),
        (technique, b'{"technique_id": "tech_x", "name": "x", "inputs": [], "outputs": []}'),
        (runs, b'{"technique_runs": [], "meta": {}}'),
    ]
    for exchange, body in tampered:
        broken = Exchange(**{**exchange.__dict__, "response_body": body})
        try:
            contract.validate_response(broken)
        except Exception:
            continue
        raise AssertionError(f"accepted a broken response: {body!r}")
    error = Exchange(
        **{
            **technique.__dict__,
            "status": 404,
            "response_body": b'{"error": {"code": "conflict", "message": "x"}}',
        }
    )
    try:
        contract.validate_response(error)
    except Exception:
        pass
    else:
        raise AssertionError("accepted an error code outside the spec's enum")
