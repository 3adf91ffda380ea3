"""Each API method sends the spec's request and parses every known answer shape."""

from __future__ import annotations

import httpx
import pytest

from floradrop.flora import FloraClient, RequestInfo, RunInput, ServerError, ValidationError

from .conftest import BASE, KEY, FakeFlora, Sleeps, ok


def technique(n: int) -> dict[str, object]:
    return {
        "technique_id": f"tech_{n}",
        "name": f"Technique {n}",
        "run_cost": 0.05,
        "inputs": [{"id": "input_image", "name": "Input Image", "type": "imageUrl"}],
        "outputs": [{"id": "output_image", "name": "Output", "type": "imageUrl"}],
    }


RUN = {
    "run_id": "run_1",
    "status": "completed",
    "progress": 100,
    "created_at": 1_700_000_000_000,
    "outputs": [{"output_id": "output_1", "type": "imageUrl", "url": "https://media.test/o.png"}],
    "charged_cost": 0.05,
    "poll_url": f"{BASE}/techniques/cctv-cam/runs/run_1",
}


def paged(pages: list[list[int]]) -> list[httpx.Response]:
    answers = []
    for i, page in enumerate(pages):
        cursor = f"c{i + 1}" if i + 1 < len(pages) else None
        answers.append(
            ok({"techniques": [technique(n) for n in page], "meta": {"next_cursor": cursor}})
        )
    return answers


def test_list_workspaces(fake: FakeFlora, client: FloraClient) -> None:
    fake.on(
        "GET",
        "/workspaces",
        ok(
            {
                "workspaces": [
                    {"workspace_id": "ws_a", "name": "A", "role": "owner", "created_at": None}
                ]
            }
        ),
    )
    [ws] = client.list_workspaces()
    assert (ws.workspace_id, ws.name, ws.role) == ("ws_a", "A", "owner")
    assert fake.seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_technique_pagination_follows_the_cursor_to_the_end(
    fake: FakeFlora, client: FloraClient
) -> None:
    fake.on("GET", "/techniques", *paged([[1, 2], [3, 4], [5]]))
    techniques = client.list_techniques(workspace_id="ws_a", query="cam", page_size=2)
    assert [t.technique_id for t in techniques] == [f"tech_{n}" for n in range(1, 6)]
    params = [dict(s.url.params) for s in fake.seen]
    assert params == [
        {"workspace_id": "ws_a", "query": "cam", "limit": "2"},
        {"workspace_id": "ws_a", "query": "cam", "limit": "2", "cursor": "c1"},
        {"workspace_id": "ws_a", "query": "cam", "limit": "2", "cursor": "c2"},
    ]


def test_pagination_stops_on_missing_meta_and_clamps_the_limit(
    fake: FakeFlora, client: FloraClient
) -> None:
    fake.on("GET", "/techniques", ok({"techniques": [technique(1)], "meta": {"limit": 5}}))
    assert len(client.list_techniques(page_size=1000)) == 1
    fake.on("GET", "/techniques", ok({"techniques": []}))
    assert client.list_techniques(page_size=0) == []
    assert [s.url.params["limit"] for s in fake.seen] == ["100", "1"]


def test_pagination_refuses_a_cursor_loop(fake: FakeFlora, client: FloraClient) -> None:
    page = ok({"techniques": [technique(1)], "meta": {"next_cursor": "same"}})
    fake.on("GET", "/techniques", page)
    with pytest.raises(ServerError, match="same page cursor"):
        client.list_techniques()
    assert len(fake.seen) == 2


