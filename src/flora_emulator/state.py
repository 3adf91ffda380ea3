"""The emulator's in-memory records (assets, upload reservations, runs, idempotency keys).

Everything is guarded by one lock: the request threads and the worker pool both change runs.
Files live on disk under the emulator's data directory; only metadata is kept here.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flora_emulator.recording import RunRecord

IDEMPOTENCY_WINDOW = 2 * 60 * 60.0  # seconds (spec and FLORA's measured TTL: two hours)


def new_id(prefix: str) -> str:
    """A unique public id such as ``run_3f9c...`` (unique across emulator restarts)."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


@dataclass
class Reservation:
    """A signed upload target: ``/_storage/upload/{token}`` until ``expires_at``."""

    token: str
    asset_id: str
    expires_at: float
    signature: str
    form_fields: dict[str, str]
    received: Path | None = None  # the bytes, once the storage target got them
    received_type: str | None = None


@dataclass
class Asset:
    asset_id: str
    workspace_id: str
    project_id: str | None
    name: str
    folder: str | None
    content_type: str | None
    upload_content_type: str | None
    uploaded_via: str  # signed_url | direct
    status: str  # pending_upload | ready | failed
    created_at: float
    seq: int
    file: Path | None = None
    size_bytes: int | None = None
    width: int | None = None
    height: int | None = None
    failure_message: str | None = None
    reservation: Reservation | None = None


@dataclass
class Run:
    run_id: str
    slug: str
    technique_id: str
    technique_name: str
    workspace_id: str
    project_id: str
    inputs: list[dict[str, str]]
    created_at: float
    run_seconds: float
    run_cost: float
    poll_slug: str  # the slug or id used to create it: poll_url uses the same
    seq: int
    idempotency_key: str | None = None
    work_started_at: float | None = None
    work_finished_at: float | None = None
    outputs: list[dict[str, str]] | None = None
    failure: tuple[str, str] | None = None
    terminal: dict[str, Any] | None = None  # frozen once the run ended


@dataclass
class State:
    workspace_id: str
    project_id: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    assets: dict[str, Asset] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    run_records: list[RunRecord] = field(default_factory=list)
    _idempotency: dict[tuple[str, ...], float] = field(default_factory=dict)
    _seq: int = 0

    def next_seq(self) -> int:
        with self.lock:
            self._seq += 1
            return self._seq

    # -- idempotency -----------------------------------------------------------------------

    def is_duplicate(self, scope: tuple[str, ...], keys: Iterable[str], now: float) -> bool:
        """Whether any of ``keys`` was used for ``scope`` within the last two hours."""
        with self.lock:
            self._expire(now)
            return any((*scope, key) in self._idempotency for key in keys)

    def burn(self, scope: tuple[str, ...], keys: Iterable[str], now: float) -> None:
        """Mark ``keys`` used for ``scope``: called only once a request succeeded."""
        with self.lock:
            for key in keys:
                self._idempotency[(*scope, key)] = now

    def _expire(self, now: float) -> None:
        stale = [k for k, t in self._idempotency.items() if now - t >= IDEMPOTENCY_WINDOW]
        for k in stale:
            del self._idempotency[k]


# -- cursor pagination ---------------------------------------------------------------------

T = TypeVar("T")


class BadCursorError(ValueError):
    pass


def encode_cursor(position: int) -> str:
    raw = json.dumps({"offset": position}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position = data["offset"]
    except (ValueError, KeyError, TypeError):
        raise BadCursorError(cursor) from None
    if not isinstance(position, int) or isinstance(position, bool) or position < 0:
        raise BadCursorError(cursor)
    return position


def page(items: Sequence[T], cursor: str | None, limit: int) -> tuple[list[T], str | None]:
    """One page of ``items`` and the cursor of the next page (``None`` on the last).

    The cursor is an offset, like FLORA's (``eyJvZmZzZXQiOjIwfQ`` is ``{"offset":20}``).
    Lists that grow at the front (runs, assets: newest first) page over a snapshot taken
    by the caller, so keep their order stable: callers filter on ``seq`` (see
    :func:`page_newest_first`).
    """
    start = decode_cursor(cursor) if cursor else 0
    chunk = list(items[start : start + limit])
    end = start + len(chunk)
    return chunk, encode_cursor(end) if end < len(items) else None


def encode_seq_cursor(seq: int) -> str:
    raw = json.dumps({"before": seq}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_seq_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        seq = json.loads(base64.urlsafe_b64decode(padded.encode()))["before"]
    except (ValueError, KeyError, TypeError):
        raise BadCursorError(cursor) from None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise BadCursorError(cursor)
    return seq


def page_newest_first(
    items: Iterable[tuple[int, T]], cursor: str | None, limit: int
) -> tuple[list[T], str | None]:
    """Keyset pagination over ``(seq, item)`` pairs, newest (highest seq) first.

    The cursor remembers the last seq returned, so items created while a client pages
    through never shift or repeat entries.
    """
    before = decode_seq_cursor(cursor) if cursor else None
    ordered = sorted(
        ((s, i) for s, i in items if before is None or s < before),
        key=lambda pair: pair[0],
        reverse=True,
    )
    chunk = ordered[:limit]
    more = len(ordered) > limit
    return [i for _, i in chunk], encode_seq_cursor(chunk[-1][0]) if more and chunk else None
