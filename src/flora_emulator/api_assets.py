"""Assets: create (direct multipart or signed-upload reservation), complete, retry, get, list.

Choices where FLORA's documents are silent or disagree (``../shared/flora-api/REFERENCE.md``
§8 and §14):

* ``POST /assets`` JSON with an ``https://`` ``source`` (server-side fetch) creates the asset
  ``pending_upload`` with ``uploaded_via: "url"`` and fetches the file on the worker pool
  (:mod:`flora_emulator.fetching`: at most 50 MB, redirects checked); the asset then
  becomes ``ready``, or ``failed`` with the reason in ``failure_message``. A source whose
  host is private, loopback or a metadata service is refused at once with
  ``400 input_validation_error`` on ``source`` (SSRF protection; ``--allow-private-fetch``
  allows loopback for tests). The emulator has no internet: public hosts fail to connect.
* The JSON body follows the 1.6.0 spec (``project_id`` is an unknown key there, so 400);
  the multipart body follows SDK 0.10.0 (``project_id`` allowed; ``source`` is not).
* Direct multipart uploads are limited to 4 MiB (``400`` on ``file`` beyond that) and are
  ``ready`` at once (``uploaded_via: "direct"``).
* Lifecycle errors (completing a ready/failed asset, completing before the bytes arrived,
  retrying a ready asset) are ``400 input_validation_error`` on ``asset_id``: the docs
  mention ``409 conflict``, but ``conflict`` is not in the spec's error-code enum and the
  spec wins. Clients should ``GET`` the asset after any 4xx from complete/retry.
* Completing checks the bytes: an image that Pillow cannot read, or one of more than 150
  megapixels (the documented maximum), makes the asset ``failed`` (``200`` with
  ``failure_message``), and ``retry`` then gives a fresh reservation. Direct uploads are
  checked the same way (``201`` with ``status: failed``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flora_emulator import fetching, multipart, params
from flora_emulator.context import Context
from flora_emulator.media import ALLOWED_TYPES, guess_type, media_url, safe_name
from flora_emulator.state import Asset, Reservation, new_id
from flora_emulator.validation import check_asset_form, check_asset_json, is_http_url
from flora_emulator.wire import ApiError, Request, Response, not_found, validation_error

DIRECT_MAX_BYTES = 4 * 1024 * 1024
MAX_IMAGE_PIXELS = 150_000_000  # "max 150 megapixels" (SDK docs; digest §8.1)
UPLOAD_FOLDER = "api-uploads"
PUBLIC_KEY = "public_floradrop_emulator"
_NOT_DECODED = ("image/heic", "image/heif", "image/avif")  # accepted without a pixel check


def create(ctx: Context, req: Request) -> Response:
    """``POST /assets``: multipart direct bytes, or a JSON ``signed-url`` reservation."""
    if req.content_type == "multipart/form-data":
        return _create_direct(ctx, req)
    body = req.json()
    problems = check_asset_json(body)
    if problems:
        raise validation_error(problems)
    params.workspace(ctx, body["workspace_id"], required=True)
    source = body["source"]
    if source != "signed-url":
        plain_http = source.startswith("http://") and ctx.allow_private_fetch
        if not is_http_url(source) or not (source.startswith("https://") or plain_http):
            raise validation_error(
                [("source", 'Invalid source: expected "signed-url" or an https URL')]
            )
        try:
            fetching.check_target(source, allow_loopback=ctx.allow_private_fetch)
        except fetching.Unreachable:
            pass  # the fetch will fail: the asset is created, then failed
        except fetching.FetchRefused as exc:
            problem = f"The source URL cannot be fetched: {exc}"
            raise validation_error([("source", problem)]) from None
    default_name = fetching.file_name(source, "upload") if source != "signed-url" else "upload"
    name = safe_name(body.get("file_name") or default_name)
    content_type = _content_type(body.get("content_type"), None, name)
    keys = params.idempotency_keys(req)
    scope = ("POST /assets",)
    if keys and ctx.state.is_duplicate(scope, keys, ctx.now()):
        ctx.stats.count_duplicate()
        raise params.duplicate()
    asset = _new_asset(
        ctx,
        name=name,
        content_type=content_type,
        upload_content_type=body.get("content_type"),
        uploaded_via="signed_url" if source == "signed-url" else "url",
        folder=body.get("folder"),
        project_id=None,
    )
    if source != "signed-url":
        with ctx.state.lock:
            ctx.state.assets[asset.asset_id] = asset
            ctx.state.burn(scope, keys, ctx.now())
            created = _created(ctx, asset)
        ctx.submit(lambda: _fetch_source(ctx, asset, source))
        return Response.json(201, created)
    reservation = _reserve(ctx, asset)
    with ctx.state.lock:
        ctx.state.assets[asset.asset_id] = asset
        ctx.state.burn(scope, keys, ctx.now())
    return Response.json(201, _created(ctx, asset) | _upload_fields(ctx, reservation))


def complete(ctx: Context, req: Request) -> Response:
    """``POST /assets/{assetId}/complete``: the signed upload's bytes become the asset."""
    asset = _lookup(ctx, params.path_param(req, "assetId"))
    keys = params.idempotency_keys(req)
    scope = ("complete", asset.asset_id)
    with ctx.state.lock:
        if keys and ctx.state.is_duplicate(scope, keys, ctx.now()):
            ctx.stats.count_duplicate()
            raise params.duplicate()
        if asset.status != "pending_upload":
            raise _lifecycle(
                f"Asset {asset.asset_id} is {asset.status}; only an asset waiting "
                "for its upload can be completed."
            )
        reservation = asset.reservation
        if reservation is None or reservation.received is None:
            expired = reservation is not None and ctx.now() > reservation.expires_at
            raise _lifecycle(
                f"No file was uploaded for asset {asset.asset_id}. "
                + (
                    "The upload reservation expired: call retry for a new one."
                    if expired
                    else "Upload the bytes to upload.url first."
                )
            )
        ctx.state.reservations.pop(reservation.token, None)
        asset.reservation = None
        if reservation.received_type and not asset.content_type:
            asset.content_type = reservation.received_type
        received = reservation.received
    checked = _check(ctx, asset, received)  # outside the lock: it reads the whole file
    with ctx.state.lock:
        checked.apply_to(asset)
        ctx.state.burn(scope, keys, ctx.now())
        return Response.json(200, _completed(ctx, asset))