def test_iter_techniques_is_lazy(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/techniques", *paged([[1], [2]]))
    first = next(client.iter_techniques())
    assert first.technique_id == "tech_1"
    assert len(fake.seen) == 1


def test_get_technique_by_slug_or_id_parses_camel_case(
    fake: FakeFlora, client: FloraClient
) -> None:
    fake.on(
        "GET",
        "/techniques/tech_abc",
        ok(
            {
                "techniqueId": "tech_abc",
                "name": "Portrait Enhancer",
                "runCost": 5,
                "inputs": [
                    {"id": "prompt", "name": "Prompt", "type": "text", "optional": True},
                    {
                        "id": "input_image",
                        "name": "Image",
                        "type": "imageUrl",
                        "specifiedAspectRatio": "1:1",
                    },
                ],
                "outputs": [{"id": "output_image", "name": "Out", "type": "imageUrl"}],
            }
        ),
    )
    t = client.get_technique("tech_abc")
    assert t.technique_id == "tech_abc"
    assert t.run_cost == 5.0
    assert [i.id for i in t.required_inputs] == ["input_image"]
    assert t.inputs[1].specified_aspect_ratio == "1:1"


def test_slugs_are_one_path_segment(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/techniques/a%2Fb", ok(technique(1)))
    client.get_technique("a/b")
    assert fake.seen[0].url.raw_path == b"/api/v1/techniques/a%2Fb"
    with pytest.raises(ValidationError, match="not a valid technique slug"):
        client.get_technique("two words")


def test_start_run_sends_the_spec_body(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("POST", "/techniques/cctv-cam/runs", ok({**RUN, "status": "pending"}, 201))
    run = client.start_run(
        "cctv-cam",
        [
            RunInput("input_image", "imageUrl", "https://x.test/i.png"),
            RunInput("prompt", "text", "hi"),
        ],
        idempotency_key="idem-1",
        callback_url="https://hooks.test/flora",
    )
    assert run.run_id == "run_1"
    assert run.status == "pending"
    [post] = fake.seen
    assert post.headers["idempotency-key"] == "idem-1"
    assert post.headers["content-type"] == "application/json"
    assert post.json() == {
        "inputs": [
            {"id": "input_image", "type": "imageUrl", "value": "https://x.test/i.png"},
            {"id": "prompt", "type": "text", "value": "hi"},
        ],
        "mode": "async",
        "idempotency_key": "idem-1",
        "callback_url": "https://hooks.test/flora",
    }


def test_start_run_top_level(fake: FakeFlora, client: FloraClient) -> None:
    fake.on(
        "POST",
        "/runs/technique",
        ok(
            {
                "run_id": "run_9",
                "type": "technique",
                "estimated_seconds": 12,
                "charged_cost": 0.1,
                "technique": {"technique_id": "tech_x", "name": "X"},
                "poll_url": f"{BASE}/runs/run_9",
            },
            201,
        ),
    )
    run = client.start_run_top_level(
        "tech_x", "ws_a", {"input_image": "https://i"}, idempotency_key="k9"
    )
    assert (run.run_id, run.status, run.estimated_seconds, run.technique_id) == (
        "run_9",
        "pending",
        12.0,
        "tech_x",
    )
    [post] = fake.seen
    assert post.headers["idempotency-key"] == "k9"
    assert post.json() == {
        "technique_id": "tech_x",
        "workspace_id": "ws_a",
        "inputs": {"input_image": "https://i"},
    }


def test_get_run_prefers_poll_url_on_the_api(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/techniques/cctv-cam/runs/run_1", ok(RUN))
    run = client.get_run("run_1", technique="other", poll_url=RUN["poll_url"])  # type: ignore[arg-type]
    assert run.succeeded
    assert run.outputs[0].url == "https://media.test/o.png"
    assert fake.seen[0].path == "/api/v1/techniques/cctv-cam/runs/run_1"
    assert fake.seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_get_run_ignores_a_poll_url_elsewhere(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/techniques/cctv-cam/runs/run_1", ok(RUN))
    fake.on("GET", "https://evil.test/api/v1/techniques/cctv-cam/runs/run_1", ok(RUN))
    client.get_run(
        "run_1",
        technique="cctv-cam",
        poll_url="https://evil.test/api/v1/techniques/cctv-cam/runs/run_1",
    )
    assert [s.url.host for s in fake.seen] == ["api.flora.test"]


def test_get_run_nested_then_top_level_routes(fake: FakeFlora, client: FloraClient) -> None:
    fake.on("GET", "/techniques/cctv-cam/runs/run_1", ok(RUN))
    fake.on("GET", "/runs/run_1", ok({**RUN, "runId": "run_1", "status": "running"}))
    assert client.get_run("run_1", technique="cctv-cam").status == "completed"
    assert client.get_run("run_1").status == "running"
    assert [s.path for s in fake.seen] == [
        "/api/v1/techniques/cctv-cam/runs/run_1",
        "/api/v1/runs/run_1",
    ]


def test_relative_poll_url_is_resolved_against_the_api(
    fake: FakeFlora, client: FloraClient
) -> None:
    fake.on("GET", "/techniques/cctv-cam/runs/run_1", ok(RUN))
    client.get_run("run_1", poll_url="/api/v1/techniques/cctv-cam/runs/run_1")
    assert fake.seen[0].url.host == "api.flora.test"


def test_iter_technique_runs_filters_and_max_pages(fake: FakeFlora, client: FloraClient) -> None:
    def page(run_ids: list[str], cursor: str | None) -> httpx.Response:
        items = [
            {
                **RUN,
                "run_id": rid,
                "technique_run_id": rid,
                "workspace_id": "ws_a",
                "project_id": "prj_1",
                "technique": {"technique_id": "tech_x", "name": "X"},
            }
            for rid in run_ids
        ]
        return ok({"technique_runs": items, "meta": {"next_cursor": cursor}})

    fake.on(
        "GET",
        "/technique-runs",
        page(["run_3", "run_2"], "n1"),
        page(["run_1"], "n2"),
        page([], None),
    )
    runs = list(
        client.iter_technique_runs(
            workspace_id="ws_a", technique_id="tech_x", status="completed", page_size=2, max_pages=2
        )
    )
    assert [r.run_id for r in runs] == ["run_3", "run_2", "run_1"]
    assert runs[0].technique_id == "tech_x"
    assert runs[0].workspace_id == "ws_a"
    assert len(fake.seen) == 2
    assert dict(fake.seen[0].url.params) == {
        "workspace_id": "ws_a",
        "technique_id": "tech_x",
        "status": "completed",
        "limit": "2",
    }


def test_get_asset(fake: FakeFlora, client: FloraClient) -> None:
    fake.on(
        "GET",
        "/assets/asset_1",
        ok(
            {
                "asset_id": "asset_1",
                "status": "ready",
                "url": "https://ik.test/a.png",
                "workspace_id": "ws_a",
                "size_bytes": 10,
                "created_at": "2026-01-01T00:00:00Z",
            }
        ),
    )
    asset = client.get_asset("asset_1")
    assert asset.ready
    assert asset.size_bytes == 10


def test_on_request_hook_sees_every_attempt_without_query(fake: FakeFlora, sleeps: Sleeps) -> None:
    infos: list[RequestInfo] = []
    fake.on(
        "GET", "/techniques", httpx.Response(503, headers={"request-id": "req_a"}), *paged([[1]])
    )
    with FloraClient(
        KEY, base_url=BASE, transport=fake.transport, sleep=sleeps, on_request=infos.append
    ) as c:
        c.list_techniques(query="secret-ish")
    assert [(i.method, i.url, i.status, i.attempt) for i in infos] == [
        ("GET", f"{BASE}/techniques", 503, 1),
        ("GET", f"{BASE}/techniques", 200, 2),
    ]
    assert infos[0].request_id == "req_a"
    assert all(i.elapsed >= 0 for i in infos)


def test_a_failing_hook_does_not_break_requests(fake: FakeFlora) -> None:
    def broken(info: RequestInfo) -> None:
        raise RuntimeError("hook bug")

    fake.on("GET", "/workspaces", ok({"workspaces": []}))
    with FloraClient(KEY, base_url=BASE, transport=fake.transport, on_request=broken) as c:
        assert c.list_workspaces() == []
