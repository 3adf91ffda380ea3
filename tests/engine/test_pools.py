"""Worker pools start every thread at once, so the daemon's thread count never drifts."""

from __future__ import annotations

import threading

from floradrop.pools import full_pool


def names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_a_full_pool_has_all_its_threads_before_any_work() -> None:
    pool = full_pool(3, "test-full-pool")
    try:
        assert {f"test-full-pool_{i}" for i in range(3)} <= names()
        # Work that overlaps adds no thread.
        gate = threading.Event()
        futures = [pool.submit(gate.wait, 10) for _ in range(3)]
        gate.set()
        assert all(f.result(10) for f in futures)
        assert len([n for n in names() if n.startswith("test-full-pool_")]) == 3
    finally:
        pool.shutdown(wait=True)
    assert not [n for n in names() if n.startswith("test-full-pool_")]
