"""What endpoint functions may use from the running emulator (it implements this protocol).

Endpoints get a :class:`Context` rather than the ``Emulator`` itself so that they depend on
what they need, and so that knobs are read per request (tests change them while running).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from flora_emulator.recording import EmulatorStats
from flora_emulator.state import State


class Context(Protocol):
    state: State
    stats: EmulatorStats
    seed: int
    run_seconds: float
    fail_rate: float
    balance_usd: float | None
    reservation_seconds: float
    storage_secret: bytes
    created_at: float
    allow_private_fetch: bool  # fetch from loopback (tests serve files locally)

    @property
    def workspace_id(self) -> str: ...

    @property
    def project_id(self) -> str: ...

    @property
    def origin(self) -> str:
        """``http://host:port``: where media and upload URLs point."""
        ...

    @property
    def base_url(self) -> str: ...

    @property
    def media_dir(self) -> Path: ...

    @property
    def tmp_dir(self) -> Path: ...

    def now(self) -> float:
        """Seconds since the epoch, from the injectable clock."""
        ...

    def decide(self, kind: str, rate: float) -> bool:
        """A seeded coin toss for fault ``kind`` (reproducible for a seed)."""
        ...

    def submit(self, work: Callable[[], None]) -> None:
        """Run ``work`` on the worker pool (technique processing)."""
        ...

    def report_crash(self, message: str) -> None:
        """Count and log an unexpected exception (call from an ``except`` block)."""
        ...

    def is_own_host(self, netloc: str) -> bool:
        """Whether a URL's ``host:port`` is this emulator."""
        ...
