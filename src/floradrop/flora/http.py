"""One place that sends HTTP requests: retries, the key, timeouts, logging.

Every request floradrop makes to FLORA, to an upload target or to an output host goes through
:meth:`HttpSession.send`. It attaches the API key only to requests for the API itself (see
:meth:`~floradrop.flora.endpoint.Endpoint.is_api_url`), retries by the rules of
:mod:`floradrop.flora.retry` (a 429 slows down every API request of the session: see
:mod:`floradrop.flora.throttle`), logs one debug line per attempt (method, URL without its query,
status, ``request-id``, time; never headers or bodies), and turns network failures into
:class:`~floradrop.flora.errors.NetworkError`. Mapping an HTTP error *status* to an error is
left to the caller, who knows what the request was for.
"""

from __future__ import annotations

import enum
import random as _random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from loguru import logger

from floradrop import __version__
from floradrop.flora.endpoint import Endpoint
from floradrop.flora.errors import NetworkError, redact
from floradrop.flora.retry import delay_before_retry, status_is_retryable
from floradrop.flora.throttle import Throttle

CONNECT_TIMEOUT = 10.0
TRANSFER_TIMEOUT = 300.0  # read/write timeout for uploads and downloads of large files
KEEP_ALIVE = 64  # idle connections kept open

# Failures that happen before any byte of the request can have reached the server.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
# Failures that repeating cannot fix.
_NEVER_RETRY = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def user_agent() -> str:
    return f"floradrop/{__version__} (+python-httpx/{httpx.__version__})"


class Target(enum.Enum):
    """Who a request is for; only :attr:`API` requests may carry the key."""

    API = "api"
    UPLOAD = "upload target"
    DOWNLOAD = "output host"


@dataclass(frozen=True)
class RequestInfo:
    """What the ``on_request`` hook sees for every attempt (never headers, bodies or queries)."""

    method: str
    url: str
    status: int | None  # None when no response arrived
    attempt: int  # 1 for the first try
    elapsed: float  # seconds
    request_id: str | None = None
    error: str | None = None  # the kind of network failure, when there was one


def request_id(response: httpx.Response) -> str | None:
    value: str | None = response.headers.get("request-id") or response.headers.get("x-request-id")
    return value


def url_for_logs(url: httpx.URL) -> str:
    """The URL without what may be a secret: its query (signatures) and user:password."""
    return str(url.copy_with(query=None, fragment=None, userinfo=b""))


