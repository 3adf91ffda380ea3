"""An API that goes away and comes back: stop() then start() on the same port, same state."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from flora_emulator import Emulator
from tests.emulator.helpers import api_client, image_input, run_until_done, scene, start, upload


def test_a_restart_serves_the_same_port_and_state_and_finishes_interrupted_runs(
    tmp_path: Path,
) -> None:
    emu = Emulator(seed=1, data_dir=tmp_path / "emu").start()
    try:
        port = emu.port
        with api_client(emu) as api:
            asset = upload(api, emu, scene())
            # Two workers do the runs' work: most of these are still queued at the stop.
            run_ids = [
                start(api, "cctv-cam", [image_input(asset["url"])]).json()["run_id"]
                for _ in range(12)
            ]
        emu.stop()
        with pytest.raises(httpx.ConnectError), api_client(emu) as api:
            api.get("/workspaces")  # down: the connection is refused

        emu.start()
        assert emu.port == port
        with api_client(emu) as api:
            views = [run_until_done(api, run_id) for run_id in run_ids]
            assert [v["status"] for v in views] == ["completed"] * 12
            assert api.get(f"/assets/{asset['asset_id']}").json()["status"] == "ready"
            outputs = {v["outputs"][0]["url"] for v in views}
            assert len(outputs) == 12
            for url in outputs:
                assert httpx.get(url).status_code == 200
        assert emu.stats.runs_created == 12
        assert emu.stats.internal_errors == 0
    finally:
        emu.stop()
