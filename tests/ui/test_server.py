"""The dashboard server over loopback, in-process: access rules, the API, the journal's history.

A real ``Dashboard`` on a free port over a real journal file; the control handler is a plain
function that records what it was asked (the daemon passes its own, tested end to end in
``test_dashboard_e2e.py``).
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floradrop.config import parse_config
from floradrop.history import Query, search, spend
from floradrop.jobs import JobState
from floradrop.journal import SCHEMA_VERSION, Journal
from floradrop.snapshot import build_snapshot
from floradrop.ui import Dashboard, access
from floradrop.ui.api import Context
from tests.engine.harness import png_bytes, wait_for


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Dashboard, Journal, list[dict[str, Any]], Path]]:
    inbox = tmp_path / "cctv"
    inbox.mkdir()
    config = parse_config(
        {
            "daemon": {"state_dir": str(tmp_path / "state"), "daily_budget_usd": 5},
            "folders": [{"path": str(inbox), "technique": "cctv-cam", "budget_usd": 2}],
        }
    )
    journal = Journal(tmp_path / "state" / "journal.sqlite3")
    calls: list[dict[str, Any]] = []

    def control(request: dict[str, Any]) -> dict[str, Any]:
        calls.append(request)
        return {"ok": True, "message": f"did {request['command']}"}

    opened: list[Path] = []
    context = Context(
        config=lambda: config,
        journal=journal,
        snapshot=lambda: build_snapshot(config, journal, daemon_running=True),
        control=control,
        actions=frozenset({"pause", "resume", "retry", "approve", "cancel"}),
        folder_actions=frozenset({"pause", "resume", "approve", "cancel"}),
        opener=opened.append,
        thumbs_dir=tmp_path / "state" / "thumbs",
    )
    dashboard = Dashboard(tmp_path / "state", 0, context)
    assert dashboard.start() is not None
    yield dashboard, journal, calls, tmp_path
    dashboard.stop()
    journal.close()


def add_done_job(
    journal: Journal, folder: Path, name: str, output: Path | None, **extra: Any
) -> int:
    fields: dict[str, Any] = {
        "job_key": name,
        "folder": str(folder),
        "rel_path": name,
        "source_path": str(folder / name),
        "size": 1,
        "mtime_ns": 1,
        "content_hash": name,
        "rule_index": 0,
        "technique": "cctv-cam",
        "run_cost": 0.25,
        "state": JobState.DONE,
        "cost": 0.25,
        "day": time.strftime("%Y-%m-%d"),
        "outputs": [{"status": "written", "path": str(output)}] if output else [],
        "finished_at": time.time(),
        "run_id": "run_1",
    }
    fields.update(extra)
    return journal.add_job(**fields).id


def request(
    dashboard: Dashboard,
    method: str,
    path: str,
    *,
    host: str | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", dashboard.port, timeout=10)
    all_headers = {"Host": host or f"127.0.0.1:{dashboard.port}", **(headers or {})}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=all_headers)
    response = conn.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return result


def login(dashboard: Dashboard) -> str:
    status, headers, _ = request(dashboard, "GET", f"/login?token={dashboard.secret}")
    assert status == 303
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";")[0]


def test_token_file_is_private_and_kept(setup: Any) -> None:
    dashboard, _journal, _calls, tmp_path = setup
    path = tmp_path / "state" / access.TOKEN_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert access.token(tmp_path / "state") == dashboard.secret  # the same at the next start
    address = access.Address.read(tmp_path / "state")
    assert address is not None and address.port == dashboard.port


def test_refused_without_token_with_foreign_host_or_without_csrf(setup: Any) -> None:
    dashboard, _journal, calls, _ = setup
    assert request(dashboard, "GET", "/")[0] == 403
    assert request(dashboard, "GET", "/api/now")[0] == 403
    assert request(dashboard, "GET", "/login?token=wrong")[0] == 403
    cookie = login(dashboard)
    assert request(dashboard, "GET", "/", headers={"Cookie": cookie})[0] == 200
    # DNS rebinding: a name that resolves to 127.0.0.1 still carries its own Host header.
    for host in (f"evil.example:{dashboard.port}", "127.0.0.1", f"localhost:{dashboard.port + 1}"):
        assert (
            request(dashboard, "GET", "/api/now", host=host, headers={"Cookie": cookie})[0] == 403
        )
    status, headers, _ = request(
        dashboard, "GET", f"/login?token={dashboard.secret}", host=f"evil.example:{dashboard.port}"
    )
    assert status == 403 and "Set-Cookie" not in headers
    # A change needs the cookie and the page's CSRF header, from this origin.
    body = {"action": "pause"}
    assert (
        request(dashboard, "POST", "/api/action", headers={"Cookie": cookie}, body=body)[0] == 403
    )
    csrf = {"Cookie": cookie, access.CSRF_HEADER: dashboard.csrf}
    evil = {**csrf, "Origin": "http://evil.example"}
    assert request(dashboard, "POST", "/api/action", headers=evil, body=body)[0] == 403
    assert (
        request(
            dashboard,
            "POST",
            "/api/action",
            headers={access.CSRF_HEADER: dashboard.csrf},
            body=body,
        )[0]
        == 403
    )
    assert calls == []
    status, headers, _ = request(dashboard, "POST", "/api/action", headers=csrf, body=body)
    assert status == 200 and calls == [{"command": "pause"}]
    assert not any(h.lower().startswith("access-control") for h in headers)


def test_page_embeds_csrf_and_serves_assets(setup: Any) -> None:
    dashboard, *_ = setup
    cookie = login(dashboard)
    status, headers, body = request(dashboard, "GET", "/", headers={"Cookie": cookie})
    assert status == 200 and dashboard.csrf.encode() in body and b"{{CSRF}}" not in body
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    for asset in ("/app.js", "/app.css"):
        status, _, body = request(dashboard, "GET", asset, headers={"Cookie": cookie})
        assert status == 200 and body and b"http://" not in body.replace(b"http://www.w3.org", b"")


def test_history_thumbnails_spend_and_actions(setup: Any) -> None:
    dashboard, journal, calls, tmp_path = setup
    inbox = tmp_path / "cctv"
    out = tmp_path / "cctv-outputs"
    out.mkdir()
    image = out / "a.cctv-cam.png"
    image.write_bytes(png_bytes(1, (640, 480)))
    first = add_done_job(journal, inbox, "a.png", image)
    add_done_job(
        journal, inbox, "b.png", None, state=JobState.FAILED, cost=None, error_message="no"
    )
    token = {access.TOKEN_HEADER: dashboard.secret}
    status, _, body = request(dashboard, "GET", "/api/history?facets=1", headers=token)
    data = json.loads(body)
    assert status == 200 and data["total"] == 2
    assert [r["name"] for r in data["rows"]] == ["b.png", "a.png"]  # newest first
    assert data["facets"]["state"] == ["done", "failed"]
    data = json.loads(request(dashboard, "GET", "/api/history?q=a.p&state=done", headers=token)[2])
    assert [r["id"] for r in data["rows"]] == [first] and data["rows"][0]["cost"] == 0.25
    status, headers, body = request(dashboard, "GET", f"/api/thumb?job={first}&i=0", headers=token)
    assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"
    from PIL import Image

    cached = list((tmp_path / "state" / "thumbs").glob("*.jpg"))
    assert len(cached) == 1
    with Image.open(cached[0]) as small:
        assert max(small.size) == 160
    assert request(dashboard, "GET", f"/api/thumb?job={first}&i=5", headers=token)[0] == 404
    data = json.loads(request(dashboard, "GET", "/api/spend?period=day", headers=token)[2])
    assert data["series"][str(inbox)][-1] == 0.25
    assert data["budgets"] == {"daily": 5.0, "folders": {str(inbox): 2.0}}
    assert json.loads(request(dashboard, "GET", "/api/spend?period=month", headers=token)[2])[
        "days"
    ][-1] in (28, 29, 30, 31)
    post = {**token, access.CSRF_HEADER: dashboard.csrf}
    assert (
        request(
            dashboard, "POST", "/api/action", headers=post, body={"action": "retry", "job": first}
        )[0]
        == 200
    )
    assert calls[-1] == {"command": "retry", "job": first, "path": str(inbox / "a.png")}
    body = {"action": "pause", "folder": str(inbox)}
    assert request(dashboard, "POST", "/api/action", headers=post, body=body)[0] == 200
    assert calls[-1] == {"command": "pause", "folder": str(inbox)}
    # approve / cancel name their jobs (or folder) as the control channel's "targets".
    body = {"action": "cancel", "job": first}
    assert request(dashboard, "POST", "/api/action", headers=post, body=body)[0] == 200
    assert calls[-1] == {"command": "cancel", "targets": [str(first)]}
    body = {"action": "approve", "folder": str(inbox)}
    assert request(dashboard, "POST", "/api/action", headers=post, body=body)[0] == 200
    assert calls[-1] == {"command": "approve", "targets": [str(inbox)]}
    for bad in (
        {"action": "format-disk"},
        {"action": "pause", "folder": "/etc"},
        {"action": "retry"},
        {"action": "cancel"},  # cancel names what it cancels
    ):
        assert request(dashboard, "POST", "/api/action", headers=post, body=bad)[0] in (400, 404)
    status, _, body = request(
        dashboard, "POST", "/api/open", headers=post, body={"job": first, "what": "output_folder"}
    )
    assert status == 200 and json.loads(body)["opened"] == str(out)


def test_now_lists_unfinished_jobs_with_their_batch(setup: Any) -> None:
    dashboard, journal, _calls, tmp_path = setup
    inbox = tmp_path / "cctv"
    now = time.time()
    add_done_job(journal, inbox, "old.png", None, created_at=now - 100, finished_at=now - 90)
    add_done_job(journal, inbox, "one.png", None, created_at=now - 10)  # this batch: done
    add_done_job(
        journal,
        inbox,
        "two.png",
        None,
        created_at=now - 5,
        state=JobState.HELD,
        note="waiting for budget",
        cost=None,
        finished_at=None,
    )
    data = json.loads(
        request(dashboard, "GET", "/api/now", headers={access.TOKEN_HEADER: dashboard.secret})[2]
    )
    folder = data["folders"][0]
    assert [j["name"] for j in folder["jobs"]] == ["two.png"]
    assert folder["jobs"][0]["why"] == "waiting for budget"
    assert folder["batch"] == {"done": 1, "total": 2}
    assert folder["transfer"] == "upload" and folder["links"] is False  # host or upload, shown
    assert data["actions"] == ["approve", "cancel", "pause", "resume", "retry"]
    assert folder["jobs"][0]["cancellable"] and not folder["jobs"][0]["asked"]


def test_migration_adds_the_history_indexes(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    Journal(path).close()
    with sqlite3.connect(path) as db:  # an old journal: version 1, without the indexes
        for name in (
            "jobs_folder",
            "jobs_technique",
            "jobs_created",
            "jobs_finished",
            "jobs_spend",
        ):
            db.execute(f"DROP INDEX {name}")
        db.execute("UPDATE settings SET value = '1' WHERE key = 'schema_version'")
    journal = Journal(path)
    assert journal.get_setting("schema_version") == str(SCHEMA_VERSION)
    names = {r[0] for r in journal.select("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"jobs_folder", "jobs_technique", "jobs_created", "jobs_spend"} <= names
    plan = " ".join(
        str(r[3])
        for r in journal.select(
            "EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE folder = 'x' ORDER BY id DESC LIMIT 50"
        )
    )
    assert "jobs_folder" in plan and "TEMP B-TREE" not in plan
    assert search(journal, Query()).total == 0 and spend(journal)["series"] == {}
    journal.close()


def test_stop_is_prompt_and_frees_the_port(setup: Any) -> None:
    dashboard, *_ = setup
    port = dashboard.port
    started = time.monotonic()
    dashboard.stop()
    assert time.monotonic() - started < 5
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")


def test_the_token_never_reaches_the_log(setup: Any) -> None:
    import socket

    from loguru import logger

    dashboard, *_ = setup
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE", format="{message}")
    try:
        login(dashboard)
        with socket.create_connection(("127.0.0.1", dashboard.port), timeout=10) as raw:
            raw.sendall(f"BOGUS /login?token={dashboard.secret} HTTP/1.1 extra\r\n\r\n".encode())
            assert b"400" in raw.recv(4096)  # refused (the answer goes only to the sender)
        wait_for(lambda: len(lines) >= 2, 10, "both requests logged")
    finally:
        logger.remove(sink)
    assert not any(dashboard.secret in line for line in lines), lines
