"""Dropped links: a shortcut file whose technique runs on the URL it holds.

In a folder with ``links = true``, a Windows Internet Shortcut (``.url``), a macOS
``.webloc`` or a ``.txt`` that holds one ``https://`` URL and nothing else is not uploaded:
the run gets the URL itself, and FLORA fetches it. Before that the URL is checked: https only,
no user name or password in it, and its host must resolve to public addresses only (not
private, loopback, link-local, carrier-grade NAT, multicast or reserved ones, and never a
cloud metadata service). A folder with ``allow_private_links = true`` lets links reach
private and loopback addresses (and plain http there), e.g. a studio's own media server that
FLORA can reach; metadata services stay refused. A refused link fails the job with a report
that says why, before anything is paid for.

The checks read the file and ask DNS, so they run in the upload stage, not in ``decide``.
"""

from __future__ import annotations

import configparser
import ipaddress
import plistlib
import socket
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import unquote, urlsplit

from floradrop.config import FolderConfig
from floradrop.errors import JobError, TransientError
from floradrop.flora.models import IMAGE, VIDEO, Technique
from floradrop.pipeline import bind, decide, source

LINK_SUFFIXES: Final = tuple(s for s in decide.LINK_EXTENSIONS if s != ".txt")
TEXT_LINK_SUFFIX: Final = ".txt"
MAX_LINK_FILE_BYTES: Final = 64 * 1024
MAX_URL_LENGTH: Final = 8192
METADATA_HOSTS: Final = frozenset(
    {"metadata", "metadata.google.internal", "instance-data", "metadata.azure.internal"}
)
METADATA_ADDRESSES: Final = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),
        ipaddress.ip_address("169.254.170.2"),
        ipaddress.ip_address("fd00:ec2::254"),
        ipaddress.ip_address("100.100.100.200"),
    }
)
_LOOPBACK_NAMES: Final = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class Link:
    url: str
    file: Path

    def media_type(self, technique: Technique) -> str | None:
        """The URL's media type by its path's extension; else the technique's main input
        type (FLORA looks at the bytes it fetches)."""
        found = decide.media_type(PurePosixPath(unquote(urlsplit(self.url).path)))
        if found in (IMAGE, VIDEO):
            return found
        return bind.main_input_type(technique)


def may_be_link(path: Path, folder: FolderConfig) -> bool:
    """Whether ``path`` in ``folder`` is read as a link (a ``.txt`` only if it holds one)."""
    suffix = path.suffix.lower()
    return folder.links and (suffix in LINK_SUFFIXES or suffix == TEXT_LINK_SUFFIX)


def dropped_link(path: Path, folder: FolderConfig, *, fd: int | None = None) -> Link | None:
    """The checked link that ``path`` holds, None when it is not a link file, or JobError
    (the link is refused or the shortcut unreadable) / TransientError (DNS did not answer).
    With ``fd`` (open on ``path``'s file) the file is read from it, not from ``path``."""
    if not may_be_link(path, folder):
        return None
    url = read_link(path, fd=fd)
    if url is None:
        return None
    check_url(url, allow_private=folder.allow_private_links, what=path.name)
    return Link(url, path)


def read_link(path: Path, *, fd: int | None = None) -> str | None:
    """The URL in a ``.url``, ``.webloc`` or ``.txt`` file (None: a ``.txt`` that is not
    one URL); JobError for a shortcut without a URL."""
    try:
        with path.open("rb") if fd is None else source.reader(fd) as handle:
            data = handle.read(MAX_LINK_FILE_BYTES + 1)
    except OSError as exc:
        raise JobError(
            f"cannot read the link file {path.name}: {exc.strerror or exc}",
            hint="check its permissions",
        ) from exc
    suffix = path.suffix.lower()
    if suffix == TEXT_LINK_SUFFIX:
        if len(data) > MAX_LINK_FILE_BYTES:
            return None
        try:
            text = data.decode("utf-8-sig").strip()
        except UnicodeDecodeError:
            return None
        if not text or any(c.isspace() for c in text) or "://" not in text:
            return None  # plain text (a prompt), processed as text
        return text
    if len(data) > MAX_LINK_FILE_BYTES:
        raise _unreadable(path, "it is too big to be a shortcut")
    url = _from_webloc(data) if suffix == ".webloc" else _from_internet_shortcut(data)
    if not url:
        raise _unreadable(path, "it holds no URL")
    return url.strip()


def _from_internet_shortcut(data: bytes) -> str | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(data.decode("utf-8-sig", errors="replace"))
    except configparser.Error:
        return None
    for section in parser.sections():
        if section.lower() == "internetshortcut":
            return parser[section].get("url")
    return None


def _from_webloc(data: bytes) -> str | None:
    try:
        value = plistlib.loads(data)
    except Exception:
        return None
    url = value.get("URL") if isinstance(value, dict) else None
    return url if isinstance(url, str) else None


def _unreadable(path: Path, why: str) -> JobError:
    return JobError(
        f"the link file {path.name} cannot be read as a link: {why}",
        hint="save the link again from the browser (a .url or .webloc shortcut), or put "
        "one https:// URL alone in a .txt file",
    )


def check_url(url: str, *, allow_private: bool, what: str = "the link") -> None:
    """Refuse a URL that FLORA should not be asked to fetch (JobError naming why)."""

    def refuse(why: str, fix: str) -> JobError:
        return JobError(f"the link in {what} was refused: {why}.", hint=fix)

    if len(url) > MAX_URL_LENGTH:
        raise refuse("the URL is too long", "use a shorter link")
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise refuse(f"{url[:80]!r} is not an https:// address", "link to an https:// URL")
    if parts.username or parts.password:
        raise refuse(
            "the URL has a user name or password in it, which would be sent to FLORA",
            "share the file with a link that needs no password (e.g. a presigned URL)",
        )
    if host in METADATA_HOSTS:
        raise refuse(f"{host} is a cloud metadata service", "link to the file itself")
    addresses = _addresses(host, parts.port or (443 if parts.scheme == "https" else 80), what)
    for address in addresses:
        if address in METADATA_ADDRESSES:
            raise refuse(f"{host} is a cloud metadata service", "link to the file itself")
    private = host in _LOOPBACK_NAMES or host.endswith((".localhost", ".local", ".internal"))
    private = private or any(not a.is_global for a in addresses)
    if private and not allow_private:
        shown = ", ".join(sorted({str(a) for a in addresses})) or host
        raise refuse(
            f"{host} is a private, loopback or link-local address ({shown}), which FLORA "
            "cannot (and must not) fetch",
            "link to a public https:// address, or set allow_private_links = true for this "
            "folder if FLORA can reach that server",
        )
    if parts.scheme != "https" and not private:
        raise refuse(
            "plain http:// links are not accepted",
            "use the https:// address of the file",
        )


def _addresses(
    host: str, port: int, what: str
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        return [_unmapped(literal)]
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            raise JobError(
                f"the link in {what} was refused: the host {host} does not exist.",
                hint="check the link",
            ) from None
        raise TransientError(
            f"the host of the link in {what} ({host}) could not be looked up: {exc}",
            hint="check the network; floradrop tries again",
        ) from None
    found = []
    for info in infos:
        try:
            found.append(_unmapped(ipaddress.ip_address(str(info[4][0]).split("%")[0])))
        except ValueError:
            continue
    return found


def _unmapped(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