class HttpSession:
    """An httpx client plus the retry loop; the client owns one and closes it."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[RequestInfo], None] | None = None,
        jitter: Callable[[], float] = _random.random,
    ) -> None:
        if timeout <= 0 or max_retries < 0:
            raise ValueError("timeout must be > 0 and max_retries >= 0")
        self.endpoint = endpoint
        self.max_retries = max_retries
        self.sleep = sleep
        self.jitter = jitter
        self._on_request = on_request
        self.throttle = Throttle()  # a 429 slows every API request of the session down
        self.timeout = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
        self.transfer_timeout = httpx.Timeout(
            max(TRANSFER_TIMEOUT, timeout), connect=min(CONNECT_TIMEOUT, timeout)
        )
        self._client = httpx.Client(
            transport=transport,
            timeout=self.timeout,
            headers={"User-Agent": user_agent()},
            follow_redirects=False,
            # One pool for the daemon: uploads, creates, polls and downloads all in flight at
            # once keep their connections (httpx keeps only 20 alive by default).
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=KEEP_ALIVE),
        )

    def close(self) -> None:
        self._client.close()

    def build(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Request:
        """An ``httpx.Request`` with the session's defaults (no key yet: :meth:`send` decides)."""
        return self._client.build_request(method, url, **kwargs)

    def send(
        self,
        build: Callable[[], httpx.Request],
        *,
        target: Target,
        retry: bool,
        stream: bool = False,
    ) -> httpx.Response:
        """Send the request made by ``build`` (called once per attempt) and return the response.

        ``retry`` says whether this request may be repeated at all: GETs may, a POST only when
        it carries an idempotency key. The last response is returned whatever its status (the
        caller maps errors); a network failure that is not retried raises ``NetworkError``.
        With ``stream`` a successful response is returned unread and the caller closes it.
        """
        attempt = 0
        waited = 0.0  # the end of a cool-down this request already slept through
        while True:
            attempt += 1
            request = build()
            throttled = self._prepare(request, target)
            if throttled:
                self.throttle.enter(self.sleep, waited=waited)
            started = time.monotonic()
            try:
                response = self._client.send(request, stream=True)
            except httpx.TransportError as exc:
                if throttled:
                    self.throttle.leave(None)
                self._report(request, None, attempt, started, error=type(exc).__name__)
                if retry and attempt <= self.max_retries and not isinstance(exc, _NEVER_RETRY):
                    self._wait(attempt, None, request, f"{type(exc).__name__}")
                    continue
                raise self._network_error(request, target, exc) from None
            except BaseException:
                if throttled:
                    self.throttle.leave(None)
                raise
            delay = None
            if throttled:
                if response.status_code == 429:
                    delay = self.backoff(attempt, response.headers)
                    waited = self.throttle.leave(429, wait=delay)
                else:
                    self.throttle.leave(response.status_code)
            self._report(request, response, attempt, started)
            if response.is_success and stream:
                return response
            try:
                response.read()
            except httpx.TransportError as exc:
                response.close()
                if retry and attempt <= self.max_retries:
                    self._wait(attempt, None, request, f"{type(exc).__name__}")
                    continue
                raise self._network_error(request, target, exc) from None
            if response.is_success:
                return response
            if (
                retry
                and attempt <= self.max_retries
                and status_is_retryable(response.status_code, response.headers)
            ):
                self._wait(
                    attempt, response.headers, request, f"HTTP {response.status_code}", delay
                )
                continue
            return response

    def backoff(self, attempt: int, headers: httpx.Headers | None = None) -> float:
        """The wait before retry number ``attempt`` (1-based)."""
        return delay_before_retry(attempt - 1, headers, random=self.jitter)

    def _prepare(self, request: httpx.Request, target: Target) -> bool:
        """Attach the key to a request for the API; returns whether it is one."""
        request.headers.pop("Authorization", None)
        if target is not Target.API or not self.endpoint.is_api_url(request.url):
            return False
        request.headers["Authorization"] = f"Bearer {self.endpoint.require_key()}"
        for name, value in self.endpoint.custom_headers:
            request.headers.setdefault(name, value)
        request.headers["Accept"] = "application/json"
        return True

    def _wait(
        self,
        attempt: int,
        headers: httpx.Headers | None,
        request: httpx.Request,
        why: str,
        delay: float | None = None,
    ) -> None:
        if delay is None:
            delay = self.backoff(attempt, headers)
        logger.debug(
            "Retrying {} {} after {} in {:.2f} s (retry {} of {})",
            request.method,
            url_for_logs(request.url),
            why,
            delay,
            attempt,
            self.max_retries,
        )
        self.sleep(delay)

    def _report(
        self,
        request: httpx.Request,
        response: httpx.Response | None,
        attempt: int,
        started: float,
        *,
        error: str | None = None,
    ) -> None:
        info = RequestInfo(
            method=request.method,
            url=url_for_logs(request.url),
            status=None if response is None else response.status_code,
            attempt=attempt,
            elapsed=time.monotonic() - started,
            request_id=None if response is None else request_id(response),
            error=error,
        )
        logger.debug(
            "HTTP {} {} -> {} in {:.0f} ms (attempt {}, request-id {})",
            info.method,
            info.url,
            info.status if info.status is not None else info.error,
            info.elapsed * 1000,
            info.attempt,
            info.request_id or "-",
        )
        if self._on_request is not None:
            try:
                self._on_request(info)
            except Exception:
                logger.exception("The on_request hook failed (ignored)")

    def _network_error(
        self, request: httpx.Request, target: Target, exc: httpx.TransportError
    ) -> NetworkError:
        host = request.url.host
        maybe_sent = not isinstance(exc, _NOT_SENT)
        if isinstance(exc, httpx.TimeoutException):
            what = f"timed out talking to {host}"
        elif isinstance(exc, httpx.ConnectError):
            what = f"could not connect to {host}"
        else:
            what = f"the connection to {host} failed"
        detail = redact(str(exc), self.endpoint.api_key)
        message = f"{request.method} {url_for_logs(request.url)}: {what}"
        if detail:
            message += f" ({type(exc).__name__}: {detail})"
        else:
            message += f" ({type(exc).__name__})"
        hint = (
            f"Check your internet connection and proxy settings, and that "
            f"{self.endpoint.base_url} is the right FLORA API address (FLORA_BASE_URL or "
            "[flora] base_url). The daemon retries by itself."
            if target is Target.API
            else f"The {target.value} {host} is unreachable; check your connection. The daemon "
            "retries by itself."
        )
        return NetworkError(message + ".", maybe_sent=maybe_sent, hint=hint)
