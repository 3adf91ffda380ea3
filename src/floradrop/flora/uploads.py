"""Uploading a local file as a FLORA asset, by the path that fits its size.

* Up to :data:`DIRECT_LIMIT` (4 MiB): one multipart ``POST /assets`` with the bytes.
* Above: reserve a signed upload (``POST /assets`` with ``source: signed-url``), stream the
  bytes to the upload target (a storage host: never with the key), ``complete`` it, and poll
  ``GET /assets/{id}`` until ``ready``. An expired or rejected reservation, or an asset that
  failed, gets fresh upload instructions from ``POST /assets/{id}/retry`` (a bounded number
  of times).

Every create/complete/retry carries an idempotency key derived from the caller's key
(``key``, ``key:complete:N``, ``key:retry:N``), so a retried request never makes a second
asset. The file is streamed in chunks; it is never read into memory whole.
"""

from __future__ import annotations

import io
import mimetypes
import os
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

import httpx
from loguru import logger

from floradrop.errors import JobError, TransientError
from floradrop.flora.endpoint import check_transfer_url
from floradrop.flora.errors import (
    AssetFailedError,
    ConflictError,
    IdempotencyDuplicateError,
    UploadError,
    ValidationError,
)
from floradrop.flora.http import HttpSession, Target, url_for_logs
from floradrop.flora.models import Asset, UploadTarget


class AssetCalls(Protocol):
    """The asset requests an upload makes (``FloraClient`` has them; no import circle)."""

    def get_asset(self, asset_id: str) -> Asset: ...

    def create_asset_json(
        self, body: Mapping[str, Any], *, idempotency_key: str, what: str
    ) -> Asset: ...

    def create_asset_multipart(
        self,
        data: Mapping[str, str],
        files: Mapping[str, Any],
        *,
        idempotency_key: str,
        what: str,
    ) -> Asset: ...

    def asset_action(self, asset_id: str, action: str, *, idempotency_key: str) -> Asset: ...


DIRECT_LIMIT: Final = 4 * 1024 * 1024
CHUNK_SIZE: Final = 256 * 1024
READY_POLL_INTERVAL: Final = 1.0
MAX_RESERVATIONS: Final = 3  # fresh upload instructions asked for, at most, per upload
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"
_LOST_CREATES: Final = 4  # asset creates whose answer was lost, at most, per upload

ProgressCallback = Callable[[int, int], None]


class _ProgressReader(io.BufferedReader):
    """A binary file that reports how many bytes have been read since the last rewind; over
    ``path``, or over a copy of the descriptor ``fd`` (read from its first byte)."""

    def __init__(
        self, path: Path, total: int, on_progress: ProgressCallback | None, fd: int | None = None
    ) -> None:
        raw = io.FileIO(path, "rb") if fd is None else io.FileIO(os.dup(fd), "rb")
        super().__init__(raw, buffer_size=CHUNK_SIZE)
        self.total = total
        self._sent = 0
        self._on_progress = on_progress
        if fd is not None:
            self.seek(0)  # copies of a descriptor share its offset

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if data:
            self._sent += len(data)
            if self._on_progress is not None:
                self._on_progress(min(self._sent, self.total), self.total)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position = super().seek(offset, whence)
        self._sent = position
        return position

    def chunks(self) -> Iterator[bytes]:
        """The whole file from its start, one chunk at a time (for a raw-bytes PUT)."""
        self.seek(0)
        while chunk := self.read(CHUNK_SIZE):
            yield chunk