def retry(ctx: Context, req: Request) -> Response:
    """``POST /assets/{assetId}/retry``: a fresh upload reservation (old URL stops working)."""
    asset = _lookup(ctx, params.path_param(req, "assetId"))
    keys = params.idempotency_keys(req)
    scope = ("retry", asset.asset_id)
    with ctx.state.lock:
        if keys and ctx.state.is_duplicate(scope, keys, ctx.now()):
            ctx.stats.count_duplicate()
            raise params.duplicate()
        if asset.status == "ready":
            raise _lifecycle(f"Asset {asset.asset_id} is ready; there is nothing to retry.")
        if asset.reservation is not None:
            ctx.state.reservations.pop(asset.reservation.token, None)
            if asset.reservation.received is not None:
                asset.reservation.received.unlink(missing_ok=True)
        if asset.file is not None:
            asset.file.unlink(missing_ok=True)
        asset.file = None
        asset.status = "pending_upload"
        asset.failure_message = None
        asset.size_bytes = asset.width = asset.height = None
        asset.uploaded_via = "signed_url"
        reservation = _reserve(ctx, asset)
        ctx.state.burn(scope, keys, ctx.now())
        return Response.json(200, _completed(ctx, asset) | _upload_fields(ctx, reservation))


def get(ctx: Context, req: Request) -> Response:
    """``GET /assets/{assetId}`` (``created_at`` is an ISO date-time here, per the spec)."""
    asset = _lookup(ctx, params.path_param(req, "assetId"))
    with ctx.state.lock:
        return Response.json(200, _full(ctx, asset) | {"created_at": _iso(asset.created_at)})


def list_assets(ctx: Context, req: Request) -> Response:
    """``GET /assets`` (``created_at`` is epoch milliseconds here, per the spec)."""
    params.workspace(ctx, req.arg("workspace_id"))
    project_id = req.arg("project_id")
    params.project(ctx, project_id)
    query = (req.arg("query") or "").strip().lower()
    with ctx.state.lock:
        items = [
            (
                a.seq,
                _full(ctx, a)
                | {
                    "created_at": round(a.created_at * 1000),
                    "node_id": None,
                    "project_id": a.project_id,
                },
            )
            for a in ctx.state.assets.values()
            if (not query or query in a.name.lower())
            and (project_id is None or a.project_id == project_id)
        ]
    chunk, next_cursor = params.paged_newest_first(req, items)
    return Response.json(200, {"assets": chunk, "meta": {"next_cursor": next_cursor}})


def add_ready(ctx: Context, source: Path, name: str, content_type: str | None) -> dict[str, Any]:
    """Create a ready asset from a local file without HTTP (a test and demo helper)."""
    name = safe_name(name)
    ctype = content_type or guess_type(name) or "application/octet-stream"
    asset = _new_asset(
        ctx,
        name=name,
        content_type=ctype,
        upload_content_type=content_type,
        uploaded_via="direct",
        folder=None,
        project_id=None,
    )
    tmp = ctx.tmp_dir / f"seed-{asset.asset_id}"
    shutil.copyfile(source, tmp)
    _check(ctx, asset, tmp).apply_to(asset)
    with ctx.state.lock:
        ctx.state.assets[asset.asset_id] = asset
        return _full(ctx, asset) | {"created_at": _iso(asset.created_at)}


