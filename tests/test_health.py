"""Connectivity, key and credits on their own, against the emulator over loopback."""

from __future__ import annotations

import socket
from collections.abc import Callable

from flora_emulator import Emulator
from floradrop.flora import FloraClient
from floradrop.flora.errors import InsufficientCreditsError, NetworkError
from floradrop.health import OFFLINE_PROBE_MAX_SECONDS, Health
from floradrop.status import AttentionKind, Live


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_offline_then_reachable_again_through_the_probe(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    nowhere = FloraClient(emu.api_key, base_url=closed_port(), max_retries=0)
    changes: list[int] = []
    health = Health(
        Live(),
        nowhere,
        client_factory=lambda: FloraClient(emu.api_key, base_url=emu.base_url),
        changed=lambda: changes.append(1),
    )
    swapped: list[FloraClient] = []
    health.on_client(swapped.append)
    health.went_offline(NetworkError("connection refused", maybe_sent=False))
    assert health.live.offline and not health.can_work and changes
    # Offline: each failed probe waits longer, up to the cap.
    now, waits = health.next_probe, []
    for _ in range(6):
        assert not health.probe(now, connected=True, connect=lambda: None)
        waits.append(health.next_probe - now)
        now = health.next_probe
    assert waits == sorted(waits) and waits[-1] == OFFLINE_PROBE_MAX_SECONDS
    assert health.live.offline
    # A rejected key blocks; the next probe re-reads the key (a new client) and gets through.
    health.block(NetworkError("not really", maybe_sent=False))  # (any error: kind AUTH)
    assert health.key_rejected
    back = health.probe(health.next_probe, connected=True, connect=lambda: None)
    assert back and health.can_work and not health.live.offline
    assert swapped and swapped[-1] is health.client and health.client is not nowhere
    health.client.close()


def test_out_of_credits_lets_one_job_try_now_and_then(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    client = FloraClient(emu.api_key, base_url=emu.base_url)
    try:
        health = Health(Live(), client)
        health.credits_recheck_seconds = 5.0
        health.block(InsufficientCreditsError("balance too low", status_code=402))
        blocked = health.live.blocked
        assert blocked is not None and blocked.kind is AttentionKind.CREDITS
        assert not health.probe(0.0, connected=True, connect=lambda: None)  # not yet due
        due = health.next_probe
        assert not health.probe(due, connected=True, connect=lambda: None)
        assert health.trial and health.can_work  # one job may try; the rest wait for it
        assert health.next_probe == due + 5.0
        health.run_created()  # the trial's run was created: credits are back
        assert not health.trial
    finally:
        client.close()


def test_a_wake_from_sleep_is_noticed() -> None:
    wall = [5000.0]
    health = Health(Live(), FloraClient("k", base_url="http://127.0.0.1:9"))
    try:
        health.wall_clock = lambda: wall[0]
        assert not health.woke_up(100.0)
        wall[0] += 1.0
        assert not health.woke_up(101.0)
        wall[0] += 3600.0  # an hour passed on the wall clock, a second on the monotonic one
        assert health.woke_up(102.0)
    finally:
        health.client.close()
