"""Downloading a run output to a file, streamed, without the API key.

Output URLs point at media hosts, not at the API, so the request never carries the key. Only
https is fetched (plain http only on a loopback host, for the emulator), redirects are followed
a few hops with the same check on every hop, and the body goes to disk chunk by chunk. The
caller gives a temporary path and renames it when it wants; this module writes and fsyncs it
(never through a symbolic link at that path), and deletes it when the download fails.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Final

import httpx
from loguru import logger

from floradrop.errors import TransientError
from floradrop.flora.endpoint import check_transfer_url
from floradrop.flora.errors import DownloadError, NetworkError, ServerError, redact
from floradrop.flora.http import HttpSession, Target, url_for_logs
from floradrop.flora.models import DownloadResult

CHUNK_SIZE: Final = 256 * 1024
MAX_REDIRECTS: Final = 5

ProgressCallback = Callable[[int, int | None], None]


class _BodyReadError(Exception):
    """The connection broke while the body was being read (the download may be retried)."""

    def __init__(self, cause: httpx.TransportError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def download(
    http: HttpSession,
    url: str,
    dest: Path,
    *,
    max_bytes: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> DownloadResult:
    """Stream ``url`` into ``dest``; see the module docstring for the rules."""
    attempt = 0
    while True:
        attempt += 1
        response = _open(http, url)
        try:
            return _save(response, dest, max_bytes=max_bytes, on_progress=on_progress)
        except _BodyReadError as exc:
            if attempt > http.max_retries:
                detail = redact(str(exc.cause), http.endpoint.api_key)
                raise NetworkError(
                    f"The download from {response.url.host} broke off: "
                    f"{type(exc.cause).__name__}{': ' + detail if detail else ''}.",
                    maybe_sent=True,
                    hint="floradrop tries again later; check your connection.",
                ) from None
            logger.debug("Download from {} broke off; starting again", response.url.host)
            http.sleep(http.backoff(attempt))
        finally:
            response.close()


def _checked_url(text: str | httpx.URL) -> httpx.URL:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError) as exc:
        raise DownloadError(
            f"The output URL {str(text)[:200]!r} is not a valid URL ({exc}).",
            hint="Open the run in FLORA and download the output by hand.",
        ) from None
    refused = check_transfer_url(url)
    if refused is not None:
        raise DownloadError(
            f"Refusing to download {url_for_logs(url)}: {refused}.",
            hint="The output URL is not safe to fetch; open the run in FLORA to get the output.",
        )
    return url


def _open(http: HttpSession, url_text: str) -> httpx.Response:
    """A successful streamed response for the URL, after following redirects."""
    url = _checked_url(url_text)
    for _hop in range(MAX_REDIRECTS + 1):
        response = http.send(
            functools.partial(http.build, "GET", url, timeout=http.transfer_timeout),
            target=Target.DOWNLOAD,
            retry=True,
            stream=True,
        )
        if response.is_success:
            return response
        response.close()
        location = response.headers.get("location")
        if response.is_redirect and location:
            url = _checked_url(url.join(location))
            continue
        raise _status_error(response)
    raise DownloadError(
        f"The output URL {url_for_logs(url)} redirects more than {MAX_REDIRECTS} times.",
        hint="Open the run in FLORA and download the output by hand.",
    )


def _status_error(response: httpx.Response) -> DownloadError | ServerError:
    host = response.url.host
    status = response.status_code
    if status >= 500 or status in (408, 429):
        return ServerError(
            f"The output host {host} failed to send the file (HTTP {status}).",
            hint="This is usually temporary; floradrop tries again later.",
            status_code=status,
        )
    return DownloadError(
        f"The output host {host} refused the download of {url_for_logs(response.url)} "
        f"(HTTP {status}).",
        hint="The output may have expired; open the run in FLORA to get it.",
        status_code=status,
    )


def _save(
    response: httpx.Response,
    dest: Path,
    *,
    max_bytes: int | None,
    on_progress: ProgressCallback | None,
) -> DownloadResult:
    total = _content_length(response)
    if max_bytes is not None and total is not None and total > max_bytes:
        raise _too_large(response, max_bytes)
    received = 0
    done = False
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(dest, flags | getattr(os, "O_BINARY", 0), 0o644), "wb") as out:
            try:
                for chunk in response.iter_bytes(CHUNK_SIZE):
                    received += len(chunk)
                    if max_bytes is not None and received > max_bytes:
                        raise _too_large(response, max_bytes)
                    out.write(chunk)
                    if on_progress is not None:
                        on_progress(received, total)
            except httpx.TransportError as exc:
                raise _BodyReadError(exc) from exc
            out.flush()
            os.fsync(out.fileno())
        done = True
    except OSError as exc:
        raise TransientError(
            f"Cannot write the output to {dest}: {exc.strerror or exc}.",
            hint="Check free disk space and that floradrop may write to the output folder.",
            title="Cannot save the output",
        ) from exc
    finally:
        if not done:
            dest.unlink(missing_ok=True)
    return DownloadResult(
        path=str(dest),
        content_type=response.headers.get("content-type"),
        size_bytes=received,
    )


def _content_length(response: httpx.Response) -> int | None:
    try:
        value = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return value if value >= 0 and "content-encoding" not in response.headers else None


def _too_large(response: httpx.Response, max_bytes: int) -> DownloadError:
    return DownloadError(
        f"The output at {url_for_logs(response.url)} is larger than the limit of "
        f"{max_bytes} bytes.",
        hint="Raise the download size limit in the config file if this output is expected.",
    )