# -- internals -----------------------------------------------------------------------------


def _create_direct(ctx: Context, req: Request) -> Response:
    try:
        form = multipart.parse(
            req.body,
            req.header("content-type") or "",
            ctx.tmp_dir,
            max_file_size=DIRECT_MAX_BYTES,
        )
    except multipart.MultipartError as exc:
        raise validation_error([("file", str(exc))]) from None
    req.form = dict(form.fields)
    req.files = {k: (f.filename, f.size) for k, f in form.files.items()}
    try:
        extra_files = [(k, "Unrecognized key") for k in form.files if k != "file"]
        problems = check_asset_form(form.fields, "file" in form.files) + extra_files
        upload = form.files.get("file")
        if upload is not None and upload.too_large:
            problems.append(
                (
                    "file",
                    f"File is larger than {DIRECT_MAX_BYTES} bytes (4 MB); "
                    'use source "signed-url" for large files',
                )
            )
        elif upload is not None and upload.size == 0:
            problems.append(("file", "File is empty"))
        if problems:
            raise validation_error(problems)
        assert upload is not None
        fields = form.fields
        params.workspace(ctx, fields["workspace_id"], required=True)
        params.project(ctx, fields.get("project_id"))
        name = safe_name(fields.get("file_name") or upload.filename)
        content_type = _content_type(fields.get("content_type"), upload.content_type, name)
        keys = params.idempotency_keys(req)
        scope = ("POST /assets",)
        if keys and ctx.state.is_duplicate(scope, keys, ctx.now()):
            ctx.stats.count_duplicate()
            raise params.duplicate()
        asset = _new_asset(
            ctx,
            name=name,
            content_type=content_type,
            upload_content_type=fields.get("content_type") or upload.content_type,
            uploaded_via="direct",
            folder=fields.get("folder"),
            project_id=fields.get("project_id"),
        )
        _check(ctx, asset, upload.path).apply_to(asset)
        with ctx.state.lock:
            ctx.state.assets[asset.asset_id] = asset
            ctx.state.burn(scope, keys, ctx.now())
            return Response.json(201, _created(ctx, asset))
    finally:
        form.discard()


def _content_type(declared: str | None, part_type: str | None, name: str) -> str | None:
    """The asset's media type: declared, else the part's, else guessed from the name."""
    if part_type in (None, "", "application/octet-stream"):
        part_type = None
    content_type = (declared or part_type or guess_type(name) or "").split(";")[0].strip().lower()
    if not content_type:
        return None
    if content_type not in ALLOWED_TYPES:
        raise validation_error(
            [
                (
                    "content_type",
                    f"Unsupported content type {content_type}: upload an image, "
                    "video, audio file or PDF",
                )
            ]
        )
    return content_type


def _fetch_source(ctx: Context, asset: Asset, source: str) -> None:
    """The server-side fetch of a ``source`` URL: the asset becomes ready or failed."""
    try:
        got = fetching.fetch(
            source,
            ctx.tmp_dir,
            limit=fetching.ASSET_SOURCE_LIMIT,
            allow_loopback=ctx.allow_private_fetch,
        )
    except fetching.FetchRefused as exc:
        with ctx.state.lock:
            asset.status = "failed"
            asset.failure_message = f"Could not fetch the source URL: {exc}"
        return
    with ctx.state.lock:
        if not asset.content_type or asset.content_type == "application/octet-stream":
            asset.content_type = got.content_type
    checked = _check(ctx, asset, got.path)
    with ctx.state.lock:
        checked.apply_to(asset)


def _new_asset(
    ctx: Context,
    *,
    name: str,
    content_type: str | None,
    upload_content_type: str | None,
    uploaded_via: str,
    folder: str | None,
    project_id: str | None,
) -> Asset:
    return Asset(
        asset_id=new_id("asset"),
        workspace_id=ctx.workspace_id,
        project_id=project_id,
        name=name,
        folder=folder,
        content_type=content_type,
        upload_content_type=upload_content_type,
        uploaded_via=uploaded_via,
        status="pending_upload",
        created_at=ctx.now(),
        seq=ctx.state.next_seq(),
    )


