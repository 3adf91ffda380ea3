"""What the emulator remembers about its traffic: exchanges, counters and created runs.

Tests read these to check a client's behaviour (``stats.requests_with_auth_to_storage`` must
stay 0; a drop must create exactly one run) and the contract tests validate every recorded
:class:`Exchange` against the OpenAPI documents.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["api", "storage", "media", "other"]


@dataclass(frozen=True)
class Exchange:
    """One request and the emulator's answer, as seen on the wire.

    ``path`` is the full request path (``/api/v1/techniques``); ``route`` is the template it
    matched (``/techniques/{techniqueId}`` for the API, ``/_storage/upload/{token}`` or
    ``/_media/{owner}/{name}`` otherwise, ``None`` when nothing matched); ``kind`` is
    ``other`` for paths outside the API and the two hosts. Header names are lower-case.
    ``request_body`` holds the raw bytes when the body was small enough to keep (see
    ``Emulator.record_body_limit``), else ``None`` with ``request_body_size`` still set.
    ``status`` is ``None`` when the emulator dropped the connection instead of answering.
    """

    kind: Kind
    method: str
    path: str
    route: str | None
    query: Mapping[str, tuple[str, ...]]
    request_headers: Mapping[str, str]
    request_body: bytes | None
    request_body_size: int
    status: int | None
    response_headers: Mapping[str, str]
    response_body: bytes | None
    request_form: Mapping[str, str] = field(default_factory=dict)
    request_files: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    fault: str | None = None

    @property
    def request_json(self) -> Any:
        import json

        if not self.request_body:
            return None
        try:
            return json.loads(self.request_body)
        except ValueError:
            return None

    @property
    def response_json(self) -> Any:
        import json

        if not self.response_body or "json" not in self.response_headers.get("content-type", ""):
            return None
        try:
            return json.loads(self.response_body)
        except ValueError:
            return None


@dataclass(frozen=True)
class RunRecord:
    """A run as it was created (not its current status: poll the API for that)."""

    run_id: str
    technique: str  # the slug
    technique_id: str
    inputs: Mapping[str, str]
    idempotency_key: str | None
    created_at: float  # seconds, from the emulator's clock
    route: str  # which create route was used


class EmulatorStats:
    """Thread-safe counters. Read the attributes; they are copies taken under the lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs_created = 0
        self._runs_by_technique: Counter[str] = Counter()
        self._requests: Counter[tuple[str, str]] = Counter()
        self._faults: Counter[str] = Counter()
        self._auth_to_storage = 0
        self._auth_to_media = 0
        self._uploads = 0
        self._bytes_uploaded = 0
        self._duplicates = 0
        self._internal_errors = 0

    # -- writers (the emulator's own threads) ---------------------------------------------

    def count_request(self, method: str, route: str) -> None:
        with self._lock:
            self._requests[(method, route)] += 1

    def count_run(self, slug: str) -> None:
        with self._lock:
            self._runs_created += 1
            self._runs_by_technique[slug] += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def count_auth_to(self, kind: Kind) -> None:
        with self._lock:
            if kind == "storage":
                self._auth_to_storage += 1
            elif kind == "media":
                self._auth_to_media += 1

    def count_upload(self, size: int) -> None:
        with self._lock:
            self._uploads += 1
            self._bytes_uploaded += size

    def count_duplicate(self) -> None:
        with self._lock:
            self._duplicates += 1

    def count_internal_error(self) -> None:
        with self._lock:
            self._internal_errors += 1

    # -- readers ---------------------------------------------------------------------------

    @property
    def runs_created(self) -> int:
        with self._lock:
            return self._runs_created

    @property
    def runs_by_technique(self) -> dict[str, int]:
        with self._lock:
            return dict(self._runs_by_technique)

    @property
    def requests(self) -> Counter[tuple[str, str]]:
        """``(method, route template)`` -> count; unmatched paths count under their path."""
        with self._lock:
            return Counter(self._requests)

    @property
    def faults(self) -> Counter[str]:
        """Injected faults by kind: ``reset``, ``lose_response``, ``rate_limit``, ``error``."""
        with self._lock:
            return Counter(self._faults)

    @property
    def requests_with_auth_to_storage(self) -> int:
        with self._lock:
            return self._auth_to_storage

    @property
    def requests_with_auth_to_media(self) -> int:
        with self._lock:
            return self._auth_to_media

    @property
    def uploads_received(self) -> int:
        """Files received by the signed-upload target (not direct multipart uploads)."""
        with self._lock:
            return self._uploads

    @property
    def bytes_uploaded(self) -> int:
        with self._lock:
            return self._bytes_uploaded

    @property
    def internal_errors(self) -> int:
        """Crashes inside the emulator (endpoints, connections, technique work): must stay 0."""
        with self._lock:
            return self._internal_errors

    @property
    def idempotency_duplicates(self) -> int:
        """How many requests were refused with ``409 idempotency_duplicate``."""
        with self._lock:
            return self._duplicates
