"""Acknowledging what went wrong: ``floradrop ack`` and the tray's "Acknowledge".

A failed file keeps the icon in "needs attention" for an hour, and the last error stays in
``floradrop status``, so that nobody misses them. Once a person has seen them, acknowledging
clears both: failures that finished before that instant no longer count, and the last error is
forgotten. The instant is kept in the journal, so it holds across restarts and works whether or
not the daemon runs. Problems that are still true (offline, a rejected key, no credits, the
budget, a broken config, a full disk) are not acknowledged away: they stay until fixed.
"""

from __future__ import annotations

import time
from typing import Protocol

SETTING = "acknowledged_at"


class _Settings(Protocol):
    def get_setting(self, key: str, default: str | None = None) -> str | None: ...

    def set_setting(self, key: str, value: str) -> None: ...


def acknowledged_at(journal: _Settings) -> float:
    """When failures were last acknowledged (epoch seconds; 0 if never)."""
    try:
        return float(journal.get_setting(SETTING, "0") or 0)
    except ValueError:
        return 0.0


def acknowledge(journal: _Settings, *, now: float | None = None) -> float:
    """Mark every failure so far as seen; returns the instant recorded."""
    at = time.time() if now is None else now
    journal.set_setting(SETTING, repr(at))
    return at
