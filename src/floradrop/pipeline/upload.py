"""Upload: turn a job's input bindings into the run's inputs.

Media bindings become ready FLORA assets (the dropped file, a sidecar, or a fixed local file
uploaded once and reused while unchanged); text bindings become the text itself. Every uploaded
asset is recorded in the journal as soon as it is ready, so a restart never uploads it again.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from floradrop.config import Binding, FolderConfig, Rule
from floradrop.errors import Interrupted, JobError
from floradrop.files import sha256_file
from floradrop.flora.client import FloraClient
from floradrop.flora.models import TEXT, Asset, IOSpec, RunInput, Technique
from floradrop.jobs import JobState
from floradrop.journal import Job, Journal
from floradrop.pipeline import bind, decide, links, source
from floradrop.pipeline.precheck import check_upload
from floradrop.pipeline.source import check, opened, reader

if TYPE_CHECKING:
    from floradrop.hosting import Hosting
    from floradrop.hosting.store import Store

MAX_TEXT_BYTES = 256 * 1024
STILL_WRITING_SECONDS = 10.0  # a file this recently written that looks broken is looked at again


_fixed_locks: dict[str, threading.Lock] = {}
_fixed_locks_guard = threading.Lock()


def _fixed_lock(digest: str) -> threading.Lock:
    with _fixed_locks_guard:
        return _fixed_locks.setdefault(digest, threading.Lock())


SourceGone = source.SourceGone  # the upload stage's signal: the dropped file went or changed


class NotSettled(Exception):  # noqa: N818 - a signal for the engine
    """The dropped file looks broken, but it was written moments ago: try again shortly."""


class SidecarNotYet(Exception):  # noqa: N818
    """A required sidecar is not there (yet): it may still be arriving."""


@dataclass(frozen=True)
class UploadContext:
    client: FloraClient
    journal: Journal
    workspace_id: str
    hosting: Hosting | None = None  # for folders with transfer = "host"


class ProgressLog:
    """Logs a big upload's progress every quarter, so long work is visible in the log, and
    abandons the transfer when ``should_stop()`` says floradrop is stopping, or (uploads of the
    dropped file) when ``changed`` finds the file saved again meanwhile: that upload is for a
    version nobody will run."""

    MIN_BYTES = 64 * 1024 * 1024
    CHANGE_CHECK_SECONDS = 0.25

    def __init__(
        self,
        job_id: int,
        name: str,
        should_stop: Callable[[], bool],
        changed: Callable[[], None] | None = None,
    ) -> None:
        self.job_id = job_id
        self.name = name
        self.should_stop = should_stop
        self.changed = changed
        self._next = 25
        self._checked = time.monotonic()

    def __call__(self, sent: int, total: int | None) -> None:
        if self.should_stop():
            raise Interrupted(f"stopping: the transfer of {self.name} resumes at the next start")
        if (
            self.changed is not None
            and time.monotonic() - self._checked >= self.CHANGE_CHECK_SECONDS
        ):
            self._checked = time.monotonic()
            self.changed()  # raises SourceGone: the half-done upload is abandoned
        if not total or total < self.MIN_BYTES:
            return
        percent = sent * 100 // total
        if percent >= self._next and percent < 100:
            logger.bind(job=self.job_id).info(
                "uploading {}: {}% of {:,} MB", self.name, percent, total // 2**20
            )
            self._next = (percent // 25 + 1) * 25


def sidecar_path(source: Path, binding: Binding) -> Path:
    suffix = binding.value or ".txt"
    return source.with_name(source.stem + suffix)


def read_text_input(path: Path, what: str, fd: int | None = None) -> str:
    """The text in ``path`` (read from ``fd`` when given: the file checked at ``path``)."""
    try:
        if fd is None:
            data = path.read_bytes()
        else:
            with reader(fd) as handle:
                data = handle.read()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise JobError(
            f"cannot read {what} {path}: {exc.strerror}", hint="check its permissions"
        ) from exc
    if len(data) > MAX_TEXT_BYTES:
        raise JobError(
            f"{what} {path.name} is {len(data):,} bytes; text inputs are limited to "
            f"{MAX_TEXT_BYTES // 1024} KB.",
            hint="shorten the text",
        )
    try:
        text = data.decode("utf-8-sig").strip()
    except UnicodeDecodeError as exc:
        raise JobError(
            f"{what} {path.name} is not UTF-8 text.", hint="save it as UTF-8 and drop it again"
        ) from exc
    if not text:
        raise JobError(
            f"{what} {path.name} is empty.", hint="write the text into it and drop it again"
        )
    return text


def build_inputs(
    job: Job,
    folder: FolderConfig,
    rule: Rule,
    technique: Technique,
    ctx: UploadContext,
    *,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[list[RunInput], Job]:
    """The run inputs for ``job`` (uploading what needs uploading); returns the updated job."""
    source = Path(job.source_path)
    link = None  # unless a link in a `links = true` folder
    if links.may_be_link(source, folder):
        with opened(job) as fd:
            link = links.dropped_link(source, folder, fd=fd)
    dropped = link.media_type(technique) if link else decide.media_type(source)
    written = any(rule is r for r in folder.rules)  # else the folder's own technique
    where = None if written else f"folder {folder.name!r}"
    plan = bind.plan_inputs(technique, rule, dropped, where=where)  # as the dry run
    store = _store(folder, ctx)
    for bound in plan.inputs:  # a sidecar that is a link fails the job before any upload
        if bound.binding.kind == "sidecar":
            _not_a_link(sidecar_path(source, bound.binding), source)
    inputs: list[RunInput] = []
    for bound in plan.inputs:
        spec, binding = bound.input, bound.binding
        if spec.type == TEXT:
            value = _text_value(job, source, binding, spec.optional)
            if value is not None:
                inputs.append(RunInput(spec.id, TEXT, value))
            continue
        if link is not None and binding.kind == "file":
            inputs.append(RunInput(spec.id, spec.type, link.url))  # FLORA fetches it
            continue
        recorded = job.assets.get(spec.id)
        if recorded and store is not None and recorded.get("hosted"):
            url = store.link(recorded["hosted"])  # dated now: the run is created next
            inputs.append(RunInput(spec.id, spec.type, url))
            continue
        if recorded:
            if binding.kind not in ("path", "sidecar"):
                check(job)  # uploaded ahead: still the file that was uploaded?
            inputs.append(RunInput(spec.id, spec.type, recorded["url"]))
            continue
        if binding.kind == "path" and store is not None:
            url = store.link(_host_fixed(Path(binding.value or ""), spec, store, job))
        elif binding.kind == "path":
            url = _fixed_asset(Path(binding.value or ""), ctx, job)
        else:
            if binding.kind == "sidecar":
                path = _not_a_link(sidecar_path(source, binding), source)
                if not path.exists():
                    if spec.optional:
                        continue
                    raise SidecarNotYet(f"{path.name} (needed for {spec.name}) is not there")
            else:
                path = source  # opened and checked by the upload: its bytes are sent
            assets = dict(job.assets)
            if store is not None:
                key = _host_media(job, path, spec, store, should_stop=should_stop)
                url = store.link(key)
                assets[spec.id] = {"hosted": key, "url": url}
            else:
                asset = _upload_media(job, path, spec, ctx, should_stop=should_stop)
                url = asset.url or ""
                assets[spec.id] = {"asset_id": asset.asset_id, "url": url}
            job = ctx.journal.transition(job.id, JobState.UPLOADING, assets=assets)
        inputs.append(RunInput(spec.id, spec.type, url))
    # The last look before the run is created: a file saved again while its inputs were
    # prepared is superseded here, and only its final version runs.
    check(job)
    return inputs, job


@contextlib.contextmanager
def _sidecar_opened(path: Path, owner: Path) -> Iterator[int]:
    """A sidecar opened for reading, never through a link (it is read from this descriptor)."""
    try:
        fd = source.open_file(path)
    except source.NotAFile:
        raise _not_a_file(path, owner) from None
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise source.unreadable(path, exc) from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _input_opened(job: Job, path: Path, *, dropped: bool) -> Iterator[int]:
    """The dropped file (checked against the journal) or one of its sidecars, opened without
    following a link: the descriptor its bytes are read from."""
    with opened(job) if dropped else _sidecar_opened(path, Path(job.source_path)) as fd:
        yield fd


def _upload_media(
    job: Job, path: Path, spec: IOSpec, ctx: UploadContext, *, should_stop: Callable[[], bool]
) -> Asset:
    """Check and upload the dropped file or a sidecar, from the descriptor that was checked;
    a ready asset."""
    dropped = path == Path(job.source_path)
    with _input_opened(job, path, dropped=dropped) as fd:
        return _send(job, path, spec, ctx, should_stop=should_stop, fd=fd, dropped=dropped)


def _send(
    job: Job,
    path: Path,
    spec: IOSpec,
    ctx: UploadContext,
    *,
    should_stop: Callable[[], bool],
    fd: int,
    dropped: bool,
) -> Asset:
    """Upload the bytes of ``fd`` (``path``'s file); the dropped file is checked before and
    after (and during a long upload) against the journal."""
    size = job.size if dropped else os.fstat(fd).st_size
    try:
        content_type = check_upload(path, spec.type, size, fd=fd)
        key = f"fd-asset-{job.job_key[:24]}-{spec.id}-{uuid.uuid4().hex[:8]}"
        logger.bind(job=job.id).info("uploading {} ({:,} bytes) for {}", path.name, size, spec.id)
        asset = ctx.client.upload_file(
            path,
            workspace_id=ctx.workspace_id,
            idempotency_key=key,
            content_type=content_type,
            fd=fd,
            on_progress=ProgressLog(
                job.id,
                path.name,
                should_stop,
                changed=functools.partial(check, job, fd) if dropped else None,
            ),
        )
    except Exception as exc:
        if dropped:
            check(job, fd)  # changed meanwhile: SourceGone, whatever the upload said
            if isinstance(exc, JobError):
                _maybe_still_written(job, fd)
        raise
    if dropped:
        check(job, fd)
    return asset


def _store(folder: FolderConfig, ctx: UploadContext) -> Store | None:
    if folder.transfer != "host":
        return None
    if ctx.hosting is None:
        raise JobError(
            f'{folder.name} has transfer = "host", but hosting is not available here',
            hint="run it with 'floradrop run'",
        )
    return ctx.hosting.store()


def _host_media(
    job: Job, path: Path, spec: IOSpec, store: Store, *, should_stop: Callable[[], bool]
) -> str:
    """Check the dropped file or a sidecar and put it in the bucket, from the descriptor that
    was checked; its object key."""
    dropped = path == Path(job.source_path)
    with _input_opened(job, path, dropped=dropped) as fd:
        return _host(job, path, spec, store, should_stop=should_stop, fd=fd, dropped=dropped)


def _host(
    job: Job,
    path: Path,
    spec: IOSpec,
    store: Store,
    *,
    should_stop: Callable[[], bool],
    fd: int,
    dropped: bool,
) -> str:
    size = job.size if dropped else os.fstat(fd).st_size
    try:
        content_type = check_upload(path, spec.type, size, fd=fd)
        digest = job.content_hash if dropped else source.sha256_fd(fd)
        key = store.ensure(
            path,
            digest,
            content_type=content_type or _guess_type(path),
            on_progress=ProgressLog(job.id, path.name, should_stop),
            should_stop=should_stop,
            fd=fd,
        )
    except Exception as exc:
        if dropped:
            check(job, fd)
            if isinstance(exc, JobError):
                _maybe_still_written(job, fd)
        raise
    if dropped:
        check(job, fd)  # hosted bytes are those hashed at admission (else: a new job)
    return key


def _host_fixed(path: Path, spec: IOSpec, store: Store, job: Job) -> str:
    """A fixed local file bound to an input, hosted (content-addressed: once per content)."""
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise JobError(
            f"cannot read the fixed input file {path}: {exc.strerror}",
            hint="check the `path:` binding in the config",
        ) from exc
    content_type = check_upload(path, spec.type, path.stat().st_size)
    return store.ensure(path, digest, content_type=content_type or _guess_type(path))


def _guess_type(path: Path) -> str:
    import mimetypes

    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _maybe_still_written(job: Job, fd: int) -> None:
    """A file found bad so soon after its last write may be one still being written (by a
    writer that paused for longer than the settle time): rather than fail it, and move a file
    its writer still holds, look again later."""
    check(job, fd)  # changed meanwhile: SourceGone (the new version is a new job)
    if time.time() - job.mtime_ns / 1e9 < STILL_WRITING_SECONDS:
        raise NotSettled(f"{job.name} may still be being written; looking at it again shortly")


def _text_value(job: Job, source: Path, binding: Binding, optional: bool) -> str | None:
    if binding.kind == "literal":
        return binding.value or ""
    if binding.kind == "path":
        return read_text_input(Path(binding.value or ""), "the text file")
    if binding.kind == "sidecar":
        path = _not_a_link(sidecar_path(source, binding), source)
        try:
            with _sidecar_opened(path, source) as fd:
                return read_text_input(path, "the sidecar", fd)
        except FileNotFoundError:
            if optional:
                return None
            raise SidecarNotYet(f"{path.name} is not there") from None
    # "file" or "text": the dropped file's own text, read from the descriptor checked
    with opened(job) as fd:
        return read_text_input(source, "the dropped file", fd)


def _not_a_link(path: Path, owner: Path) -> Path:
    """A sidecar is read only if it is a file of its own: a link could point anywhere (the
    read itself never follows one either: :func:`_sidecar_opened`)."""
    if path.is_symlink():
        raise _not_a_file(path, owner)
    return path


def _not_a_file(path: Path, owner: Path) -> JobError:
    what = (
        "is a symbolic link; floradrop never follows links, so it is not"
        if path.is_symlink()
        else "is not a regular file (a fifo, a folder or a device), so it is not"
    )
    return JobError(
        f"{path.name} {what} read as the sidecar of {owner.name}.",
        hint=f"put the file itself (not a link) next to {owner.name}, then 'floradrop retry' it",
    )


def _fixed_asset(path: Path, ctx: UploadContext, job: Job) -> str:
    """A fixed local file bound to an input: uploaded once, reused while its bytes match."""
    try:
        digest = sha256_file(path)
    except OSError as exc:
        raise JobError(
            f"cannot read the fixed input file {path}: {exc.strerror}",
            hint="check the `path:` binding in the config",
        ) from exc
    with _fixed_lock(digest):  # two jobs needing the same new file upload it once
        known = ctx.journal.fixed_asset(str(path), digest, ctx.workspace_id)
        if known is not None:
            return str(known["url"])
        return _upload_fixed(path, digest, ctx, job)


def _upload_fixed(path: Path, digest: str, ctx: UploadContext, job: Job) -> str:
    key = f"fd-fixed-{digest[:24]}-{uuid.uuid4().hex[:8]}"
    logger.bind(job=job.id).info("uploading fixed input {}", path.name)
    asset = ctx.client.upload_file(path, workspace_id=ctx.workspace_id, idempotency_key=key)
    ctx.journal.remember_fixed_asset(
        str(path), digest, ctx.workspace_id, asset.asset_id, asset.url or ""
    )
    return asset.url or ""
