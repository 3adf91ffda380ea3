"""Where the FLORA API is, which key to use, and which URLs may see that key.

The key is sent only to the API: the same scheme, host and port as the base URL, under its
path prefix. Upload targets, output hosts and a ``poll_url`` anywhere else never get it.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from floradrop.errors import ConfigError
from floradrop.flora.errors import AuthenticationError

DEFAULT_BASE_URL = "https://app.flora.ai/api/v1"
KEY_ENV = "FLORA_API_KEY"
BASE_URL_ENV = "FLORA_BASE_URL"
CUSTOM_HEADERS_ENV = "FLORA_CUSTOM_HEADERS"

_RESERVED_HEADERS = frozenset({"authorization", "host", "content-length", "idempotency-key"})


def is_loopback_host(host: str) -> bool:
    """``localhost`` or an address in 127.0.0.0/8 or ``::1``."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_transfer_url(url: httpx.URL) -> str | None:
    """Why bytes may not go to or come from ``url`` (None when they may).

    HTTPS only, except plain HTTP to a loopback host (the emulator and tests).
    """
    if url.scheme not in ("http", "https") or not url.host:
        return f"only http(s) URLs can be used, not {url.scheme or 'a relative URL'!r}"
    if url.userinfo:
        return "URLs with a user name or password are not used"
    if url.scheme == "http" and not is_loopback_host(url.host):
        return f"plain http to {url.host} is not allowed (https only)"
    return None


def _parse_custom_headers(text: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or name.lower() in _RESERVED_HEADERS:
            continue
        headers.append((name, value))
    return tuple(headers)


@dataclass(frozen=True)
class Endpoint:
    """The API base URL, the key (never shown by ``repr``) and extra headers for API requests."""

    base_url: str
    api_key: str | None = field(default=None, repr=False)
    custom_headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def resolve(
        cls,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> Endpoint:
        """Argument beats environment beats default, for both the key and the base URL."""
        env = os.environ if environ is None else environ
        if base_url is not None and base_url.strip():
            source, raw = "the base_url setting", base_url
        elif env.get(BASE_URL_ENV, "").strip():
            source, raw = BASE_URL_ENV, env[BASE_URL_ENV]
        else:
            source, raw = "the default base URL", DEFAULT_BASE_URL
        key = api_key if api_key is not None else env.get(KEY_ENV)
        key = key.strip() if key else None
        if key and key[:7].lower() == "bearer ":  # a pasted header value: keep only the key
            key = key[7:].strip()
        return cls(
            base_url=_normalise_base_url(raw, source),
            api_key=key or None,
            custom_headers=_parse_custom_headers(env.get(CUSTOM_HEADERS_ENV, "")),
        )

    @property
    def url(self) -> httpx.URL:
        return httpx.URL(self.base_url)

    def is_api_url(self, url: httpx.URL | str) -> bool:
        """Whether ``url`` is on the API (same origin, under the base path): it may see the key."""
        url = httpx.URL(url)
        base = self.url
        if (url.scheme, url.host, url.port) != (base.scheme, base.host, base.port):
            return False
        prefix = base.path.rstrip("/")
        return url.path == prefix or url.path.startswith(prefix + "/")

    def api_url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def require_key(self) -> str:
        if not self.api_key:
            raise AuthenticationError(
                "No FLORA API key is configured.",
                hint=f"Set {KEY_ENV} or run 'floradrop init' to store your key.",
            )
        return self.api_key

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return f"Endpoint(base_url={self.base_url!r}, api_key=<{key}>)"


def _normalise_base_url(raw: str, source: str) -> str:
    text = raw.strip().rstrip("/")
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ConfigError(
            f"The FLORA base URL from {source} is not a URL: {text!r} ({exc}).",
            hint=f"Use a URL like {DEFAULT_BASE_URL}.",
        ) from None
    if url.scheme not in ("http", "https") or not url.host or url.query or url.fragment:
        raise ConfigError(
            f"The FLORA base URL from {source} must be an http(s) URL without a query: {text!r}.",
            hint=f"Use a URL like {DEFAULT_BASE_URL}.",
        )
    if url.userinfo:
        raise ConfigError(
            f"The FLORA base URL from {source} must not contain a user name or password.",
            hint="Put the API key in FLORA_API_KEY (or run 'floradrop init'), not in the URL.",
        )
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise ConfigError(
            f"The FLORA base URL from {source} uses plain http to {url.host}: the API key "
            "would travel unencrypted, so floradrop refuses to use it.",
            hint=f"Use https (the real API is {DEFAULT_BASE_URL}); plain http is allowed only "
            "for a local emulator on 127.0.0.1 or localhost.",
        )
    return text
