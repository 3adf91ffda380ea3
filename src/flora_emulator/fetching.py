"""Fetching media from URLs that are not the emulator's own, as FLORA does.

FLORA fetches a run's media inputs from whatever URL they name, and a ``POST /assets`` with
``source = "<https URL>"`` makes it fetch the file itself. The API digest
(``../shared/flora-api/REFERENCE.md`` §8.1) states the limits for the asset fetch: at most 50 MB,
SSRF-protected (private, loopback and metadata targets are refused, and so are redirects to
them). The documents give no size limit for run inputs;
the emulator caps them at :data:`RUN_INPUT_LIMIT` (floradrop's own upload limit).

Each hop is checked before it is requested: ``https`` only, a host that resolves to global
addresses only (never a metadata service), at most :data:`MAX_REDIRECTS` redirects, each
checked the same way. ``allow_private_fetch`` (``floradrop emulator --allow-private-fetch``)
lets tests serve files from loopback, and then also over plain ``http``; private LAN and
metadata addresses stay refused. The emulator has no internet: a public host fails to
connect, which the run reports as ``input_unreachable``.
"""

from __future__ import annotations

import ipaddress
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from flora_emulator.media import guess_type

ASSET_SOURCE_LIMIT: Final = 50 * 1024 * 1024  # "≤ 50 MB" (the API digest, §8.1)
RUN_INPUT_LIMIT: Final = 2 * 1024**3
MAX_REDIRECTS: Final = 5
TIMEOUT: Final = httpx.Timeout(30.0, connect=5.0)
_METADATA: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_METADATA_NAMES: Final = frozenset({"metadata", "metadata.google.internal", "instance-data"})


@dataclass(frozen=True)
class Fetched:
    path: Path
    content_type: str
    size: int


class FetchRefused(Exception):  # noqa: N818 - a reason, reported as the run's error
    """The URL may not, or could not, be fetched; the message says why."""


class Unreachable(FetchRefused):
    """The URL was allowed but could not be fetched (DNS, connection, HTTP status)."""


def check_target(url: str, *, allow_loopback: bool) -> None:
    """Raise FetchRefused unless ``url`` may be fetched (scheme and resolved addresses)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host or parts.scheme not in ("https", "http"):
        raise FetchRefused("the URL is not an https URL")
    if host in _METADATA_NAMES or host.endswith(".internal"):
        raise FetchRefused(f"{host} is a metadata or internal host, which is never fetched")
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [literal]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
        except socket.gaierror:
            raise Unreachable(
                f"the host {host} could not be resolved (the emulator has no internet)"
            ) from None
        addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    loopback_only = True
    for found in addresses:
        address = found
        if isinstance(found, ipaddress.IPv6Address) and found.ipv4_mapped is not None:
            address = found.ipv4_mapped
        if address in _METADATA:
            raise FetchRefused(f"{host} is a cloud metadata address, which is never fetched")
        if address.is_loopback:
            if not allow_loopback:
                raise FetchRefused(f"{host} is a loopback address, which is never fetched")
            continue
        loopback_only = False
        if not address.is_global:
            raise FetchRefused(
                f"{host} resolves to the private or reserved address {address}, which is "
                "never fetched"
            )
    if parts.scheme != "https" and not (allow_loopback and loopback_only):
        raise FetchRefused("the URL is not an https URL")


def fetch(url: str, into: Path, *, limit: int, allow_loopback: bool) -> Fetched:
    """Download ``url`` into a new file in ``into`` (redirects followed and checked);
    FetchRefused with the reason when it may not or cannot be fetched."""
    into.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_target(url, allow_loopback=allow_loopback)
            try:
                with client.stream("GET", url) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchRefused("a redirect without a Location")
                        url = urljoin(url, location)
                        continue
                    if response.status_code != 200:
                        raise Unreachable(f"the server answered HTTP {response.status_code}")
                    return _save(url, response, into, limit)
            except httpx.HTTPError as exc:
                why = type(exc).__name__
                raise Unreachable(f"the host could not be reached ({why})") from None
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


def _save(url: str, response: httpx.Response, into: Path, limit: int) -> Fetched:
    declared = response.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise FetchRefused(f"the file is larger than {limit // (1024 * 1024)} MB")
    size = 0
    with tempfile.NamedTemporaryFile(dir=into, prefix="fetched-", delete=False) as handle:
        path = Path(handle.name)
        try:
            for chunk in response.iter_bytes(256 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FetchRefused(f"the file is larger than {limit // (1024 * 1024)} MB")
                handle.write(chunk)
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise
    header = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not header or header in ("application/octet-stream", "binary/octet-stream"):
        header = guess_type(PurePosixPath(unquote(urlsplit(url).path)).name) or header
    return Fetched(path, header or "application/octet-stream", size)


def file_name(url: str, default: str = "fetched") -> str:
    """A name for a fetched file, from the URL's last path segment."""
    name = PurePosixPath(unquote(urlsplit(url).path)).name
    return name or default
