"""Whether work can reach FLORA: connectivity, the API key and the credits, and the client.

:class:`Health` owns ``Live.offline`` and ``Live.blocked`` (workers, polls and the scheduler
report through it, under its lock), the FLORA client (swapped for a fresh one when a rejected
key may have been fixed) and the probe that finds out when work can go on:

* offline, the API is tried again after 2 s, doubling up to :data:`OFFLINE_PROBE_MAX_SECONDS`;
* with a rejected key, the key is re-read and tried every :data:`AUTH_RECHECK_SECONDS`;
* out of credits, one job is let through every :data:`CREDITS_RECHECK_SECONDS` (a *trial*:
  only a run can tell whether credits are back).

It also notices the machine waking from sleep (the wall clock ran ahead of the monotonic one),
after which folder events may have been lost.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from floradrop.errors import FatalError, FloradropError
from floradrop.policy import Act, classify
from floradrop.status import Attention, AttentionKind, Live

if TYPE_CHECKING:
    from floradrop.flora.client import FloraClient

# Offline, the API is tried again after 2 s, doubling up to this (so work resumes at most
# this long, plus one request's retries, after FLORA is back).
OFFLINE_PROBE_MAX_SECONDS = 10.0
FIRST_PROBE_SECONDS = 2.0
# Blocked, the daemon checks by itself whether the problem was fixed: a rejected key is
# re-read and tried this often, and one run is tried this often after credits ran out.
AUTH_RECHECK_SECONDS = 30.0
CREDITS_RECHECK_SECONDS = 60.0
CONFIG_RECHECK_SECONDS = 60.0
# The wall clock ran this much ahead of the monotonic one between two scheduler rounds: the
# machine slept (monotonic clocks stop during suspend on Linux and macOS), and folder events
# may have been lost, so every folder is rescanned at once (or the clock was set: harmless).
SLEEP_JUMP_SECONDS = 30.0


class Health:
    """Connectivity, key and credit state (thread-safe), and the client in use."""

    def __init__(
        self,
        live: Live,
        client: FloraClient,
        *,
        client_factory: Callable[[], FloraClient] | None = None,
        changed: Callable[[], None] = lambda: None,
    ) -> None:
        self.live = live
        self._client = client
        self._client_factory = client_factory
        self._changed = changed
        self._users: list[Callable[[FloraClient], None]] = []
        self._lock = threading.RLock()
        self.next_probe = 0.0
        self._probe_delay = FIRST_PROBE_SECONDS
        self.auth_recheck_seconds = AUTH_RECHECK_SECONDS  # tests may shorten these two
        self.credits_recheck_seconds = CREDITS_RECHECK_SECONDS
        self.trial = False  # after a credits block: let one job through before the rest
        self.wall_clock: Callable[[], float] = time.time  # tests jump it to fake a wake-up
        self._clocks: tuple[float, float] | None = None  # (wall, monotonic) at the last round

    # -- the client ---------------------------------------------------------------------------

    @property
    def client(self) -> FloraClient:
        return self._client

    def on_client(self, use: Callable[[FloraClient], None]) -> None:
        """``use`` is told of every new client (the submitter and the poller keep one)."""
        self._users.append(use)

    def swap_client(self, client: FloraClient) -> None:
        old, self._client = self._client, client
        for use in self._users:
            use(client)
        if old is not client:
            with contextlib.suppress(Exception):
                old.close()

    # -- what workers and polls report ---------------------------------------------------------

    @property
    def can_work(self) -> bool:
        return not self.live.offline and self.live.blocked is None

    @property
    def key_rejected(self) -> bool:
        blocked = self.live.blocked
        return blocked is not None and blocked.kind is AttentionKind.AUTH

    def went_offline(self, error: FloradropError, *, say: bool = True) -> None:
        """FLORA cannot be reached: new work pauses until a probe gets through."""
        with self._lock:
            if self.live.offline:
                return
            if say:
                logger.warning(
                    "FLORA cannot be reached ({}); pausing work until it can", error.brief
                )
            self.live.offline = True
            self.next_probe = time.monotonic() + self._probe_delay
        self._changed()

    def block(self, error: FloradropError) -> None:
        """A rejected key, no access or no credits: new uploads and runs pause until fixed."""
        credits = isinstance(error, FatalError) and error.credits
        kind = AttentionKind.CREDITS if credits else AttentionKind.AUTH
        with self._lock:
            if self.live.blocked is None or self.live.blocked.kind is not kind:
                logger.error(
                    "{} New uploads and runs are paused; files are kept.", error.describe()
                )
                # Newly blocked: re-check later. Not on every refusal while blocked (a poll or
                # a submission still under way), which would put the re-check off for ever.
                self.next_probe = time.monotonic() + self._recheck(kind)
            self.live.blocked = Attention(kind, error.message, error.hint or "")
            self.trial = False
        self._changed()

    def run_created(self) -> None:
        """A run was created: credits are there (the trial, if any, is over)."""
        with self._lock:
            self.trial = False

    def recheck_now(self) -> None:
        """``resume``: the next scheduler round re-reads the key and probes at once."""
        if self.live.blocked is not None:
            logger.info("resume: trying again after '{}'", self.live.blocked.message)
            self.next_probe = 0.0

    # -- the probe (scheduler thread) ---------------------------------------------------------

    def probe(self, now: float, *, connected: bool, connect: Callable[[], None]) -> bool:
        """Offline, blocked or not yet connected: try the API now and then.

        Returns True when FLORA is reachable again after being offline (jobs that backed off
        for the network may then go at once)."""
        if now < self.next_probe:
            return False
        blocked = self.live.blocked
        if blocked is not None and blocked.kind is AttentionKind.CREDITS:
            # Only a run can tell whether credits are back: let one job try.
            with self._lock:
                self.live.blocked = None
                self.trial = True
                self.next_probe = now + self.credits_recheck_seconds
            self._changed()
            return False
        try:
            if blocked is not None and self._client_factory is not None:
                self.swap_client(self._client_factory())  # the key may have been fixed
            if connected:
                self._client.list_workspaces()
            else:
                connect()
        except Exception as exc:
            self._probe_failed(exc, now)
            return False
        with self._lock:
            self._probe_delay = FIRST_PROBE_SECONDS
            came_back = self.live.offline
            if came_back:
                self.live.last_error = None  # "Connection refused": it is not, now
            if came_back or blocked is not None:
                logger.info("FLORA is reachable again; resuming work")
            self.live.offline = False
            self.live.blocked = None
        self._changed()
        return came_back

    def _probe_failed(self, exc: Exception, now: float) -> None:
        verdict = classify(exc, None)
        if verdict.act is Act.OFFLINE:
            with self._lock:
                self._probe_delay = min(self._probe_delay * 2, OFFLINE_PROBE_MAX_SECONDS)
                self.next_probe = now + self._probe_delay
                newly = not self.live.offline
                self.live.offline = True
            if newly:
                self._changed()
        elif verdict.act is Act.BLOCK:
            assert isinstance(exc, FatalError)
            self.block(exc)
            self.next_probe = now + self._recheck(
                AttentionKind.CREDITS if exc.credits else AttentionKind.AUTH
            )
        elif verdict.act is Act.CONFIG:
            assert isinstance(exc, FloradropError)
            self.live.config_problem = exc.message
            logger.error("{}", exc.describe())
            self.next_probe = now + CONFIG_RECHECK_SECONDS
            self._changed()
        else:  # e.g. a server error: the scheduler's guard logs it; tried again as offline
            self.next_probe = now + self._probe_delay
            raise exc

    def _recheck(self, kind: AttentionKind) -> float:
        if kind is AttentionKind.CREDITS:
            return self.credits_recheck_seconds
        return self.auth_recheck_seconds

    # -- sleep ----------------------------------------------------------------------------------

    def woke_up(self, now: float) -> bool:
        """True when the machine slept (or the clock was set) since the last round."""
        wall = self.wall_clock()
        jumped = False
        if self._clocks is not None:
            jump = (wall - self._clocks[0]) - (now - self._clocks[1])
            if abs(jump) > SLEEP_JUMP_SECONDS:
                logger.info("the clock jumped {:+.0f} s (sleep?); rescanning every folder", jump)
                jumped = True
        self._clocks = (wall, now)
        return jumped