def _reserve(ctx: Context, asset: Asset) -> Reservation:
    """A signed upload target, like an ImageKit client-side upload (token, expire, signature)."""
    token = secrets.token_urlsafe(24)
    expires = ctx.now() + max(0.0, float(ctx.reservation_seconds))
    expire = str(int(expires))
    signature = hmac.new(ctx.storage_secret, (token + expire).encode(), hashlib.sha1).hexdigest()
    fields = {
        "fileName": asset.name,
        "folder": "/" + (asset.folder or UPLOAD_FOLDER).strip("/"),
        "useUniqueFileName": "false",
        "publicKey": PUBLIC_KEY,
        "token": token,
        "expire": expire,
        "signature": signature,
    }
    reservation = Reservation(token, asset.asset_id, expires, signature, fields)
    with ctx.state.lock:
        ctx.state.reservations[token] = reservation
        asset.reservation = reservation
    return reservation


@dataclass(frozen=True)
class _Checked:
    """Uploaded bytes in place and what checking them found."""

    file: Path
    size_bytes: int
    content_type: str | None
    status: str  # ready | failed
    width: int | None = None
    height: int | None = None
    failure_message: str | None = None

    def apply_to(self, asset: Asset) -> None:
        asset.file = self.file
        asset.size_bytes = self.size_bytes
        asset.content_type = self.content_type
        asset.status = self.status
        asset.width, asset.height = self.width, self.height
        asset.failure_message = self.failure_message


def _check(ctx: Context, asset: Asset, received: Path) -> _Checked:
    """Move uploaded bytes into the asset's place and check them (ready or failed)."""
    folder = ctx.media_dir / asset.asset_id
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / asset.name
    received.replace(target)
    size_bytes = target.stat().st_size
    content_type = asset.content_type or guess_type(asset.name)
    if not content_type or not content_type.startswith("image/"):
        return _Checked(target, size_bytes, content_type, "ready")
    from PIL import Image

    try:
        size = _image_size(target)
        too_large = size is not None and size[0] * size[1] > MAX_IMAGE_PIXELS
    except Image.DecompressionBombError:
        size, too_large = None, True
    if too_large:
        failure = (
            f"The image has more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels"
            + (f" ({size[0]} x {size[1]} pixels)" if size else "")
            + "; that is the maximum for images."
        )
        return _Checked(target, size_bytes, content_type, "failed", failure_message=failure)
    if size is not None:
        return _Checked(target, size_bytes, content_type, "ready", *size)
    if content_type in _NOT_DECODED:
        return _Checked(target, size_bytes, content_type, "ready")
    failure = f"The uploaded file is not a valid {content_type} image."
    return _Checked(target, size_bytes, content_type, "failed", failure_message=failure)


def _image_size(path: Path) -> tuple[int, int] | None:
    """The image's (width, height) from its header, or None when it is not a valid image.
    Raises DecompressionBombError beyond twice Pillow's limit (over FLORA's as well)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                size = img.size
                img.verify()
                return size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def _lifecycle(message: str) -> ApiError:
    return validation_error([("asset_id", message)])


def _lookup(ctx: Context, asset_id: str) -> Asset:
    with ctx.state.lock:
        asset = ctx.state.assets.get(asset_id)
    if asset is None:
        raise not_found("Asset")
    return asset


def _iso(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _created(ctx: Context, asset: Asset) -> dict[str, Any]:
    return {
        "asset_id": asset.asset_id,
        "uploaded_via": asset.uploaded_via,
        "url": media_url(ctx, asset.asset_id, asset.name),
        "workspace_id": asset.workspace_id,
        "visibility": "workspace",
        "status": asset.status,
    }


def _completed(ctx: Context, asset: Asset) -> dict[str, Any]:
    data = _created(ctx, asset)
    del data["uploaded_via"]
    return data | {"failure_message": asset.failure_message}


def _upload_fields(ctx: Context, reservation: Reservation) -> dict[str, Any]:
    url = f"{ctx.origin}/_storage/upload/{reservation.token}"
    return {
        "upload": {
            "url": url,
            "method": "POST",
            "content_type": "multipart/form-data",
            "file_field": "file",
            "form_fields": dict(reservation.form_fields),
        },
        "upload_url": url,
        "expires_at": _iso(reservation.expires_at),
    }


def _full(ctx: Context, asset: Asset) -> dict[str, Any]:
    return {
        "asset_id": asset.asset_id,
        "name": asset.name,
        "description": None,
        "workspace_id": asset.workspace_id,
        "url": media_url(ctx, asset.asset_id, asset.name),
        "content_type": asset.content_type or "application/octet-stream",
        "upload_content_type": asset.upload_content_type,
        "size_bytes": asset.size_bytes,
        "uploaded_via": asset.uploaded_via,
        "status": asset.status,
        "failure_message": asset.failure_message,
        "width": asset.width,
        "height": asset.height,
    }
