"""The dashboard shows outputs waiting for review (a hold point): a real ``Dashboard`` on a
free port over a real journal and real review folders, read through ``/api/now`` and shown in
headless Chromium; the counts follow the files as a person moves them away."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floradrop.config import Config, parse_config
from floradrop.journal import Journal
from floradrop.snapshot import build_snapshot
from floradrop.ui import Dashboard, access
from floradrop.ui.api import Context
from tests.engine.harness import png_bytes, wait_for
from tests.ui.test_dashboard_e2e import CHROMEDRIVER, CHROMIUM, by, text_of
from tests.ui.test_server import request


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Dashboard, Config]]:
    (tmp_path / "cam").mkdir()
    (tmp_path / "grade").mkdir()
    config = parse_config(
        {
            "daemon": {"state_dir": str(tmp_path / "state")},
            "folders": [
                {
                    "name": "Cam",
                    "path": str(tmp_path / "cam"),
                    "technique": "cctv-cam",
                    "outputs": str(tmp_path / "grade"),
                    "review": True,
                },
                {"name": "Grade", "path": str(tmp_path / "grade"), "technique": "cctv-cam"},
            ],
        }
    )
    cam = config.folders[0]
    cam.review_folder.mkdir()
    for n in range(3):  # three outputs held, each with its provenance sidecar
        output = cam.review_folder / f"street {n}.cctv-cam.png"
        output.write_bytes(png_bytes(n))
        provenance = {"floradrop_version": "1", "run_id": f"run_{n}", "technique": "cctv-cam"}
        output.with_name(output.name + ".json").write_text(json.dumps(provenance), "utf-8")
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    context = Context(
        config=lambda: config,
        journal=journal,
        snapshot=lambda: build_snapshot(config, journal, daemon_running=True),
        control=lambda request: {"ok": True, "message": "done"},
        actions=frozenset(),
        folder_actions=frozenset(),
        opener=None,
        thumbs_dir=tmp_path / "state" / "thumbs",
    )
    dashboard = Dashboard(tmp_path / "state", 0, context)
    assert dashboard.start() is not None
    yield dashboard, config
    dashboard.stop()
    journal.close()


def _now(dashboard: Dashboard) -> dict[str, Any]:
    headers = {access.TOKEN_HEADER: dashboard.secret}
    status, _, body = request(dashboard, "GET", "/api/now", headers=headers)
    assert status == 200
    data: dict[str, Any] = json.loads(body)
    return data


def test_now_counts_the_outputs_waiting_for_review(held: tuple[Dashboard, Config]) -> None:
    dashboard, config = held
    cam = config.folders[0]
    data = _now(dashboard)
    assert data["to_review"] == 3
    first, second = data["folders"]
    assert (first["review"], first["review_folder"]) == (3, str(cam.review_folder))
    assert (second["review"], second["review_folder"]) == (None, None)  # no hold point
    # a person approves one (with its sidecar) and rejects another: one is left
    for name, where in (("street 0", cam.approved), ("street 1", cam.rejected)):
        where.mkdir(exist_ok=True)
        for suffix in (".cctv-cam.png", ".cctv-cam.png.json"):
            os.rename(cam.review_folder / (name + suffix), where / (name + suffix))
    assert _now(dashboard)["to_review"] == 1
    assert _now(dashboard)["folders"][0]["review"] == 1


@pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)
def test_the_page_shows_outputs_waiting_for_review(
    held: tuple[Dashboard, Config], tmp_path: Path
) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    dashboard, config = held
    cam = config.folders[0]
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        browser.set_page_load_timeout(60)
        browser.get(f"http://127.0.0.1:{dashboard.port}/login?token={dashboard.secret}")
        wait_for(lambda: by(browser, "[data-folder]"), 30, "the folders in Now")
        chip = '[data-folder$="cam"] [data-count="review"]'
        wait_for(lambda: text_of(browser, chip) == "3 to review", 30, "the review chip")
        assert str(cam.review_folder) in by(browser, chip)[0].get_attribute("title")
        assert by(browser, '[data-folder$="grade"] [data-count="review"]') == []
        wait_for(lambda: "3 to review" in text_of(browser, "#summary"), 30, "the header count")
        # the person moves two away: the page follows by itself
        cam.rejected.mkdir(exist_ok=True)
        for n in (0, 1):
            name = f"street {n}.cctv-cam.png"
            os.rename(cam.review_folder / name, cam.rejected / name)
        wait_for(lambda: text_of(browser, chip) == "1 to review", 60, "the chip to follow")
        wait_for(lambda: "1 to review" in text_of(browser, "#summary"), 30, "the header too")
    finally:
        browser.quit()
