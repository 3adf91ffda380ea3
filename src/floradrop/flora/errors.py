"""What can go wrong when talking to FLORA, as floradrop error types.

The client converts every HTTP failure, network failure and unusable answer into one of these
in one place (:mod:`floradrop.flora.client`), so the rest of floradrop never sees httpx. Each
class also derives from the error kind that tells the daemon what to do (see
:mod:`floradrop.errors`): :class:`~floradrop.errors.FatalError` stops work,
:class:`~floradrop.errors.TransientError` keeps the job queued, and
:class:`~floradrop.errors.JobError` fails this one file.

Messages never contain the API key: the client redacts every text that came from elsewhere
(see :func:`redact`) before it builds an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from floradrop.errors import ExitCode, FatalError, FloradropError, JobError, TransientError

REDACTED = "[redacted]"
_KEY_PATTERN = re.compile(r"\b(?:sk|whsec)_[A-Za-z0-9_\-]{4,}")
_BEARER_PATTERN = re.compile(r"(?i)\bbearer\s+\S+")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every secret, anything shaped like a FLORA key and any bearer token removed."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    text = _BEARER_PATTERN.sub(f"Bearer {REDACTED}", text)
    return _KEY_PATTERN.sub(REDACTED, text)


@dataclass(frozen=True)
class FieldError:
    """One rejected field of a ``400 input_validation_error``."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class FloraError(FloradropError):
    """An error from (or on the way to) the FLORA API.

    ``status_code`` is the HTTP status when there was a response, ``code`` the FLORA error
    code from the ``{error: {code, message}}`` envelope when there was one, and ``request_id``
    the ``request-id`` response header (FLORA support asks for it).
    """

    title = "FLORA API error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        title: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, title=title)
        self.status_code = status_code
        self.code = code
        self.request_id = request_id

    def describe(self) -> str:
        text = super().describe()
        if self.request_id:
            text += f"\n(FLORA request id: {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r}, "
            f"code={self.code!r}, request_id={self.request_id!r})"
        )


class AuthenticationError(FloraError, FatalError):
    """401, or no API key configured at all."""

    title = "FLORA API key missing or rejected"
    exit_code = ExitCode.AUTH


class PermissionDeniedError(FloraError, FatalError):
    """403: the key is valid but may not do this."""

    title = "FLORA refused access"
    exit_code = ExitCode.AUTH


class InsufficientCreditsError(FloraError, FatalError):
    """402: the workspace balance is too low to pay for the run."""

    title = "Not enough FLORA credits"
    exit_code = ExitCode.AUTH
    credits = True


class ValidationError(FloraError, JobError):
    """400 (``input_validation_error``, ``invalid_json``) and other rejected requests."""

    title = "FLORA rejected the request"

    def __init__(
        self,
        message: str,
        *,
        fields: tuple[FieldError, ...] = (),
        hint: str | None = None,
        title: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            hint=hint,
            title=title,
            status_code=status_code,
            code=code,
            request_id=request_id,
        )
        self.fields = fields

    def report(self) -> tuple[str, str, str | None, str | None]:
        fields = "; ".join(f"{f.field}: {f.message}" for f in self.fields)
        return (
            f"FLORA rejected the run's inputs ({fields or self.message})",
            "check the folder's input bindings against 'floradrop techniques show'",
            self.code,
            self.message,
        )


class NotFoundError(FloraError, JobError):
    """404: unknown id or slug, or one that belongs to another workspace."""

    title = "Not found on FLORA"


class ConflictError(FloraError):
    """409 other than ``idempotency_duplicate``: e.g. an asset in the wrong lifecycle state."""

    title = "FLORA reported a conflict"


class IdempotencyDuplicateError(FloraError):
    """409 ``idempotency_duplicate``: this request was already made. Never retried."""

    title = "Already submitted to FLORA"


class IdempotencyConflictError(FloraError, JobError):
    """422 ``idempotency_conflict``: the key was used before with a different body."""

    title = "FLORA idempotency conflict"


class RateLimitedError(FloraError, TransientError):
    """429 after every retry; ``retry_after`` is the server's requested wait in seconds."""

    title = "FLORA rate limit reached"

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        hint: str | None = None,
        title: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            hint=hint,
            title=title,
            status_code=status_code,
            code=code,
            request_id=request_id,
        )
        self.retry_after = retry_after


class ServerError(FloraError, TransientError):
    """5xx after every retry, or an answer floradrop cannot use."""

    title = "FLORA server problem"


class NetworkError(FloraError, TransientError):
    """Could not connect, or the connection broke or timed out.

    ``maybe_sent`` is True when the request may have reached the server (the failure came
    after the request started going out), so a create may have happened.
    """

    title = "Cannot reach FLORA"
    offline = True

    def __init__(
        self,
        message: str,
        *,
        maybe_sent: bool,
        hint: str | None = None,
        title: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(
            message,
            hint=hint,
            title=title,
            status_code=status_code,
            code=code,
            request_id=request_id,
        )
        self.maybe_sent = maybe_sent


class UploadError(FloraError, TransientError):
    """The upload target rejected the bytes, the asset failed, or it did not become ready."""

    title = "Upload to FLORA failed"


class AssetFailedError(FloraError, JobError):
    """FLORA processed the uploaded bytes and refused them (the asset is ``failed``): the same
    bytes would fail again, so the file fails instead of being uploaded over and over."""

    title = "FLORA refused the file"


class DownloadError(FloraError, JobError):
    """An output cannot be downloaded: too large, a refused URL, or gone."""

    title = "Cannot download the output"


__all__ = [
    "AssetFailedError",
    "AuthenticationError",
    "ConflictError",
    "DownloadError",
    "FieldError",
    "FloraError",
    "IdempotencyConflictError",
    "IdempotencyDuplicateError",
    "InsufficientCreditsError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "UploadError",
    "ValidationError",
    "redact",
]