class Uploader:
    """One upload (``FloraClient.upload_file`` makes one per call)."""

    def __init__(
        self,
        client: AssetCalls,
        http: HttpSession,
        *,
        ready_timeout: float,
        on_progress: ProgressCallback | None,
    ) -> None:
        self._client = client
        self._http = http
        self._ready_timeout = ready_timeout
        self._on_progress = on_progress

    def upload(
        self,
        path: Path,
        *,
        workspace_id: str,
        idempotency_key: str,
        content_type: str | None,
        file_name: str | None,
        fd: int | None = None,
    ) -> Asset:
        name = file_name or path.name
        mime = content_type or mimetypes.guess_type(name)[0] or DEFAULT_CONTENT_TYPE
        try:
            size = path.stat().st_size if fd is None else os.fstat(fd).st_size
            reader = _ProgressReader(path, size, self._on_progress, fd)
        except OSError as exc:
            raise JobError(
                f"Cannot read {path} to upload it: {exc.strerror or exc}.",
                hint="Check that the file still exists and that floradrop may read it.",
            ) from exc
        with reader:
            key = idempotency_key
            for again in range(_LOST_CREATES):
                try:
                    asset = self._create(
                        reader, size, name=name, mime=mime, workspace_id=workspace_id, key=key
                    )
                    break
                except IdempotencyDuplicateError as exc:
                    # The create happened but its answer was lost, and FLORA cannot tell us the
                    # asset id. Assets are not billed: make a new one (the other stays unused),
                    # under a key of its own (the answer to that one may be lost too).
                    if again == _LOST_CREATES - 1:
                        raise TransientError(
                            f"The answers to {_LOST_CREATES} uploads of {name} were lost.",
                            hint="floradrop tries again later; check your connection.",
                        ) from exc
                    logger.info("The answer to creating {} was lost; uploading it again", name)
                    reader.seek(0)
                    key = f"{idempotency_key}:again-{secrets.token_hex(4)}"
            asset = self._wait_settled(asset)
        if asset.status == "failed" and not asset.failure_message:
            asset = self._client.get_asset(asset.asset_id)  # create answers carry no reason
        if not asset.ready:
            raise self._not_ready(asset, path)
        logger.debug("Uploaded {} ({} bytes) as {}", name, size, asset.asset_id)
        return asset

    def _create(
        self,
        reader: _ProgressReader,
        size: int,
        *,
        name: str,
        mime: str,
        workspace_id: str,
        key: str,
    ) -> Asset:
        if size <= DIRECT_LIMIT:
            return self._direct(reader, name, mime, workspace_id, key)
        return self._signed(reader, name, mime, workspace_id=workspace_id, key=key)

    def _direct(
        self, reader: _ProgressReader, name: str, mime: str, workspace_id: str, key: str
    ) -> Asset:
        fields = {"workspace_id": workspace_id, "file_name": name, "content_type": mime}
        return self._client.create_asset_multipart(
            fields,
            {"file": (name, reader, mime)},
            idempotency_key=key,
            what=f"the upload of {name}",
        )

    def _signed(
        self, reader: _ProgressReader, name: str, mime: str, *, workspace_id: str, key: str
    ) -> Asset:
        body = {
            "source": "signed-url",
            "workspace_id": workspace_id,
            "file_name": name,
            "content_type": mime,
        }
        asset = self._client.create_asset_json(
            body, idempotency_key=key, what=f"the upload of {name}"
        )
        renewals = 0
        while not asset.ready:
            reason = _obstacle(asset)
            if reason is None and asset.upload is not None:
                reason = self._send_bytes(reader, asset.upload, name, mime)
            if reason is None:
                asset, refused = self._lifecycle(asset, "complete", f"{key}:complete:{renewals}")
                if not refused:
                    asset = self._wait_settled(asset)
                if asset.ready or (asset.status == "pending_upload" and not refused):
                    return asset  # ready, or still processing after ready_timeout
                reason = (
                    f"the asset failed ({asset.failure_message or 'no reason given'})"
                    if asset.status == "failed"
                    else "FLORA refused to complete the upload"
                )
            if renewals >= MAX_RESERVATIONS:
                if asset.status == "failed":
                    raise self._not_ready(asset, Path(name))
                raise UploadError(
                    f"Uploading {name} failed: {reason}, and {MAX_RESERVATIONS} fresh upload "
                    "reservations did not help.",
                    hint="floradrop tries again later; if it keeps failing, check the file "
                    "type and size against FLORA's limits.",
                )
            renewals += 1
            logger.info("Asking FLORA for fresh upload instructions for {}: {}", name, reason)
            asset, _ = self._lifecycle(asset, "retry", f"{key}:retry:{renewals}")
        return asset

    def _send_bytes(
        self, reader: _ProgressReader, target: UploadTarget, name: str, mime: str
    ) -> str | None:
        """Send the file to the upload target; None on success, else why it was refused."""
        url_text = target.url or target.put_url
        if not url_text:
            return "FLORA gave no upload URL"
        try:
            url = httpx.URL(url_text)
        except httpx.InvalidURL:
            return "FLORA gave an upload URL that is not a URL"
        refused = check_transfer_url(url)
        if refused is not None:
            raise UploadError(
                f"Refusing to upload {name} to {url.host or url_text}: {refused}.",
                hint="This upload target is not safe to use; report it to FLORA support.",
            )
        timeout = self._http.transfer_timeout
        if target.url:
            method = (target.method or "POST").upper()

            def build() -> httpx.Request:
                return self._http.build(
                    method,
                    url,
                    data=dict(target.form_fields),
                    files={target.file_field or "file": (name, reader, mime)},
                    timeout=timeout,
                )
        else:

            def build() -> httpx.Request:
                return self._http.build(
                    "PUT",
                    url,
                    content=reader.chunks(),
                    headers={"Content-Type": mime, "Content-Length": str(reader.total)},
                    timeout=timeout,
                )

        response = self._http.send(build, target=Target.UPLOAD, retry=True)
        if response.is_success:
            return None
        where = url_for_logs(url)
        if response.status_code >= 500 or response.status_code == 429:
            raise UploadError(
                f"The upload target {url.host} failed to take {name} (HTTP "
                f"{response.status_code}).",
                hint="This is usually temporary; floradrop tries again later.",
                status_code=response.status_code,
            )
        logger.info("Upload target {} refused {} with HTTP {}", where, name, response.status_code)
        return f"the upload target answered HTTP {response.status_code}"

    def _lifecycle(self, asset: Asset, action: str, key: str) -> tuple[Asset, bool]:
        """``complete`` or ``retry`` the asset: ``(asset, refused)``. When FLORA refuses the
        transition (409 ``conflict`` in the docs, 400 on ``asset_id`` elsewhere), the asset's
        real state is read instead and ``refused`` is True."""
        try:
            return self._client.asset_action(asset.asset_id, action, idempotency_key=key), False
        except IdempotencyDuplicateError:
            # Done before, but the answer was lost: read what state it left the asset in.
            return self._client.get_asset(asset.asset_id), False
        except (ConflictError, ValidationError) as exc:
            logger.info("FLORA refused to {} asset {}: {}", action, asset.asset_id, exc.message)
            return self._client.get_asset(asset.asset_id), True

    def _wait_settled(self, asset: Asset) -> Asset:
        """Poll until the asset is ``ready`` or ``failed`` (or the time is up: returned as is)."""
        if asset.ready or asset.status == "failed":
            return asset
        timeout = self._ready_timeout
        deadline = time.monotonic() + timeout
        polls = max(1, int(timeout / READY_POLL_INTERVAL))
        for _ in range(polls):
            if time.monotonic() >= deadline:
                break
            self._http.sleep(READY_POLL_INTERVAL)
            asset = self._client.get_asset(asset.asset_id)
            if asset.ready or asset.status == "failed":
                return asset
        return asset

    def _not_ready(self, asset: Asset, path: Path) -> UploadError | AssetFailedError:
        if asset.status == "failed":
            return AssetFailedError(
                f"FLORA could not process the upload of {path.name}: "
                f"{asset.failure_message or 'no reason given'}.",
                hint="Check that the file opens, and that FLORA takes its type and size "
                "(images: JPEG, PNG, WebP, GIF, AVIF, HEIC up to 150 megapixels; videos: MP4, "
                "WebM, MOV); then 'floradrop retry' it.",
            )
        return UploadError(
            f"The upload of {path.name} was not ready after {self._ready_timeout:.0f} s (status "
            f"{asset.status!r}).",
            hint="FLORA may be busy; floradrop tries again later.",
        )


def _obstacle(asset: Asset) -> str | None:
    """Why the asset's current upload instructions cannot be used (None when they can)."""
    if asset.status == "failed":
        return f"the asset failed ({asset.failure_message or 'no reason given'})"
    if asset.upload is None:
        return "FLORA gave no upload instructions"
    if _expired(asset.expires_at):
        return f"the upload reservation expired at {asset.expires_at}"
    return None


def _expired(expires_at: str | None) -> bool:
    """Whether a reservation is past its expiry by our clock. No safety margin: instructions
    are used the moment they arrive, and FLORA may grant reservations that last only seconds
    (a margin longer than that would renew them for ever). A storage host that refuses an
    expired signature gets the upload a fresh reservation too."""
    if not expires_at:
        return False
    try:
        when = datetime.fromisoformat(expires_at)
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp() <= time.time()
