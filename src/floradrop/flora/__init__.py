"""Everything floradrop needs from the FLORA API: the client, its errors and its models.

floradrop talks to FLORA only through :class:`FloraClient`. It returns the models below
(never raw dicts) and raises the errors below (never httpx's).
"""

from floradrop.flora.client import FloraClient
from floradrop.flora.endpoint import DEFAULT_BASE_URL
from floradrop.flora.errors import (
    AuthenticationError,
    ConflictError,
    DownloadError,
    FieldError,
    FloraError,
    IdempotencyConflictError,
    IdempotencyDuplicateError,
    InsufficientCreditsError,
    NetworkError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    UploadError,
    ValidationError,
)
from floradrop.flora.http import RequestInfo
from floradrop.flora.models import (
    Asset,
    DownloadResult,
    IOSpec,
    Run,
    RunInput,
    RunOutput,
    Technique,
    UploadTarget,
    Workspace,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "Asset",
    "AuthenticationError",
    "ConflictError",
    "DownloadError",
    "DownloadResult",
    "FieldError",
    "FloraClient",
    "FloraError",
    "IOSpec",
    "IdempotencyConflictError",
    "IdempotencyDuplicateError",
    "InsufficientCreditsError",
    "NetworkError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestInfo",
    "Run",
    "RunInput",
    "RunOutput",
    "ServerError",
    "Technique",
    "UploadError",
    "UploadTarget",
    "ValidationError",
    "Workspace",
]
