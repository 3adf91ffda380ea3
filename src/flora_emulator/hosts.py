"""The two non-API hosts FLORA hands URLs out for, served on the emulator's own port.

* ``/_storage/upload/{token}``: the signed upload target (plays ImageKit's upload endpoint,
  the host in the spec's ``upload_url`` example). Like real storage it knows nothing of FLORA
  keys: a request carrying an ``Authorization`` header is refused with ``403``, as is an
  expired reservation or form fields that do not match what the reservation signed.
  Errors use the storage host's own JSON shape (``{"message", "help"}``), not FLORA's
  envelope. ``POST`` takes ``multipart/form-data`` (form fields first, then ``file``);
  ``PUT`` takes the raw bytes (the ``upload_url`` fallback of the official SDK).
* ``/_media/{owner}/{name}``: public, unauthenticated media (assets once ready, run
  outputs) with the right ``Content-Type``. A key sent here is ignored but counted.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import tempfile
from pathlib import Path

from flora_emulator import multipart
from flora_emulator.context import Context
from flora_emulator.media import OWNER_RE, guess_type, media_url, safe_name
from flora_emulator.state import Reservation
from flora_emulator.wire import Request, Response

STORAGE_HELP = "For support kindly contact us at support@imagekit.io ."
DRAIN_LIMIT = 8 * 1024 * 1024


def _storage_error(status: int, message: str) -> Response:
    body = json.dumps({"message": message, "help": STORAGE_HELP}).encode()
    return Response(status, body, "application/json")


def upload(ctx: Context, req: Request) -> Response:
    """``POST`` (multipart) or ``PUT`` (raw bytes) ``/_storage/upload/{token}``."""
    if req.header("authorization") is not None:
        return _storage_error(
            403,
            "Authorization header is not allowed on a signed upload. The upload URL is "
            "already signed; do not send your FLORA API key to the storage host.",
        )
    with ctx.state.lock:
        reservation = ctx.state.reservations.get(req.params["token"])
    if reservation is None:
        return _storage_error(404, "The upload URL is invalid or has been replaced by a retry.")
    if ctx.now() > reservation.expires_at:
        return _storage_error(403, "Your request contains expired signature.")
    if req.method == "PUT":
        return _put(ctx, req, reservation)
    try:
        form = multipart.parse(req.body, req.header("content-type") or "", ctx.tmp_dir)
    except multipart.MultipartError as exc:
        return _storage_error(400, str(exc))
    req.form = dict(form.fields)
    req.files = {k: (f.filename, f.size) for k, f in form.files.items()}
    try:
        mismatched = [
            k
            for k, v in reservation.form_fields.items()
            if not hmac.compare_digest(form.fields.get(k, ""), v)
        ]
        if mismatched:
            return _storage_error(
                403, f"The signed form fields are missing or were changed: {', '.join(mismatched)}."
            )
        file = form.files.get("file")
        if file is None:
            return _storage_error(400, "Missing file parameter for upload.")
        return _accept(ctx, reservation, file.path, file.size, file.content_type)
    finally:
        form.discard()


def _put(ctx: Context, req: Request, reservation: Reservation) -> Response:
    with tempfile.NamedTemporaryFile(dir=ctx.tmp_dir, prefix="put-", delete=False) as handle:
        path = Path(handle.name)
        try:
            for data in req.body:
                handle.write(data)
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise
    size = path.stat().st_size
    try:
        return _accept(ctx, reservation, path, size, req.header("content-type"))
    finally:
        path.unlink(missing_ok=True)


def _accept(
    ctx: Context, reservation: Reservation, path: Path, size: int, content_type: str | None
) -> Response:
    with ctx.state.lock:
        if ctx.state.reservations.get(reservation.token) is not reservation:
            return _storage_error(404, "The upload URL is invalid or has been replaced by a retry.")
        keep = ctx.tmp_dir / f"received-{reservation.token}"
        path.replace(keep)
        reservation.received = keep
        reservation.received_type = (content_type or "").split(";")[0].strip() or None
        if reservation.received_type == "application/octet-stream":
            reservation.received_type = None
        asset = ctx.state.assets.get(reservation.asset_id)
        name = asset.name if asset else reservation.form_fields["fileName"]
    ctx.stats.count_upload(size)
    folder = reservation.form_fields["folder"].rstrip("/")
    body = {
        "fileId": reservation.token[:24],
        "name": name,
        "size": size,
        "filePath": f"{folder}/{name}",
        "url": media_url(ctx, reservation.asset_id, name),
        "fileType": "image" if (guess_type(name) or "").startswith("image/") else "non-image",
    }
    return Response.json(200, body)


def media(ctx: Context, req: Request) -> Response:
    """``GET``/``HEAD`` ``/_media/{owner}/{name}``: the file, or a plain 404."""
    owner, name = req.params["owner"], req.params["name"]
    missing = Response(404, b"Not Found\n", "text/plain; charset=utf-8")
    if not OWNER_RE.match(owner) or safe_name(name) != name:
        return missing
    with ctx.state.lock:
        asset = ctx.state.assets.get(owner)
        if asset is not None:
            if asset.status != "ready" or asset.file is None or asset.file.name != name:
                return missing
            content_type = asset.content_type or "application/octet-stream"
            path = asset.file
        else:
            path = ctx.media_dir / owner / name
            content_type = guess_type(name) or "application/octet-stream"
    with contextlib.suppress(OSError):
        if path.is_file():
            response = Response.from_file(path, content_type)
            response.headers["cache-control"] = "public, max-age=31536000, immutable"
            return response
    return missing
