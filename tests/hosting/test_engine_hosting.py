"""The engine with a hosting folder when the storage is not right yet: the file waits (never
failed, never paid), the reason is shown, and it goes through by itself once fixed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flora_emulator import Emulator
from floradrop.jobs import JobState
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


@pytest.mark.timeout(300)
def test_run_creates_sent_again_carry_the_same_signed_inputs(
    tmp_path: Path, s3: S3, emulator_factory: Callable[..., Emulator]
) -> None:
    """Lost answers and reset connections make floradrop send run creates again (retried, or
    resolved later from the journal, where the links are kept unsigned): every create sent
    under one idempotency key carries byte-identical inputs, signatures included, and each
    file gets exactly one run."""
    from flora_emulator import Exchange

    exchanges: list[Exchange] = []
    emulator = emulator_factory(
        allow_private_fetch=True,
        record=exchanges,
        seed=7,
        reset_rate=0.25,
        lose_response_rate=0.25,
        retry_after_seconds=0.1,
    )
    folders = folder_toml(tmp_path, "in", "cctv-cam", 'transfer = "host"\n')
    config = write_config(tmp_path, folders + s3.toml())
    (tmp_path / "in").mkdir()
    with running(config, emulator) as daemon:
        for n in range(6):
            drop(tmp_path / "in", f"p{n}.png", png_bytes(40 + n))
        daemon.wait_state(6, JobState.DONE, timeout=240)
    runs = emulator.runs()
    assert len(runs) == 6 and len({r.idempotency_key for r in runs}) == 6
    bodies: dict[str, set[bytes]] = {}
    for exchange in exchanges:
        if exchange.method == "POST" and exchange.path.endswith("/runs"):
            if not exchange.request_body:
                continue  # reset before the body was read
            key = exchange.request_headers.get("idempotency-key", "")
            bodies.setdefault(key, set()).add(exchange.request_body)
    assert len(bodies) == 6
    changed = {k: sorted(v) for k, v in bodies.items() if len(v) > 1}
    assert changed == {}, "a create changed when sent again"
    creates = [
        e for e in exchanges if e.method == "POST" and e.path.endswith("/runs") and e.request_body
    ]
    assert len(creates) > 6, "some creates were sent again (the faults hit them)"
    assert all(b"X-Amz-Signature=" in body for sent in bodies.values() for body in sent)
