"""The bucket: put a file there once, and hand out links to it.

* **Content-addressed keys.** A file is stored as ``<key_prefix><sha256><.ext>``: the same
  bytes dropped again (or a crash and a restart) land on the same key, so there is never a
  second object for one content, and an object already there (same size, same ``sha256``
  metadata) is reused without sending a byte.
* **Streamed, resumable multipart.** Files over :data:`MULTIPART_THRESHOLD` go up in
  :data:`PART_SIZE` parts (one part in memory at a time). The upload id is written to the
  :class:`~floradrop.hosting.ledger.Ledger` before the first part; after a crash the next
  start asks the bucket which parts it holds and sends only the rest.
* **Links without secrets on disk.** FLORA gets a SigV4 presigned GET URL. What floradrop
  stores (journal, provenance) is the same URL *without* its credential, token and signature
  (:meth:`Store.link`); :meth:`Store.sign` recomputes them when the run is created. Signing is
  deterministic for a given date, so a run create that is sent again after a crash carries
  byte-identical inputs under its idempotency key.

The S3 client is MinIO's (``minio``, the optional ``hosting`` extra): a small pure-Python
package on urllib3 (see the README for why not boto3). Its multipart calls are the
client's own low-level methods (``_create_multipart_upload`` and friends), pinned to
``minio>=7.2,<8``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from loguru import logger

from floradrop.config.hosting import HostingSettings
from floradrop.errors import ConfigError, Interrupted, JobError, TransientError
from floradrop.hosting.credentials import StorageCredentials
from floradrop.hosting.ledger import Ledger

if TYPE_CHECKING:
    from minio import Minio

MULTIPART_THRESHOLD: Final = 16 * 1024 * 1024
PART_SIZE: Final = 8 * 1024 * 1024  # S3's minimum is 5 MiB (all parts but the last)
_SECRET_PARAMS: Final = frozenset({"X-Amz-Credential", "X-Amz-Security-Token", "X-Amz-Signature"})
_DATE_FORMAT: Final = "%Y%m%dT%H%M%SZ"
CLEANUP_EVERY_SECONDS: Final = 6 * 3600.0
STALE_UPLOAD_DAYS: Final = 7.0

Progress = Callable[[int, int], None]


class StorageError(TransientError):
    """The bucket could not be reached, or refused: the job waits and is tried again."""

    title = "Hosting storage problem"


def _minio_module() -> Any:
    try:
        import minio
    except ImportError:
        raise ConfigError(
            'transfer = "host" needs the S3 client of the `hosting` extra, which is not installed.',
            hint="install it: pipx install 'floradrop[hosting]' (or pip install "
            "'floradrop[hosting]' in floradrop's environment)",
        ) from None
    return minio


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", None)
    if code:
        return f"{code}: {message or 'no message'}"
    return f"{type(exc).__name__}: {exc}"


def _hint_for(exc: BaseException, settings: HostingSettings) -> str:
    code = str(getattr(exc, "code", "") or "")
    if code == "NoSuchBucket":
        return f"create the bucket {settings.bucket!r}, or fix [hosting] bucket"
    if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return (
            "check the storage credentials (AWS_* variables, profile or keyring) and that "
            f"they may read and write {settings.bucket!r}"
        )
    return f"check [hosting] endpoint ({settings.endpoint}) and the network; floradrop tries again"


class Store:
    """One bucket of one ``[hosting]`` section. Thread-safe."""

    def __init__(
        self,
        settings: HostingSettings,
        credentials: StorageCredentials,
        ledger: Ledger,
    ) -> None:
        minio = _minio_module()
        import urllib3

        self.settings = settings
        self.ledger = ledger
        self._credentials = credentials
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=10.0, read=120.0),
            retries=urllib3.Retry(
                total=3, backoff_factor=0.5, status_forcelist=(500, 502, 503, 504)
            ),
            maxsize=8,
        )
        self._client: Minio = minio.Minio(
            settings.netloc,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            session_token=credentials.session_token,
            secure=settings.secure,
            region=settings.region,
            http_client=http,
        )
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._next_cleanup = 0.0

    def __repr__(self) -> str:
        return f"Store({self.settings.endpoint}, bucket={self.settings.bucket!r})"

    # -- keys and links -------------------------------------------------------------------

    def key_for(self, digest: str, name: str) -> str:
        suffix = Path(name).suffix.lower()
        if not suffix[1:].isalnum() or len(suffix) > 10:
            suffix = ""
        return f"{self.settings.key_prefix}{digest}{suffix}"

    def link(self, key: str, *, when: datetime | None = None) -> str:
        """The presigned GET URL of ``key``, dated ``when`` (now), *without* its credential,
        token and signature: safe to journal and to show; :meth:`sign` completes it."""
        date = (when or datetime.now(UTC)).replace(microsecond=0)
        return _strip(self._presign(key, date, self.settings.url_ttl_seconds))

    def is_link(self, value: str) -> bool:
        """Whether ``value`` is one of this bucket's unsigned links (:meth:`link`)."""
        return self._parse(value) is not None

    def sign(self, value: str) -> str:
        """The full presigned URL for an unsigned link (anything else is returned as is)."""
        parsed = self._parse(value)
        if parsed is None:
            return value
        key, date, expires = parsed
        signed = self._presign(key, date, expires)
        if _strip(signed) != value:
            raise StorageError(
                f"the hosted link for {key} cannot be signed again identically",
                hint="the [hosting] endpoint, bucket or credentials changed since it was made; "
                "restore them, or 'floradrop retry' the file",
            )
        return signed

    def _presign(self, key: str, date: datetime, expires: int) -> str:
        url: str = self._client.presigned_get_object(
            self.settings.bucket, key, expires=timedelta(seconds=expires), request_date=date
        )
        return url

    def _parse(self, value: str) -> tuple[str, datetime, int] | None:
        parts = urlsplit(value)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if "X-Amz-Date" not in query or "X-Amz-Expires" not in query:
            return None
        if _SECRET_PARAMS & query.keys():
            return None
        probe = _strip(self._presign("KEY", datetime(2000, 1, 1, tzinfo=UTC), 60))
        base = urlsplit(probe)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            return None
        head = base.path[: -len("KEY")]
        if not parts.path.startswith(head) or len(parts.path) == len(head):
            return None
        try:
            date = datetime.strptime(query["X-Amz-Date"], _DATE_FORMAT).replace(tzinfo=UTC)
            expires = int(query["X-Amz-Expires"])
        except ValueError:
            return None
        return unquote(parts.path[len(head) :]), date, expires

    def expires_at(self, value: str) -> float | None:
        """When an unsigned link stops working (epoch seconds), or None if not a link."""
        parsed = self._parse(value)
        if parsed is None:
            return None
        _, date, expires = parsed
        return date.timestamp() + expires

    # -- objects ------------------------------------------------------------------------

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def ensure(
        self,
        path: Path,
        digest: str,
        *,
        content_type: str,
        on_progress: Progress | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        fd: int | None = None,
    ) -> str:
        """Put ``path`` (whose SHA-256 is ``digest``) in the bucket unless it is there; its
        key. Raises StorageError (try later), JobError (the file cannot be read), or whatever
        ``on_progress`` raises (e.g. a stop). With ``fd`` (a descriptor open on ``path``'s
        file, which the caller checked) the bytes are read from it, never from ``path``."""
        key = self.key_for(digest, path.name)
        try:
            size = path.stat().st_size if fd is None else os.fstat(fd).st_size
        except OSError as exc:
            raise JobError(
                f"cannot read {path} to host it: {exc.strerror or exc}",
                hint="check that the file still exists and that floradrop may read it",
            ) from exc
        with self._lock(key):
            try:
                if self._present(key, size, digest):
                    logger.info("{} is already in the bucket as {}; reusing it", path.name, key)
                elif size > MULTIPART_THRESHOLD:
                    self._multipart(
                        path,
                        key,
                        size,
                        digest=digest,
                        content_type=content_type,
                        on_progress=on_progress,
                        should_stop=should_stop,
                        fd=fd,
                    )
                else:
                    self._single(path, key, size, digest, content_type, fd=fd)
            except (JobError, TransientError):
                raise
            except OSError as exc:
                if isinstance(exc, (ConnectionError, TimeoutError)):
                    raise self._error(exc, f"hosting {path.name}") from None
                raise JobError(
                    f"cannot read {path} to host it: {exc.strerror or exc}",
                    hint="check that the file still exists and that floradrop may read it",
                ) from exc
            except Exception as exc:
                if type(exc).__module__.startswith(("minio", "urllib3")):
                    raise self._error(exc, f"hosting {path.name}") from None
                raise
            self.ledger.used(self.settings.bucket, key, size)
        self.maybe_cleanup()
        return key

    def _error(self, exc: BaseException, doing: str) -> StorageError:
        return StorageError(
            f"{doing} in bucket {self.settings.bucket!r} at {self.settings.endpoint} failed "
            f"({_describe(exc)})",
            hint=_hint_for(exc, self.settings),
        )

    def _present(self, key: str, size: int, digest: str) -> bool:
        minio = _minio_module()
        try:
            stat = self._client.stat_object(self.settings.bucket, key)
        except minio.error.S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return False
            raise
        metadata = {str(k).lower(): str(v) for k, v in (stat.metadata or {}).items()}
        return stat.size == size and metadata.get("x-amz-meta-sha256") == digest

    def _single(
        self, path: Path, key: str, size: int, digest: str, content_type: str, *, fd: int | None
    ) -> None:
        with _open(path, fd) as handle:
            self._client.put_object(
                self.settings.bucket,
                key,
                handle,
                length=size,
                content_type=content_type,
                metadata={"sha256": digest},
                part_size=max(PART_SIZE, MULTIPART_THRESHOLD),
            )
        logger.info("hosted {} ({:,} bytes) as {}", path.name, size, key)

    def _multipart(
        self,
        path: Path,
        key: str,
        size: int,
        *,
        digest: str,
        content_type: str,
        on_progress: Progress | None,
        should_stop: Callable[[], bool],
        fd: int | None,
    ) -> None:
        minio = _minio_module()
        bucket = self.settings.bucket
        upload_id = self.ledger.upload_id(bucket, key)
        done: dict[int, Any] = {}
        if upload_id is not None:
            try:
                done = self._parts(key, upload_id)
                logger.info(
                    "resuming the upload of {} to {}: {} part(s) already in the bucket",
                    path.name,
                    key,
                    len(done),
                )
            except minio.error.S3Error as exc:
                if exc.code != "NoSuchUpload":
                    raise
                upload_id = None  # aborted or expired meanwhile: start over
        if upload_id is None:
            upload_id = self._client._create_multipart_upload(
                bucket, key, {"Content-Type": content_type, "x-amz-meta-sha256": digest}
            )
            self.ledger.start_upload(bucket, key, upload_id)
            logger.info("hosting {} ({:,} bytes) as {} in parts", path.name, size, key)
        count = (size + PART_SIZE - 1) // PART_SIZE
        parts = []
        with _open(path, fd) as handle:
            for number in range(1, count + 1):
                length = min(PART_SIZE, size - (number - 1) * PART_SIZE)
                known = done.get(number)
                if known is not None and known.size == length:
                    parts.append(minio.datatypes.Part(number, known.etag))
                else:
                    if should_stop():
                        raise _stopped(path)
                    handle.seek((number - 1) * PART_SIZE)
                    data = handle.read(length)
                    if len(data) != length:
                        raise JobError(
                            f"{path.name} got shorter while it was being hosted",
                            hint="drop the file again once it is completely written",
                        )
                    etag = self._client._upload_part(bucket, key, data, None, upload_id, number)
                    parts.append(minio.datatypes.Part(number, etag))
                if on_progress is not None:
                    on_progress(min(number * PART_SIZE, size), size)
        self._client._complete_multipart_upload(bucket, key, upload_id, parts)
        self.ledger.end_upload(bucket, key)
        logger.info("hosted {} ({:,} bytes) as {}", path.name, size, key)

    def _parts(self, key: str, upload_id: str) -> dict[int, Any]:
        found: dict[int, Any] = {}
        marker: str | None = None
        while True:
            result = self._client._list_parts(
                self.settings.bucket, key, upload_id, part_number_marker=marker
            )
            for part in result.parts:
                found[int(part.part_number)] = part
            if not result.is_truncated or not result.next_part_number_marker:
                return found
            marker = str(result.next_part_number_marker)

    # -- housekeeping and checks ------------------------------------------------------------

    def maybe_cleanup(self) -> None:
        """At most every few hours: abort multipart uploads left unfinished for
        :data:`STALE_UPLOAD_DAYS` (their file went away before they could resume; the bucket
        would keep and bill their parts), and delete objects unused for ``cleanup_days``."""
        now = time.monotonic()
        if now < self._next_cleanup:
            return
        self._next_cleanup = now + CLEANUP_EVERY_SECONDS
        bucket = self.settings.bucket
        try:
            stale = time.time() - STALE_UPLOAD_DAYS * 86400
            for key, upload_id in self.ledger.uploads_started_before(bucket, stale):
                with contextlib.suppress(Exception):  # already gone: nothing to abort
                    self._client._abort_multipart_upload(bucket, key, upload_id)
                self.ledger.end_upload(bucket, key)
                logger.info("aborted the unfinished upload of {}", key)
        except Exception as exc:
            logger.warning("could not abort unfinished uploads: {}", _describe(exc))
        days = self.settings.cleanup_days
        if days is None:
            return
        try:
            for key in self.ledger.unused_since(bucket, time.time() - days * 86400):
                self._client.remove_object(bucket, key)
                self.ledger.forget(bucket, key)
                logger.info("removed hosted object {} (unused for {:g} days)", key, days)
        except Exception as exc:
            logger.warning("clean-up of the hosting bucket failed: {}", _describe(exc))

    def check(self, fetch: Callable[[str], bytes]) -> None:
        """Reachable, writable, and a presigned link fetchable (with ``fetch``, which GETs a
        URL and returns its body): raises StorageError naming what failed."""
        bucket = self.settings.bucket
        probe = f"{self.settings.key_prefix}.floradrop-check-{secrets.token_hex(6)}"
        payload = b"floradrop check " + secrets.token_bytes(8).hex().encode()
        try:
            if not self._client.bucket_exists(bucket):
                raise StorageError(
                    f"the bucket {bucket!r} does not exist at {self.settings.endpoint}",
                    hint=f"create it, or fix [hosting] bucket (now {bucket!r})",
                )
        except StorageError:
            raise
        except Exception as exc:
            raise self._error(exc, "reaching the bucket") from None
        try:
            import io

            self._client.put_object(bucket, probe, io.BytesIO(payload), length=len(payload))
        except Exception as exc:
            raise self._error(exc, "writing a test object") from None
        try:
            url = self.sign(self.link(probe))
            try:
                body = fetch(url)
            except Exception as exc:
                raise StorageError(
                    f"a presigned link to the bucket could not be fetched ({_describe(exc)})",
                    hint="check that the endpoint is reachable from the internet over https "
                    "(FLORA fetches the links), and the region",
                ) from None
            if body != payload:
                raise StorageError(
                    "a presigned link to the bucket did not return the test object",
                    hint="check [hosting] region and endpoint",
                )
        finally:
            try:
                self._client.remove_object(bucket, probe)
            except Exception as exc:
                logger.warning("could not remove the test object {}: {}", probe, _describe(exc))


def _strip(url: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in query if k not in _SECRET_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(kept, quote_via=quote, safe="")))


def _stopped(path: Path) -> Exception:
    return Interrupted(f"stopping: the hosting of {path.name} resumes at the next start")


def _open(path: Path, fd: int | None) -> BinaryIO:
    """``path`` for reading, or (with ``fd``) a copy of that descriptor from its first byte."""
    if fd is None:
        return path.open("rb")
    handle = open(os.dup(fd), "rb")  # noqa: PTH123, SIM115 - the caller closes it
    handle.seek(0)
    return handle
