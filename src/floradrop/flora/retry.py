"""When to try a request again, and how long to wait first.

The rules (see the API reference, section 11, and the team's decisions):

* retry connection errors, timeouts, 408, 429 and every 5xx; never 409 or another 4xx;
* an ``x-should-retry: true|false`` response header overrides the status rule, except that a
  409 is never retried (a duplicate cannot become a success by repeating it);
* a POST is retried only when it carries an idempotency key (the caller decides; see
  :meth:`floradrop.flora.http.HttpSession.send`);
* the server's wait wins: ``retry-after-ms`` (float milliseconds), else ``retry-after``
  (seconds or an HTTP date), capped at :data:`MAX_SERVER_WAIT`;
* otherwise exponential backoff, 0.5 s * 2^n capped at :data:`MAX_BACKOFF`, times a jitter
  factor in (0.75, 1].
"""

from __future__ import annotations

import datetime
import email.utils
import math
import time
from collections.abc import Callable, Mapping
from typing import Final

RETRY_STATUSES: Final = frozenset({408, 429})
NEVER_RETRY_STATUSES: Final = frozenset({409})
BASE_BACKOFF: Final = 0.5
MAX_BACKOFF: Final = 30.0
MAX_SERVER_WAIT: Final = 60.0


def status_is_retryable(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a response with this status (and these headers) should be tried again."""
    if status in NEVER_RETRY_STATUSES:
        return False
    override = headers.get("x-should-retry", "").strip().lower()
    if override == "true":
        return True
    if override == "false":
        return False
    return status in RETRY_STATUSES or status >= 500


def server_wait(
    headers: Mapping[str, str], *, now: Callable[[], float] = time.time
) -> float | None:
    """The wait the server asked for, in seconds (uncapped), or None if it asked for none."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        value = _finite_float(millis)
        if value is not None:
            return max(0.0, value / 1000.0)
    after = headers.get("retry-after")
    if after is None:
        return None
    seconds = _finite_float(after)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(after.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now())


def backoff(retries_made: int, *, random: Callable[[], float]) -> float:
    """Exponential backoff with jitter for the next retry after ``retries_made`` retries."""
    base = min(MAX_BACKOFF, BASE_BACKOFF * 2.0 ** min(retries_made, 32))
    return base * (1.0 - 0.25 * random())


def delay_before_retry(
    retries_made: int,
    headers: Mapping[str, str] | None,
    *,
    random: Callable[[], float],
    now: Callable[[], float] = time.time,
) -> float:
    """How long to sleep before the next attempt: the server's wait (capped), else backoff."""
    if headers is not None:
        wait = server_wait(headers, now=now)
        if wait is not None:
            return min(wait, MAX_SERVER_WAIT)
    return backoff(retries_made, random=random)


def _finite_float(text: str) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None
