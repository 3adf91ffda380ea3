"""Workspaces and techniques: what is served, exactly as FLORA serves it."""

from __future__ import annotations

import httpx

from flora_emulator import Emulator
from flora_emulator.catalog import TECHNIQUES
from tests.emulator.helpers import error_of, fields_of

SLUGS = [
    "cctv-cam",
    "color-transfer",
    "art-directors-critique",
    "palette-pull",
    "icon-pack",
    "product-motion",
    "sigil",
]


def test_the_one_workspace(emulator: Emulator, api: httpx.Client) -> None:
    [workspace] = api.get("/workspaces").json()["workspaces"]
    assert workspace["workspace_id"] == emulator.workspace_id
    assert workspace["workspace_id"].startswith("ws_")
    assert set(workspace) == {"workspace_id", "name", "created_at", "role"}
    assert isinstance(workspace["created_at"], int)


def test_ids_are_stable_for_a_seed(emulator_factory) -> None:  # type: ignore[no-untyped-def]
    first, again, other = (
        emulator_factory(seed=1),
        emulator_factory(seed=1),
        emulator_factory(seed=2),
    )
    assert first.workspace_id == again.workspace_id != other.workspace_id
    assert first.project_id.startswith("prj_")


def test_the_catalog_lists_every_technique_with_its_schema(api: httpx.Client) -> None:
    body = api.get("/techniques", params={"limit": 100}).json()
    assert body["meta"] == {"next_cursor": None, "total_estimate": len(SLUGS)}
    names = [t["name"] for t in body["techniques"]]
    assert names == [
        "CCTV Cam",
        "Color Transfer",
        "Art Director's Critique",
        "Palette Pull",
        "Icon Pack",
        "Product Motion",
        "Sigil",
    ]
    # The slugs, as the techniques guide shows list items ({technique_id, slug, name}).
    assert [t["slug"] for t in body["techniques"]] == SLUGS
    for technique in body["techniques"]:
        assert technique["technique_id"].startswith("tech_")
        assert set(technique) == {
            "technique_id",
            "slug",
            "name",
            "description",
            "run_cost",
            "inputs",
            "outputs",
        }
        assert technique["run_cost"] > 0
        for item in technique["inputs"]:
            assert {"id", "name", "type", "optional"} <= set(item)
        for item in technique["outputs"]:
            assert {"id", "name", "type"} <= set(item) and "optional" not in item


def test_a_technique_by_slug_and_by_id_is_the_same(api: httpx.Client) -> None:
    by_slug = api.get("/techniques/cctv-cam").json()
    by_id = api.get(f"/techniques/{by_slug['technique_id']}").json()
    assert by_slug == by_id
    assert by_slug["slug"] == "cctv-cam"  # retrieve gives the slug too
    assert by_slug["inputs"] == [
        {
            "id": "input_image",
            "name": "Input Image",
            "type": "imageUrl",
            "description": "The photo to work on.",
            "optional": False,
        },
        {
            "id": "prompt",
            "name": "Camera Label",
            "type": "text",
            "description": "Text burnt into the corner, e.g. 'CAM 03 - LOBBY'.",
            "optional": True,
        },
    ]
    assert by_slug["run_cost"] == 0.05


def test_the_technique_id_is_opaque(api: httpx.Client) -> None:
    for technique in api.get("/techniques").json()["techniques"]:
        assert technique["technique_id"] not in {f"tech_{slug}" for slug in SLUGS}


def test_catalog_has_the_media_kinds_the_daemon_needs() -> None:
    kinds = {(t.slug, i.type) for t in TECHNIQUES for i in t.inputs}
    outputs = {(t.slug, o.type) for t in TECHNIQUES for o in t.outputs}
    assert ("product-motion", "videoUrl") in kinds and ("product-motion", "videoUrl") in outputs
    assert ("icon-pack", "text") in kinds
    assert ("art-directors-critique", "text") in outputs
    assert any(i.optional for t in TECHNIQUES for i in t.inputs)


def test_an_unknown_technique_is_404(api: httpx.Client) -> None:
    response = api.get("/techniques/no-such-thing")
    assert response.status_code == 404
    assert error_of(response) == {"code": "not_found", "message": "Technique not found."}


def test_pages_follow_the_cursor(api: httpx.Client) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.get("/techniques", params=params).json()
        seen += [t["name"] for t in body["techniques"]]
        pages += 1
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == len(SLUGS)


def test_query_and_workspace_filters(emulator: Emulator, api: httpx.Client) -> None:
    found = api.get("/techniques", params={"query": "PULL"}).json()["techniques"]
    assert [t["name"] for t in found] == ["Palette Pull"]
    own = api.get("/techniques", params={"workspace_id": emulator.workspace_id})
    assert len(own.json()["techniques"]) == len(SLUGS)
    other = api.get("/techniques", params={"workspace_id": "ws_not_mine"})
    assert other.status_code == 403
    bad = api.get("/techniques", params={"workspace_id": "mine"})
    assert bad.status_code == 400 and "workspace_id" in fields_of(bad)


def test_empty_query_values_count_as_absent(api: httpx.Client) -> None:
    body = api.get("/techniques", params={"cursor": "", "query": "", "limit": ""}).json()
    assert len(body["techniques"]) == len(SLUGS)


def test_bad_limit_and_cursor_are_validation_errors(api: httpx.Client) -> None:
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ):
        response = api.get("/techniques", params=params)
        assert response.status_code == 400, params
        assert error_of(response)["code"] == "input_validation_error"
        assert field in fields_of(response)
