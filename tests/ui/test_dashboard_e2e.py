"""The dashboard end to end: a real ``floradrop run`` over the emulator, in headless Chromium.

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them), driven by Selenium.
Files dropped appear in Now, then in History with thumbnails and their cost; pause (all and one
folder), retry and opening an output from the page take effect in the daemon; requests without
the token or with a foreign Host header are refused. The screenshots in the README are taken
here (written into ``docs/screenshots`` with ``FLORADROP_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flora_emulator import Emulator
from floradrop.ui import access
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config
from tests.reliability.daemonproc import DaemonProcess, write_key

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
UPDATE_SCREENSHOTS = os.environ.get("FLORADROP_UPDATE_SCREENSHOTS") == "1"
SCREENSHOTS = Path(__file__).parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


@dataclass
class UiDaemon(DaemonProcess):
    bin_dir: Path | None = None  # put first on PATH: a recording xdg-open

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        if self.bin_dir is not None:
            env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env


@pytest.fixture
def daemon(tmp_path: Path, emulator_factory: Any) -> Iterator[UiDaemon]:
    emu: Emulator = emulator_factory(run_seconds=2)
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"  # records what the daemon was asked to open
    opener.write_text(f'#!/bin/sh\nprintf "%s\\n" "$1" >> {tmp_path / "opened.txt"}\n')
    opener.chmod(0o755)
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "cctv", "cctv-cam", 'name = "CCTV Cam"\nbudget_usd = 2.0')
        + folder_toml(tmp_path, "sigils", "sigil", 'name = "Sigils"')
        + folder_toml(tmp_path, "big", "cctv-cam", 'name = "Big drops"'),
        daemon="daily_budget_usd = 3.0\nmax_concurrent_uploads = 2\nconfirm_above_files = 3\n\n"
        f"[flora]\napi_key_file = {str(key)!r}\n\n[ui]\nport = 0\n",
    )
    proc = UiDaemon(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.log")
    proc.bin_dir = bin_dir
    proc.start()
    wait_for(lambda: access.Address.read(proc.state_dir), 30, "the dashboard's address")
    yield proc
    try:
        if proc.proc is not None and proc.proc.poll() is None:
            assert proc.stop() == 0, proc.tail()
    finally:
        proc.kill()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1360,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver: Any, tmp_path: Path, name: str) -> None:
    target = SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(target / f"dashboard-{name}.png"))


def raw_get(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": host, **(headers or {})})
    status = conn.getresponse().status
    conn.close()
    return status


def by(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def click(driver: Any, css: str, what: str) -> None:
    """Click the first element matching ``css`` once it is there (the page re-renders)."""

    def attempt() -> bool:
        from selenium.common.exceptions import (
            ElementClickInterceptedException,
            StaleElementReferenceException,
        )

        try:
            found = [e for e in by(driver, css) if e.is_displayed()]
            if not found:
                return False
            # Clear of the sticky header, as a person would scroll.
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found[0])
            found[0].click()
        except (StaleElementReferenceException, ElementClickInterceptedException):
            return False
        return True

    wait_for(attempt, 30, what)


def text_of(driver: Any, css: str) -> str:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return " ".join(e.text for e in by(driver, css))
    except StaleElementReferenceException:
        return ""


def test_dashboard_in_chromium(daemon: UiDaemon, browser: Any, tmp_path: Path) -> None:
    address = access.Address.read(daemon.state_dir)
    assert address is not None
    port = address.port
    # `floradrop dashboard --url` gives the address with the token.
    done = daemon.cli("dashboard", "--url")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert url.startswith(f"http://127.0.0.1:{port}/login?token=")

    # Refused: no token; the right token under a foreign Host (DNS rebinding).
    assert raw_get(port, "/", f"127.0.0.1:{port}") == 403
    assert raw_get(port, "/api/now", f"127.0.0.1:{port}") == 403
    token = {access.TOKEN_HEADER: access.token(daemon.state_dir)}
    assert raw_get(port, "/api/now", f"127.0.0.1:{port}", token) == 200
    assert raw_get(port, "/api/now", f"rebind.example:{port}", token) == 403
    browser.get(f"http://127.0.0.1:{port}/")
    assert "needs the dashboard's token" in browser.page_source

    # Signed in by the link: the cookie carries the token from then on.
    browser.get(url)
    wait_for(lambda: browser.current_url == f"http://127.0.0.1:{port}/", 30, "the redirect")
    wait_for(lambda: by(browser, "[data-folder]"), 30, "the folders in Now")
    assert "token=" not in browser.current_url
    # Each folder says whether its files are uploaded to FLORA or hosted in the user's bucket.
    assert {t.get_attribute("data-transfer") for t in by(browser, "[data-folder] .transfer")} == {
        "upload"
    }

    # Pause all from the page: the daemon is paused, and dropped files wait in Now.
    click(browser, "#pause-all", "the Pause all button")
    wait_for(lambda: daemon.status()["paused"], 30, "the daemon to be paused")
    cctv = tmp_path / "cctv"
    for i in range(3):
        drop(cctv, f"harbour-{i}.png", png_bytes(i, (320, 240)))
    wait_for(lambda: len(by(browser, '[data-state="waiting"]')) == 3, 60, "3 files waiting in Now")
    wait_for(lambda: "Held: paused" in text_of(browser, ".folder"), 30, "why they wait")

    # One folder paused on its own: Sigils' file waits while CCTV's run after Resume all.
    click(browser, '[data-folder$="sigils"] [data-folder-action="pause"]', "Pause folder")
    wait_for(lambda: by(browser, '[data-folder$="sigils"] [data-folder-action="resume"]'), 30, "it")

    def sigils_paused() -> bool:  # `floradrop status` says so too
        return any(f["paused"] for f in daemon.status()["folders"] if f["name"] == "Sigils")

    wait_for(sigils_paused, 30, "status to show Sigils paused")
    drop(tmp_path / "sigils", "rune.png", png_bytes(9))
    click(browser, "#pause-all", "the Resume all button")
    wait_for(lambda: not daemon.status()["paused"], 30, "the daemon to resume")

    def running() -> bool:  # the page re-renders Now every 1.5 s: read it all at once
        return (
            bool(by(browser, '[data-state="running"] .bar'))
            and "elapsed" in text_of(browser, '[data-state="running"] .meta')
            and " of 3 done" in text_of(browser, '[data-folder$="cctv"] .batch-text')
        )

    wait_for(running, 60, "a file running, with progress, elapsed time and its batch")
    shot(browser, tmp_path, "now")
    wait_for(lambda: daemon.states().get("done") == 3, 90, "the 3 files done")
    assert daemon.states().get("waiting") == 1  # rune.png, in the paused folder

    # History: the 3 with thumbnails and their cost.
    browser.get(f"http://127.0.0.1:{port}/#history")
    wait_for(lambda: len(by(browser, 'tr[data-state="done"]')) == 3, 30, "3 done rows")

    def thumbs_loaded() -> bool:
        from selenium.common.exceptions import StaleElementReferenceException

        script = "return arguments[0].complete && arguments[0].naturalWidth"
        try:  # the page refreshes its first page every few seconds: elements go stale
            images = by(browser, 'tr[data-state="done"] img.thumb')
            return len(images) == 3 and all(browser.execute_script(script, i) for i in images)
        except StaleElementReferenceException:
            return False

    wait_for(thumbs_loaded, 30, "3 thumbnails")
    costs = 'tr[data-state="done"] .cost'
    wait_for(lambda: text_of(browser, costs).count("$0.") == 3, 30, "3 costs")
    shot(browser, tmp_path, "history")

    # Open an output from the page: the daemon runs the platform opener on it.
    click(browser, 'tr[data-state="done"]', "a done row")
    wait_for(lambda: by(browser, '#detail [data-open="output"]'), 30, "the job's details")
    wait_for(lambda: "run_" in text_of(browser, "#detail dl"), 30, "the run id")
    click(browser, '#detail [data-open="output"]', "Open output")
    opened = tmp_path / "opened.txt"
    wait_for(opened.exists, 30, "the opener to be run")
    wait_for(lambda: ".cctv-cam." in opened.read_text(), 30, "the output to be opened")

    # Resume the folder: sigil always fails; its error report shows; Retry runs it again.
    browser.get(f"http://127.0.0.1:{port}/#now")
    click(browser, '[data-folder$="sigils"] [data-folder-action="resume"]', "Resume folder")
    wait_for(lambda: daemon.states().get("failed") == 1, 90, "rune.png to fail")
    browser.get(f"http://127.0.0.1:{port}/#history")
    click(browser, 'tr[data-state="failed"]', "the failed row")
    wait_for(lambda: "MODERATED" in text_of(browser, "#detail .report"), 30, "the report")
    click(browser, '#detail [data-action="retry"]', "Retry")

    def retried() -> bool:
        rows = json.loads(daemon.cli("history", "--json", str(tmp_path / "sigils")).stdout)
        return len(rows["jobs"]) == 2

    wait_for(retried, 60, "a second job for rune.png (the retry)")
    wait_for(lambda: daemon.states().get("failed") == 2, 90, "the retry to fail too")

    # Acknowledge the failures from the page: the tray's "needs attention" clears.
    wait_for(lambda: daemon.status()["attention"], 30, "the failure's attention")
    click(browser, "#ack", "Acknowledge")
    wait_for(lambda: daemon.status()["attention"] is None, 30, "the attention to clear")
    wait_for(lambda: not by(browser, "#attention:not([hidden])"), 30, "the banner to go")

    # A big drop (more than confirm_above_files) waits for a go-ahead: one file cancelled
    # from its line, the rest started from the question.
    browser.get(f"http://127.0.0.1:{port}/#now")
    big = tmp_path / "big"
    # Written first, then moved in together: the intake sees one burst of 4 whatever the load
    # (made and moved in one by one on a busy CI machine, the first ones were started before
    # the fourth arrived, as they should be, and the question was then about fewer files).
    staging = tmp_path / ".crowd"
    staging.mkdir()
    for i in range(4):
        (staging / f"crowd-{i}.png").write_bytes(png_bytes(20 + i))
    for i in range(4):
        os.replace(staging / f"crowd-{i}.png", big / f"crowd-{i}.png")
    wait_for(lambda: by(browser, "[data-question]"), 60, "the big-drop question")
    question = "Start 4 files in Big drops"
    wait_for(lambda: question in text_of(browser, "[data-question]"), 30, "the question's text")
    wait_for(
        lambda: len(by(browser, '[data-folder$="big"] li [data-action="approve"]')) == 4, 30, "4"
    )
    shot(browser, tmp_path, "question")
    click(browser, '[data-folder$="big"] li[data-job] [data-action="cancel"]', "Cancel a file")
    failed_dir = tmp_path / "big-failed"
    wait_for(lambda: any(failed_dir.glob("crowd-*.png")), 30, "the cancelled file filed away")
    click(browser, '[data-question] [data-action="approve"]', "Start on the question")
    wait_for(lambda: daemon.states().get("done") == 6, 90, "the other 3 done")
    assert len(list(failed_dir.glob("crowd-*.png"))) == 1

    # Spend: a bar per folder with today's cost, and the budgets drawn.
    browser.get(f"http://127.0.0.1:{port}/#spend")
    wait_for(lambda: by(browser, "#chart svg rect[data-group]"), 30, "the spend bars")
    assert len(by(browser, "#chart polyline.budget")) == 2  # daily, and CCTV Cam's own
    wait_for(lambda: "CCTV Cam" in text_of(browser, "#spend-table"), 30, "the spend table")
    shot(browser, tmp_path, "spend")
