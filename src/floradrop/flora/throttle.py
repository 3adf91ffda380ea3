"""One rate limit for the whole session: FLORA limits a workspace, not a request.

Without this, each request retries a 429 on its own: with six upload workers and a poller,
the daemon keeps sending several requests per ``retry-after`` to a server that asked it to
wait. With it, a 429 on any request

* makes every API request of the session wait until the server's ``retry-after`` has passed
  (the *cool-down*), and
* limits the session to :data:`THROTTLED_CONCURRENCY` API requests in flight until one gets an
  answer other than 429 (FLORA's advice: "drop to 2 concurrent requests when you see 429").

Only requests to the API itself are throttled; upload targets and output hosts are other
hosts with their own limits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

THROTTLED_CONCURRENCY: Final = 2
_SLOT_CHECK_SECONDS: Final = 1.0  # a waiting request re-checks at least this often


class Throttle:
    """The session's shared cool-down and in-flight limit (thread-safe)."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int = THROTTLED_CONCURRENCY,
    ) -> None:
        self._clock = clock
        self._concurrency = concurrency
        self._cond = threading.Condition()
        self._until = 0.0  # no API request is sent before this (clock time)
        self._limited = False  # a 429 arrived and no other answer since
        self._in_flight = 0
        self._waiting = 0  # requests waiting for a slot

    @property
    def limited(self) -> bool:
        """Whether the last answer was a 429 (the in-flight limit applies)."""
        return self._limited

    @property
    def waiting(self) -> int:
        """How many requests wait for a slot right now."""
        with self._cond:
            return self._waiting

    def cool_down_left(self) -> float:
        """Seconds until requests may be sent again (0 when they may now)."""
        with self._cond:
            return max(0.0, self._until - self._clock())

    def enter(self, sleep: Callable[[float], None], *, waited: float = 0.0) -> None:
        """Wait for the cool-down and for a free slot, then count one request in flight.

        ``sleep`` waits out the cool-down (the session's own, so tests need not wait);
        ``waited`` is the cool-down end this request has already slept until (a request that
        got the 429 itself waited in its retry), so it is not waited for twice.
        """
        while True:
            with self._cond:
                until = self._until
                left = until - self._clock()
                if left <= 0 or until <= waited:
                    if not self._limited or self._in_flight < self._concurrency:
                        self._in_flight += 1
                        return
                    self._waiting += 1
                    try:
                        self._cond.wait(_SLOT_CHECK_SECONDS)
                    finally:
                        self._waiting -= 1
                    continue
            sleep(left)
            waited = until

    def leave(self, status: int | None, *, wait: float = 0.0) -> float:
        """Count the request done; ``status`` is its answer (None: no answer arrived).

        A 429 starts (or extends) the cool-down by ``wait`` seconds. Returns the end of the
        cool-down, for :meth:`enter`'s ``waited`` on the request's own retry.
        """
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if status == 429:
                self._limited = True
                self._until = max(self._until, self._clock() + wait)
            elif status is not None:
                self._limited = False
            self._cond.notify_all()
            return self._until
