"""Worker pools whose threads all exist from the start.

A :class:`~concurrent.futures.ThreadPoolExecutor` starts a thread only when every thread it has
is busy, so its size drifts up with load: two polls that once overlapped leave a second poll
thread for good. That is bounded, but it makes the daemon's thread count depend on its history,
and a leak check (``scripts/soak.py``) cannot tell such growth from a leak. Starting every
thread at once keeps the count flat: what the daemon has when it is up, it has for ever.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def full_pool(workers: int, name: str, timeout: float = 10.0) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads named ``name_0`` …, every one of them already started."""
    pool = ThreadPoolExecutor(workers, thread_name_prefix=name)
    # Each task holds its thread until all are in, so each submit has to start a new thread.
    everyone = threading.Barrier(workers + 1, timeout=timeout)
    for _ in range(workers):
        pool.submit(everyone.wait)
    everyone.wait()
    return pool
