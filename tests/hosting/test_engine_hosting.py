"""The engine with a hosting folder when the storage is not right yet: the file waits (never
failed, never paid), the reason is shown, and it goes through by itself once fixed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from floradrop.emulator import Emulator
from floradrop.status import JobState
from tests.engine.harness import drop, folder_toml, png_bytes, running, wait_for, write_config

from .conftest import S3


def test_a_missing_bucket_and_missing_credentials_keep_the_file_waiting(
    tmp_path: Path,
    s3: S3,
    emulator_factory: Callable[..., Emulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator = emulator_factory(allow_private_fetch=True)
    folders = folder_toml(tmp_path, "in", "cctv-cam", 'transfer = "host"\n')
    hosting = s3.toml().replace(s3.bucket, "later-bucket")
    config = write_config(tmp_path, folders + hosting)
    (tmp_path / "in").mkdir()
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")  # no credentials at first
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-such-file"))
    with running(config, emulator) as daemon:
        engine = daemon.engine
        drop(tmp_path / "in", "a.png", png_bytes(7))
        wait_for(lambda: "no credentials" in (engine.live.last_error or ""), 30, "the credentials")
        assert [j.state for j in daemon.jobs()] == [JobState.WAITING]
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "now-there-0123456789")
        wait_for(lambda: "later-bucket" in (engine.live.last_error or ""), 60, "the bucket")
        assert [j.state for j in daemon.jobs()] == [JobState.WAITING]
        assert emulator.runs() == []
        s3.client.make_bucket("later-bucket")
        daemon.wait_state(1, JobState.DONE, timeout=120)
    assert len(emulator.runs()) == 1
    assert [o.object_name for o in s3.client.list_objects("later-bucket", recursive=True)]
