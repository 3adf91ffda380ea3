"""The API key never lands anywhere floradrop writes, even when everything goes wrong.

A real daemon (debug logging, a log dir) runs a faulty batch with a recognisable key: 500s,
429s, resets and lost answers, a technique that fails every run (error reports), a key revoked
mid-batch (401) and replaced by a second recognisable key. Then every byte under the test's
directory (state dir with the SQLite journal and its WAL, log dir, config dir, inbox, outputs,
done and failed folders) and everything the daemon and the CLI printed (``status``,
``status --json``, ``check``, error exits) is searched for the keys. The one file allowed to
hold a key is the key file itself.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flora_emulator import Emulator
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config
from tests.hosting.conftest import S3
from tests.hosting.conftest import s3 as s3_server  # noqa: F401 - the S3 server fixture

from .daemonproc import DaemonProcess, write_key

pytestmark = pytest.mark.slow

CANARY = "SECRET_CANARY"
FIRST_KEY = f"sk_live_{CANARY}_first_5f1c0e9a7b3d42c8a6e1"
SECOND_KEY = f"sk_live_{CANARY}_second_0a9b8c7d6e5f4a3b2c1d"


def forms(key: str) -> list[bytes]:
    """The key as it could be written: plain, in a header, base64, UTF-16, the canary part."""
    return [
        key.encode(),
        f"Bearer {key}".encode(),
        base64.b64encode(key.encode()),
        key.encode("utf-16-le"),
        CANARY.encode(),
    ]


def leaks_in_files(root: Path, allowed: set[Path]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or path in allowed:
            continue
        data = path.read_bytes()
        for key in (FIRST_KEY, SECOND_KEY):
            for form in forms(key):
                if form in data:
                    found.append(f"{path}: {form[:40]!r}")
    return found


def leaks_in_text(texts: list[str]) -> list[str]:
    return [t[max(0, t.find(CANARY) - 200) :][:400] for t in texts if CANARY in t]


@pytest.fixture
def started() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


def test_a_whole_faulty_batch_leaves_the_key_nowhere(
    tmp_path: Path, started: list[DaemonProcess]
) -> None:
    key_file = write_key(tmp_path / "config" / "api-key", FIRST_KEY)
    emu = Emulator(
        seed=12,
        api_key=FIRST_KEY,
        data_dir=tmp_path.parent / f"{tmp_path.name}-emulator",  # the server's side
        error_rate=0.08,
        rate_limit_rate=0.05,
        retry_after_seconds=0.3,
        reset_rate=0.05,
        lose_response_rate=0.05,
        run_seconds=0.5,
    )
    folders = folder_toml(tmp_path, "cams", "cctv-cam") + folder_toml(tmp_path, "glyphs", "sigil")
    config = write_config(
        tmp_path,
        folders,
        daemon=f'log_level = "DEBUG"\n\n[flora]\napi_key_file = {str(key_file)!r}',
    )
    for inbox in ("cams", "glyphs"):
        (tmp_path / inbox).mkdir()
    texts: list[str] = []
    with emu:
        d = DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.out")
        started.append(d.start())
        for n in range(8):
            drop(tmp_path / "cams", f"cam {n}.png", png_bytes(1100 + n))
        for n in range(3):
            drop(tmp_path / "glyphs", f"glyph {n}.png", png_bytes(1200 + n))
        wait_for(lambda: d.states() == {"done": 8, "failed": 3}, 120, f"the batch ({d.states()})")
        assert len(list((tmp_path / "glyphs-failed").glob("*.error.txt"))) == 3

        emu.api_key = SECOND_KEY  # the first key is revoked mid-batch
        for n in range(8, 11):
            drop(tmp_path / "cams", f"cam {n}.png", png_bytes(1100 + n))
        wait_for(lambda: (a := d.status()["attention"]) and a["kind"] == "auth", 60, "the 401")
        # What a person would run now, with the revoked key still configured.
        texts += [d.status()["attention"]["message"], d.cli("status").stdout]
        check = d.cli("check")
        assert check.returncode == 4, check.stdout + check.stderr  # a key problem
        env_check = subprocess.run(  # the key from FLORA_API_KEY, in an error exit
            [sys.executable, "-m", "floradrop", "check", "--config", str(config)],
            env=d.env | {"FLORA_API_KEY": FIRST_KEY},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert env_check.returncode == 4
        texts += [env_check.stdout, env_check.stderr]
        # While it runs: the journal's WAL and shared-memory files are there too.
        running_leaks = leaks_in_files(tmp_path, {key_file})

        write_key(key_file, SECOND_KEY)  # the fix, then 'resume' (no 30 s wait for the re-check)
        assert d.cli("resume").returncode == 0
        wait_for(lambda: d.states() == {"done": 11, "failed": 3}, 90, f"the rest ({d.states()})")
        assert d.cli("check").returncode == 0
        texts.append(d.cli("status", "--json").stdout)
        assert d.stop() == 0, d.tail()

    faults = emu.stats.faults
    assert all(faults[k] for k in ("error", "rate_limit", "reset", "lose_response")), faults
    assert emu.stats.runs_created == 14
    log_files = list((tmp_path / "logs").iterdir())
    assert log_files and "HTTP POST" in "".join(p.read_text() for p in log_files), (
        "debug logging was on: every request was logged"
    )
    assert "401" in "".join(p.read_text() for p in log_files), "the revoked key was logged"
    assert key_file.stat().st_mode & 0o077 == 0
    assert leaks_in_files(key_file.parent, set()), "the search finds a key where there is one"
    assert running_leaks == []
    assert leaks_in_files(tmp_path, {key_file}) == []
    assert leaks_in_text(texts + d.captured) == []
    assert sorted(os.listdir(tmp_path / "glyphs-failed"))  # the error reports were searched


S3_SECRET = f"{CANARY}_s3secret_4e7d1c9b2a8f6e3d5c0b"
S3_TOKEN = f"{CANARY}_s3token_Fwo9ZXIvYXdzEJr//////////wEaDH"
S3_ACCESS = "AKIACANARYHOSTING042"


@pytest.mark.timeout(300)
def test_hosting_credentials_and_link_signatures_are_in_no_file(
    tmp_path: Path,
    started: list[DaemonProcess],
    s3_server: S3,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hosted files, multipart and single, a restart, and everything a person would run:
    the storage secret, the session token, the access key id and every signature FLORA was
    given are in no file floradrop wrote and in nothing it printed."""
    s3 = s3_server
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", S3_TOKEN)
    emu = Emulator(
        seed=13,
        run_seconds=0.3,
        allow_private_fetch=True,
        data_dir=tmp_path.parent / f"{tmp_path.name}-emulator",
    ).start()
    key_file = write_key(tmp_path / "config" / "api-key", emu.api_key)
    host = 'transfer = "host"\n'
    folders = (
        folder_toml(tmp_path, "cams", "cctv-cam", host)
        + folder_toml(tmp_path, "clips", "product-motion", host)
        + s3.toml()
    )
    config = write_config(
        tmp_path,
        folders,
        daemon=f'log_level = "DEBUG"\n\n[flora]\napi_key_file = {str(key_file)!r}',
    )
    for inbox in ("cams", "clips"):
        (tmp_path / inbox).mkdir()
    with emu:
        d = DaemonProcess(config, tmp_path / "state", emu.base_url, tmp_path / "daemon.out")
        started.append(d.start())
        for n in range(3):
            drop(tmp_path / "cams", f"cam {n}.png", png_bytes(1300 + n))
        drop(tmp_path / "clips", "clip.mp4", b"\0\0\0\x18ftypmp42" + os.urandom(20 * 2**20))
        wait_for(lambda: d.states() == {"done": 4}, 120, f"the batch ({d.states()})")
        assert d.stop() == 0, d.tail()
        d.start()  # a restart reads the journal and the ledger
        texts = [d.cli("status").stdout, d.cli("status", "--json").stdout]
        check = d.cli("check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert d.stop() == 0, d.tail()
    signatures = set()
    for run in emu.runs():
        for value in run.inputs.values():
            query = parse_qs(urlsplit(value).query)
            signatures.update(query.get("X-Amz-Signature", []))
            assert query.get("X-Amz-Security-Token") == [S3_TOKEN], "the token reached FLORA"
    assert len(signatures) == 4
    secrets_ = [S3_SECRET, S3_TOKEN, S3_ACCESS, *signatures]
    found = []
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {s[:24]}" for s in secrets_ if s.encode() in data]
    assert found == []
    printed = "\n".join(texts + d.captured)
    assert [s for s in secrets_ if s in printed] == []
    ledger = b"".join(p.read_bytes() for p in (tmp_path / "state").glob("hosting.sqlite3*"))
    assert b"floradrop/" in ledger, "the ledger (and its WAL) was searched too"
