"""The FLORA API client: floradrop talks to FLORA only through :class:`FloraClient`.

It returns the models of :mod:`floradrop.flora.models` (never raw dicts) and raises the errors
of :mod:`floradrop.flora.errors` (never httpx's). Sending, retries and the key live in
:mod:`floradrop.flora.http`; uploads and downloads in their own modules.

The key is read from the argument, else ``FLORA_API_KEY``; a missing key is reported as
:class:`AuthenticationError` at the first API request (so a client without a key can still
download outputs). A base URL using plain http to anything but a loopback host is refused
when the client is made (``ConfigError``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx
from loguru import logger

from floradrop import logs
from floradrop.flora import downloads, uploads
from floradrop.flora.endpoint import Endpoint
from floradrop.flora.errors import (
    ServerError,
    ValidationError,
)
from floradrop.flora.http import HttpSession, RequestInfo, Target
from floradrop.flora.models import (
    Asset,
    DownloadResult,
    Run,
    RunInput,
    Technique,
    Workspace,
    pick,
)
from floradrop.flora.responses import api_error, items, json_object

MAX_PAGE_SIZE = 100


class FloraClient:
    """A synchronous client for the FLORA public API (thread-safe like ``httpx.Client``)."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[RequestInfo], None] | None = None,
    ) -> None:
        self._endpoint = Endpoint.resolve(api_key, base_url)
        logs.add_secret(self._endpoint.api_key)  # redacted from every log line, whatever logs it
        self._http = HttpSession(
            self._endpoint,
            transport=transport,
            timeout=timeout,
            max_retries=max_retries,
            sleep=sleep,
            on_request=on_request,
        )

    @property
    def base_url(self) -> str:
        return self._endpoint.base_url

    @property
    def has_api_key(self) -> bool:
        return bool(self._endpoint.api_key)

    def __repr__(self) -> str:
        key = "set" if self.has_api_key else "missing"
        return f"FloraClient(base_url={self.base_url!r}, api_key=<{key}>)"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Workspaces and techniques

    def list_workspaces(self) -> list[Workspace]:
        data = self._call("GET", "/workspaces", what="the workspace list")
        return [Workspace.from_api(item) for item in items(data, "workspaces")]

    def iter_techniques(
        self,
        *,
        workspace_id: str | None = None,
        query: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Technique]:
        """Every technique, following the cursor to the last page."""
        params = {"workspace_id": workspace_id, "query": query}
        for item in self._paginate("/techniques", "techniques", params, page_size, None):
            yield Technique.from_api(item)

    def list_techniques(
        self,
        *,
        workspace_id: str | None = None,
        query: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[Technique]:
        return list(
            self.iter_techniques(workspace_id=workspace_id, query=query, page_size=page_size)
        )

    def get_technique(self, slug_or_id: str) -> Technique:
        """The technique with its input/output schema, by slug or ``tech_`` id."""
        segment = _segment(slug_or_id, "technique slug or id")
        data = self._call("GET", f"/techniques/{segment}", what=f"technique {slug_or_id!r}")
        return Technique.from_api(data)

    # Runs

    def start_run(
        self,
        slug_or_id: str,
        inputs: Sequence[RunInput],
        *,
        idempotency_key: str,
        callback_url: str | None = None,
    ) -> Run:
        """Start a technique run (``POST /techniques/{slug}/runs``, mode ``async``).

        The idempotency key goes in the ``Idempotency-Key`` header and the body; the request
        is retried only with that same key. A 409 ``idempotency_duplicate`` means FLORA already
        has this submission: it raises :class:`IdempotencyDuplicateError` and is never retried.
        """
        _require_key(idempotency_key)
        segment = _segment(slug_or_id, "technique slug or id")
        body: dict[str, Any] = {
            "inputs": [item.to_api() for item in inputs],
            "mode": "async",
            "idempotency_key": idempotency_key,
        }
        if callback_url is not None:
            body["callback_url"] = callback_url
        data = self._call(
            "POST",
            f"/techniques/{segment}/runs",
            json=body,
            idempotency_key=idempotency_key,
            what=f"technique {slug_or_id!r}",
        )
        return Run.from_api(data)

    def start_run_top_level(
        self,
        technique_id: str,
        workspace_id: str,
        inputs: Mapping[str, str],
        *,
        idempotency_key: str,
    ) -> Run:
        """Start a run with ``POST /runs/technique`` (inputs as a map; key in the header only)."""
        _require_key(idempotency_key)
        body = {"technique_id": technique_id, "workspace_id": workspace_id, "inputs": dict(inputs)}
        data = self._call(
            "POST",
            "/runs/technique",
            json=body,
            idempotency_key=idempotency_key,
            what=f"technique {technique_id!r}",
        )
        return Run.from_api(data)

    def get_run(
        self, run_id: str, *, technique: str | None = None, poll_url: str | None = None
    ) -> Run:
        """Poll a run: its ``poll_url`` when that is on the API, else the nested route with
        ``technique`` (slug or id), else ``GET /runs/{run_id}``."""
        segment = _segment(run_id, "run id")
        what = f"run {run_id!r}"
        if poll_url:
            url = httpx.URL(self._endpoint.base_url).join(poll_url)
            if self._endpoint.is_api_url(url):
                return Run.from_api(self._call("GET", url, what=what))
            logger.warning(
                "Ignoring poll_url on {} (not the API base URL {}); polling by run id instead",
                url.host,
                self.base_url,
            )
        if technique:
            tech = _segment(technique, "technique slug or id")
            return Run.from_api(self._call("GET", f"/techniques/{tech}/runs/{segment}", what=what))
        return Run.from_api(self._call("GET", f"/runs/{segment}", what=what))

    def iter_technique_runs(
        self,
        *,
        workspace_id: str | None = None,
        project_id: str | None = None,
        technique_id: str | None = None,
        status: str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        max_pages: int | None = None,
    ) -> Iterator[Run]:
        """Technique runs, newest first (``GET /technique-runs``), at most ``max_pages`` pages."""
        params = {
            "workspace_id": workspace_id,
            "project_id": project_id,
            "technique_id": technique_id,
            "status": status,
        }
        for item in self._paginate(
            "/technique-runs", "technique_runs", params, page_size, max_pages
        ):
            yield Run.from_api(item)

    # Assets, uploads and downloads

    def get_asset(self, asset_id: str) -> Asset:
        segment = _segment(asset_id, "asset id")
        return Asset.from_api(self._call("GET", f"/assets/{segment}", what=f"asset {asset_id!r}"))

    def upload_file(
        self,
        path: Path,
        *,
        workspace_id: str,
        idempotency_key: str,
        content_type: str | None = None,
        file_name: str | None = None,
        ready_timeout: float = 120.0,
        on_progress: Callable[[int, int], None] | None = None,
        fd: int | None = None,
    ) -> Asset:
        """Upload a local file as an asset and return it once it is ``ready``.

        With ``fd`` (a descriptor open on ``path``'s file, which the caller checked) the bytes
        are read from it, never from ``path`` again; ``path`` only names the file.

        Up to 4 MiB the bytes go directly in a multipart ``POST /assets``; above that a
        signed upload is reserved, the bytes are streamed to the upload target (without the
        key), the upload is completed, and the asset is polled until ready. An expired or
        failed reservation is renewed with ``POST /assets/{id}/retry``.
        """
        _require_key(idempotency_key)
        uploader = uploads.Uploader(
            self, self._http, ready_timeout=ready_timeout, on_progress=on_progress
        )
        return uploader.upload(
            Path(path),
            workspace_id=workspace_id,
            idempotency_key=idempotency_key,
            content_type=content_type,
            file_name=file_name,
            fd=fd,
        )

    def download(
        self,
        url: str,
        dest: Path,
        *,
        max_bytes: int | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> DownloadResult:
        """Stream an output URL into ``dest`` (written and fsynced, never renamed).

        No ``Authorization`` header is ever sent; only https URLs are fetched, except plain
        http on a loopback host. Beyond ``max_bytes`` the partial file is deleted and
        :class:`DownloadError` raised.
        """
        return downloads.download(
            self._http, url, Path(dest), max_bytes=max_bytes, on_progress=on_progress
        )

    # Internals used by the upload module

    def create_asset_json(
        self, body: Mapping[str, Any], *, idempotency_key: str, what: str
    ) -> Asset:
        data = self._call(
            "POST", "/assets", json=dict(body), idempotency_key=idempotency_key, what=what
        )
        return Asset.from_api(data)

    def create_asset_multipart(
        self,
        data: Mapping[str, str],
        files: Mapping[str, Any],
        *,
        idempotency_key: str,
        what: str,
    ) -> Asset:
        body = self._call(
            "POST",
            "/assets",
            data=dict(data),
            files=dict(files),
            idempotency_key=idempotency_key,
            what=what,
            timeout=self._http.transfer_timeout,
        )
        return Asset.from_api(body)

    def asset_action(self, asset_id: str, action: str, *, idempotency_key: str) -> Asset:
        """``POST /assets/{id}/complete`` or ``/retry`` (no body)."""
        segment = _segment(asset_id, "asset id")
        data = self._call(
            "POST",
            f"/assets/{segment}/{action}",
            idempotency_key=idempotency_key,
            what=f"asset {asset_id!r}",
        )
        return Asset.from_api(data)

    # Plumbing

    def _call(
        self,
        method: str,
        path_or_url: str | httpx.URL,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        files: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> dict[str, Any]:
        """One API request; returns the JSON object or raises the mapped ``FloraError``."""
        if isinstance(path_or_url, httpx.URL):
            url = path_or_url
        else:
            url = httpx.URL(self._endpoint.api_url(path_or_url))
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        query = {k: v for k, v in (params or {}).items() if v is not None}

        def build() -> httpx.Request:
            return self._http.build(
                method,
                url,
                params=query or None,
                json=json,
                data=data,
                files=files,
                headers=headers,
                timeout=timeout or self._http.timeout,
            )

        retry = method in ("GET", "HEAD") or bool(idempotency_key)
        response = self._http.send(build, target=Target.API, retry=retry)
        if not response.is_success:
            raise api_error(response, what, self._endpoint.api_key)
        return json_object(response, what)

    def _paginate(
        self,
        path: str,
        key: str,
        params: Mapping[str, Any],
        page_size: int,
        max_pages: int | None,
    ) -> Iterator[Mapping[str, Any]]:
        limit = max(1, min(MAX_PAGE_SIZE, page_size))
        cursor: str | None = None
        seen: set[str] = set()
        pages = 0
        while max_pages is None or pages < max_pages:
            data = self._call(
                "GET", path, params={**params, "limit": limit, "cursor": cursor}, what=path
            )
            pages += 1
            yield from items(data, key)
            meta = pick(data, "meta")
            cursor = pick(meta, "next_cursor") if isinstance(meta, Mapping) else None
            if not cursor:
                return
            cursor = str(cursor)
            if cursor in seen:
                raise ServerError(
                    f"FLORA returned the same page cursor twice while listing {path}.",
                    hint="This is a problem on FLORA's side; try again later.",
                )
            seen.add(cursor)


def _segment(value: str, what: str) -> str:
    """``value`` as one URL path segment; refuses empty values and whitespace."""
    if not value or any(ch.isspace() for ch in value):
        raise ValidationError(
            f"{value!r} is not a valid {what} (it must be non-empty, without spaces).",
            hint="Copy the slug from the technique's URL in FLORA, or the id from "
            "'floradrop techniques list'.",
        )
    return quote(value, safe="")


def _require_key(idempotency_key: str) -> None:
    if not idempotency_key or not idempotency_key.strip():
        raise ValueError("an idempotency key is required for every request that creates something")
