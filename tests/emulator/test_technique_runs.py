"""GET /technique-runs: newest first, filters, and a cursor that survives new runs."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from flora_emulator import Emulator
from tests.emulator.helpers import (
    FakeClock,
    api_client,
    fields_of,
    image_input,
    png,
    run_until_done,
    start,
    upload,
)


def _ids(api: httpx.Client, **params: str | int) -> list[str]:
    body = api.get("/technique-runs", params=params).json()
    return [item["run_id"] for item in body["technique_runs"]]


def test_items_carry_run_fields_and_their_technique(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    run_id = start(api, "cctv-cam", [image_input(url)]).json()["run_id"]
    done = run_until_done(api, run_id)
    [item] = api.get("/technique-runs").json()["technique_runs"]
    technique = api.get("/techniques/cctv-cam").json()
    assert item == done | {
        "technique_run_id": run_id,
        "project_id": emulator.project_id,
        "workspace_id": emulator.workspace_id,
        "technique": {"technique_id": technique["technique_id"], "name": "CCTV Cam"},
    }


def test_newest_first_and_a_stable_cursor(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, png())["url"]
    made = [start(api, "cctv-cam", [image_input(url)]).json()["run_id"] for _ in range(5)]
    page = api.get("/technique-runs", params={"limit": 2}).json()
    assert [i["run_id"] for i in page["technique_runs"]] == made[:-3:-1]
    newer = start(api, "cctv-cam", [image_input(url)]).json()["run_id"]
    rest: list[str] = []
    cursor = page["meta"]["next_cursor"]
    while cursor:
        body = api.get("/technique-runs", params={"limit": 2, "cursor": cursor}).json()
        rest += [i["run_id"] for i in body["technique_runs"]]
        cursor = body["meta"]["next_cursor"]
    assert rest == made[2::-1]  # no repeats or gaps although a run was created meanwhile
    assert _ids(api, limit=1) == [newer]


def test_filters(emulator_factory: Callable[..., Emulator], clock: FakeClock) -> None:
    emulator = emulator_factory(clock=clock, run_seconds=10)
    with api_client(emulator) as api:
        url = upload(api, emulator, png())["url"]
        cctv = start(api, "cctv-cam", [image_input(url)]).json()["run_id"]
        clock.advance(5)
        palette = start(api, "palette-pull", [image_input(url)]).json()["run_id"]
        palette_id = api.get("/techniques/palette-pull").json()["technique_id"]
        assert _ids(api, technique_id=palette_id) == [palette]
        assert _ids(api, technique_id="cctv-cam") == [cctv]
        assert _ids(api, status="running") == [cctv]
        assert _ids(api, status="pending") == [palette]
        assert _ids(api, workspace_id=emulator.workspace_id) == [palette, cctv]
        assert _ids(api, project_id=emulator.project_id) == [palette, cctv]
        assert _ids(api, technique_id="tech_unknown") == []
        bad = api.get("/technique-runs", params={"status": "done"})
        assert bad.status_code == 400 and "status" in fields_of(bad)
        assert api.get("/technique-runs", params={"workspace_id": "ws_x"}).status_code == 403
        assert api.get("/technique-runs", params={"cursor": "zzz"}).status_code == 400
