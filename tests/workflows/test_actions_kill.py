"""Actions across SIGKILLs at random moments: a real daemon killed again and again while files
flow, each file with a command and a webhook. In the end every file is done, every action ran
or was delivered (nothing armed or pending is left), and none more than once, except at most
one per kill and kind (the one a kill cut off midway runs again: at least once).

FLORADROP_ACTIONS_KILL_SEED replays a run.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from flora_emulator import Emulator
from tests.engine.harness import drop, folder_toml, png_bytes, wait_for, write_config
from tests.reliability.daemonproc import DaemonProcess, write_key
from tests.workflows.helpers import Receiver
from tests.workflows.test_actions_daemon import SECRET, _calls, _jobs, _outbox, _recorder

pytestmark = pytest.mark.slow

FILES = 24
KILLS = 6
SEED = int(os.environ.get("FLORADROP_ACTIONS_KILL_SEED", "1414"))


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    made: list[DaemonProcess] = []
    yield made
    for d in made:
        d.kill()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.timeout(400)
def test_actions_run_at_least_once_and_at_most_once_more_per_kill(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    rng = random.Random(SEED)
    receiver = Receiver(SECRET).up()
    record, log = _recorder(tmp_path)
    actions = (
        f"[[folders.on_done]]\ncommand = {record}\n"
        f'[[folders.on_done]]\nwebhook = "{receiver.url}"\nsecret_env = "HOOK_SECRET"\n'
    )
    emu = Emulator(seed=7, run_seconds=0.4, data_dir=tmp_path / "emu")
    key = write_key(tmp_path / "config" / "api-key", emu.api_key)
    config = write_config(
        tmp_path,
        folder_toml(tmp_path, "in", "cctv-cam", actions),
        daemon=f"max_concurrent_runs = 8\n[flora]\napi_key_file = {str(key)!r}\n",
    )
    (tmp_path / "in").mkdir()
    state = tmp_path / "state"

    def daemon() -> DaemonProcess:
        env = {"HOOK_SECRET": SECRET}
        out = tmp_path / "daemon.out"
        made = DaemonProcess(config, state, emu.base_url, out, extra_env=env)
        daemons.append(made)
        return made.start()

    stop_dropping = threading.Event()

    def dropper() -> None:
        for n in range(FILES):
            drop(tmp_path / "in", f"photo {n:02d}.png", png_bytes(200 + n))
            if stop_dropping.wait(rng_drop.uniform(0.0, 0.6)):
                return

    rng_drop = random.Random(SEED + 1)
    thread = threading.Thread(target=dropper, name="test-dropper")
    try:
        with emu:
            thread.start()
            for _ in range(KILLS):
                d = daemon()
                time.sleep(rng.uniform(0.2, 2.5))  # the random moment to kill at
                d.kill()
            thread.join()
            d = daemon()
            wait_for(lambda: d.states() == {"done": FILES}, 180, f"every file ({d.states()})")
            wait_for(
                lambda: Counter(r["status"] for r in _outbox(state)) == {"done": 2 * FILES},
                120,
                "every action run or delivered",
            )
            assert d.stop() == 0
    finally:
        stop_dropping.set()
        if thread.is_alive():
            thread.join()
        receiver.down()

    jobs = {str(j["id"]) for j in _jobs(state)}
    commands = Counter(c["job"] for c in _calls(log))
    deliveries = Counter(str(g["body"]["job_id"]) for g in receiver.deliveries())
    assert set(commands) == jobs and set(deliveries) == jobs  # every one at least once
    assert all(g["ok"] for g in receiver.deliveries())
    assert sum(commands.values()) - FILES <= KILLS  # a repeat only where a kill cut one off
    assert sum(deliveries.values()) - FILES <= KILLS
    assert emu.stats.runs_created == FILES
