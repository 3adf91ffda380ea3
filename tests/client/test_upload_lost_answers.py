"""Lost answers to asset creates, one after another (found by the soak, scripts/soak.py).

An asset create whose answer is lost is retried with the same idempotency key, FLORA answers
409 ``idempotency_duplicate``, and the client makes a new asset under a new key. When the
answer to that second create is lost as well, the upload must still go through (it used to
fail the job with an "internal error").
"""

from __future__ import annotations

from pathlib import Path

from flora_emulator import Emulator
from floradrop.flora import FloraClient
from floradrop.flora.http import RequestInfo
from tests.engine.harness import png_bytes


def test_an_upload_survives_lost_answers_to_the_create_and_to_its_second_try(
    tmp_path: Path,
) -> None:
    source = tmp_path / "photo.png"
    source.write_bytes(png_bytes(1))
    with Emulator(seed=2, record=[]) as emu:
        # The answer to the 1st and 3rd asset create is lost; the retries are answered.
        plan = iter([0.0, 1.0, 0.0])
        emu.lose_response_rate = 1.0

        def after(info: RequestInfo) -> None:
            if info.method == "POST" and info.url.endswith("/assets"):
                emu.lose_response_rate = next(plan, 0.0)

        with FloraClient(
            emu.api_key, base_url=emu.base_url, sleep=lambda _s: None, on_request=after
        ) as client:
            asset = client.upload_file(
                source, workspace_id=emu.workspace_id, idempotency_key="job-1"
            )
        assert asset.ready
        creates = [e for e in emu.exchanges if e.route == "/assets" and e.method == "POST"]
        keys = [e.request_headers.get("idempotency-key") for e in creates]
        assert [e.status for e in creates] == [None, 409, None, 409, 201]
        assert keys[:2] == ["job-1", "job-1"]
        assert keys[2] == keys[3] != "job-1"
        assert len(set(keys)) == 3, "each new try has a key of its own"
