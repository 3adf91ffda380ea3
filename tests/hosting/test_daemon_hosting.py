"""A real ``floradrop run`` with ``transfer = "host"``, a real S3 server (moto) and the
emulator fetching from it: each dropped file becomes one object and one run whose input is
that object's presigned link; no FLORA asset is made; a SIGKILL in the middle of a multipart
upload resumes it without a second object or a second run. Dropped links run on their URL."""

from __future__ import annotations

import hashlib
import json
import os
import plistlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flora_emulator import Emulator
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config
from tests.reliability.daemonproc import DaemonProcess, write_key

from .conftest import S3, FileServer, big_file

pytestmark = pytest.mark.slow


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


def setup(
    tmp_path: Path, emu: Emulator, folders: str, extra: str = ""
) -> tuple[Path, DaemonProcess]:
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    config = write_config(
        tmp_path, folders, daemon=f"{extra}\n[flora]\napi_key_file = {str(key)!r}\n"
    )
    return config, DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "out.log")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.timeout(240)
def test_every_dropped_file_is_one_object_and_one_run_on_its_link(
    tmp_path: Path, s3: S3, daemons: list[DaemonProcess]
) -> None:
    emu = Emulator(seed=4, run_seconds=0.3, allow_private_fetch=True, data_dir=tmp_path / "emu")
    host = 'transfer = "host"\n'
    folders = folder_toml(tmp_path, "cams", "cctv-cam", host) + s3.toml("url_ttl_hours = 2")
    emu.start()
    config, d = setup(tmp_path, emu, folders)
    (tmp_path / "cams").mkdir()
    pictures = {f"cam {n}.png": png_bytes(300 + n) for n in range(4)}
    pictures["copy of cam 0.png"] = pictures["cam 0.png"]  # same bytes: skipped as duplicate
    with emu:
        daemons.append(d.start())
        for name, data in pictures.items():
            drop(tmp_path / "cams", name, data)
        wait_for(lambda: d.states() == {"done": 4, "duplicate": 1}, 120, f"jobs ({d.states()})")
        status = d.status()
        check = d.cli("check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "is reachable and writable, and a presigned link" in check.stdout
        bad = tmp_path / "bad.toml"
        bad.write_text(config.read_text().replace(s3.bucket, "no-such-bucket"))
        refused = subprocess.run(
            [sys.executable, "-m", "floradrop", "check", "--config", str(bad)],
            env=d.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert refused.returncode == 5 and "no-such-bucket" in refused.stderr, refused
        human = d.cli("status").stdout
        assert "files hosted in [hosting]" in human
        assert d.stop() == 0, d.tail()
    expected = {f"floradrop/{sha(data)}.png" for data in pictures.values()}
    assert set(s3.keys()) == expected and len(expected) == 4
    assert emu.state.assets == {}, "no FLORA asset was made"
    runs = emu.runs()
    assert len(runs) == 4
    linked = set()
    for run in runs:
        url = run.inputs["input_image"]
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == s3.endpoint
        query = parse_qs(parts.query)
        assert query["X-Amz-Signature"] and query["X-Amz-Expires"] == ["7200"]
        linked.add(parts.path.removeprefix(f"/{s3.bucket}/"))
    assert linked == expected
    outputs = sorted((tmp_path / "cams-outputs").glob("*.png"))
    assert len(outputs) == 4
    provenance = json.loads(Path(f"{outputs[0]}.json").read_text())
    [image] = provenance["inputs"]
    assert image["hosted_object"] in expected and "X-Amz-Signature" not in image["url"]
    assert sorted(p.name for p in (tmp_path / "cams-done").iterdir()) == sorted(pictures)
    [folder] = status["folders"]
    assert folder["transfer"] == "host"


@pytest.mark.timeout(300)
def test_a_sigkill_during_a_multipart_upload_resumes_it_once(
    tmp_path: Path, s3: S3, daemons: list[DaemonProcess]
) -> None:
    emu = Emulator(seed=5, run_seconds=0.3, allow_private_fetch=True, data_dir=tmp_path / "emu")
    folders = folder_toml(tmp_path, "clips", "product-motion", 'transfer = "host"\n')
    emu.start()
    _config, d = setup(tmp_path, emu, folders + s3.toml())
    (tmp_path / "clips").mkdir()
    clip = big_file(tmp_path / "clip.mp4", 96 * 1024 * 1024, head=b"\0\0\0\x18ftypmp42")
    digest = sha(clip.read_bytes())
    with emu:
        daemons.append(d.start())
        os.replace(clip, tmp_path / "clips" / "clip.mp4")

        def some_parts_sent() -> bool:
            uploads = s3.uploads_in_progress()
            return bool(uploads) and s3.parts(*uploads[0]) >= 1

        wait_for(some_parts_sent, 120, "the multipart upload to be under way")
        assert d.proc is not None
        os.killpg(d.proc.pid, signal.SIGKILL)
        d.proc.wait(10)
        [(key, upload_id)] = s3.uploads_in_progress()
        assert s3.keys() == [], "killed before the upload was complete"
        sent_before = s3.parts(key, upload_id)

        d.start()
        wait_for(lambda: d.states() == {"done": 1}, 180, f"the clip ({d.states()})")
        assert d.stop() == 0, d.tail()
    assert s3.keys() == [f"floradrop/{digest}.mp4"] and s3.uploads_in_progress() == []
    assert len(emu.runs()) == 1, "one run, however many starts"
    assert f"{sent_before} part(s) already in the bucket" in d.tail() or (
        "part(s) already in the bucket" in (tmp_path / "out.log").read_text()
    )
    output = tmp_path / "clips-outputs" / "clip.product-motion.mp4"
    assert sha(output.read_bytes()) == digest


@pytest.mark.timeout(240)
def test_dropped_links_run_on_their_url_and_private_ones_are_refused(
    tmp_path: Path, file_server: FileServer, daemons: list[DaemonProcess]
) -> None:
    for name in ("a", "b", "c"):
        file_server.routes[f"/shots/{name}.png"] = (
            200,
            {"Content-Type": "image/png"},
            png_bytes(ord(name)),
        )
    emu = Emulator(seed=6, run_seconds=0.3, allow_private_fetch=True, data_dir=tmp_path / "emu")
    trusted = "links = true\nallow_private_links = true\n"
    folders = folder_toml(tmp_path, "links", "cctv-cam", trusted) + folder_toml(
        tmp_path, "strict", "cctv-cam", "links = true\n"
    )
    emu.start()
    _config, d = setup(tmp_path, emu, folders)
    for name in ("links", "strict"):
        (tmp_path / name).mkdir()
    base = f"{file_server.url}/shots"
    with emu:
        daemons.append(d.start())
        drop(tmp_path / "links", "a.url", f"[InternetShortcut]\r\nURL={base}/a.png\r\n")
        drop(tmp_path / "links", "b.webloc", plistlib.dumps({"URL": f"{base}/b.png"}))
        drop(tmp_path / "links", "c.txt", f"{base}/c.png\n")
        drop(tmp_path / "strict", "d.url", f"[InternetShortcut]\nURL={base}/a.png\n")
        wait_for(lambda: d.states() == {"done": 3, "failed": 1}, 120, f"jobs ({d.states()})")
        assert d.stop() == 0, d.tail()
    assert sorted(r.inputs["input_image"] for r in emu.runs()) == [f"{base}/{n}.png" for n in "abc"]
    assert emu.state.assets == {}, "links are not downloaded or uploaded"
    assert sorted(file_server.hits) == ["/shots/a.png", "/shots/b.png", "/shots/c.png"]
    assert len(list((tmp_path / "links-outputs").glob("*.png"))) == 3
    report = (tmp_path / "strict-failed" / "d.url.error.txt").read_text()
    assert "loopback" in report and "allow_private_links" in report
