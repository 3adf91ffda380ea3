"""``floradrop check`` for ``[hosting]``: the bucket is reachable and writable, and a presigned
link to a test object can be fetched (and returns that object). Changes nothing that stays:
the test object is removed again."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from floradrop.config import Config
from floradrop.config.fields import LOOPBACK_HOSTS
from floradrop.hosting import open_store

_FETCH_TIMEOUT = httpx.Timeout(20.0, connect=10.0)


def _fetch(url: str) -> bytes:
    """GET a presigned link the way FLORA would: no credentials, no redirects."""
    with httpx.Client(timeout=_FETCH_TIMEOUT, follow_redirects=False, trust_env=False) as http:
        response = http.get(url)
        if response.status_code != 200:
            raise httpx.HTTPStatusError(
                f"HTTP {response.status_code}", request=response.request, response=response
            )
        return response.content


def check_hosting(config: Config) -> list[str]:
    """Lines saying what was checked; raises StorageError (exit 5) or ConfigError (exit 3)."""
    settings = config.hosting
    if settings is None:
        return []
    hosting_folders = [f.name for f in config.folders if f.transfer == "host"]
    store = open_store(settings, config.daemon.state_dir)
    try:
        store.check(_fetch)
    finally:
        store.ledger.close()
    lines = [
        f"hosting: bucket {settings.bucket!r} at {settings.endpoint} is reachable and writable, "
        f"and a presigned link to it can be fetched (links last {settings.url_ttl_hours:g} h)",
        "  folders that host their files: " + (", ".join(hosting_folders) or "none"),
    ]
    if urlsplit(settings.endpoint).hostname in LOOPBACK_HOSTS:
        lines.append(
            "  note: the endpoint is on this machine; FLORA itself cannot fetch from it "
            "(fine with the emulator and --allow-private-fetch)"
        )
    return lines
