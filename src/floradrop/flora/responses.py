"""Turning a FLORA error answer into the floradrop error a person can act on.

Status first, code second (the reference's rule): FLORA's code vocabulary is open, and a proxy
in between may answer with no JSON at all. Every text that came from the server is redacted
before it goes into a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from floradrop.flora.errors import (
    AuthenticationError,
    ConflictError,
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
    ValidationError,
    redact,
)
from floradrop.flora.http import request_id
from floradrop.flora.models import pick
from floradrop.flora.retry import server_wait


def api_error(response: httpx.Response, what: str, api_key: str | None) -> FloraError:
    """The error for a non-2xx API response (status first, code second)."""
    status = response.status_code
    code, message, fields = envelope(response)
    message = redact(message or response.reason_phrase or "no details", api_key)
    detail = f"HTTP {status}{' ' + code if code else ''}: {message}"
    common: dict[str, Any] = {
        "status_code": status,
        "code": code,
        "request_id": request_id(response),
    }
    if status == 401:
        return AuthenticationError(
            f"FLORA rejected the API key ({detail}).",
            hint="Check FLORA_API_KEY (the whole key, no spaces, no 'Bearer ' prefix) or run "
            "'floradrop init' to store a new one. A key works only for its own workspace.",
            **common,
        )
    if status == 402:
        return InsufficientCreditsError(
            f"The FLORA workspace does not have enough credits ({detail}).",
            hint="Add credits to the workspace in FLORA, then resume floradrop.",
            **common,
        )
    if status == 403:
        return PermissionDeniedError(
            f"The API key may not access {what} ({detail}).",
            hint="Check that the key's workspace can use this technique (role, plan, "
            "archived technique) or use a key from the right workspace.",
            **common,
        )
    if status == 404:
        return NotFoundError(
            f"FLORA does not know {what} ({detail}).",
            hint="Check the slug or id ('floradrop techniques list' shows what this key "
            "can use); it may belong to another workspace.",
            **common,
        )
    if status == 409 and code == "idempotency_duplicate":
        return IdempotencyDuplicateError(
            f"FLORA already received this request for {what} ({detail}).",
            hint="Nothing is submitted twice: look for the existing run with 'floradrop "
            "status', or use 'floradrop retry FILE' to run the file again on purpose.",
            **common,
        )
    if status == 409:
        return ConflictError(
            f"FLORA refused the change to {what} in its current state ({detail}).",
            hint="floradrop re-reads the current state and continues from there.",
            **common,
        )
    if status == 422 and code == "idempotency_conflict":
        return IdempotencyConflictError(
            f"FLORA saw this idempotency key before with a different request ({detail}).",
            hint="This is a floradrop bug; please report it. 'floradrop retry FILE' "
            "submits the file again with a new key.",
            **common,
        )
    if status == 429:
        wait = server_wait(response.headers)
        after = f" FLORA asks to wait {wait:.0f} s." if wait is not None else ""
        return RateLimitedError(
            f"FLORA is rate limiting requests ({detail}).{after}",
            hint="floradrop slows down and tries again by itself; fewer parallel folders "
            "or uploads help.",
            retry_after=wait,
            **common,
        )
    if status == 408:
        return NetworkError(
            f"FLORA timed out waiting for the request for {what} ({detail}).",
            hint="Check your connection; floradrop tries again by itself.",
            maybe_sent=False,
            **common,
        )
    if status >= 500:
        return ServerError(
            f"FLORA had a server problem with {what} ({detail}).",
            hint="This is usually temporary and floradrop tries again by itself. If it "
            "persists, check FLORA's status and quote the request id.",
            **common,
        )
    if status < 400:
        return ServerError(
            f"FLORA answered the request for {what} with an unexpected HTTP {status}.",
            hint="Check that the FLORA base URL points at the API (it ends in /api/v1).",
            **common,
        )
    listed = "; ".join(str(f) for f in fields)
    return ValidationError(
        f"FLORA rejected the request for {what} ({detail})"
        + (f". Rejected fields: {listed}." if listed else "."),
        hint="Check the technique's inputs ('floradrop techniques show SLUG') and the "
        "folder's settings in the config file.",
        fields=fields,
        **common,
    )


def envelope(response: httpx.Response) -> tuple[str | None, str | None, tuple[FieldError, ...]]:
    """``(code, message, fields)`` from ``{error: {code, message, fields}}``, if the body has it."""
    try:
        data = response.json()
    except ValueError:
        return None, None, ()
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return None, error, ()
    if not isinstance(error, dict):
        return None, None, ()
    code = pick(error, "code")
    message = pick(error, "message")
    fields = tuple(
        FieldError(field=str(pick(f, "field", "")), message=str(pick(f, "message", "")))
        for f in pick(error, "fields") or ()
        if isinstance(f, dict)
    )
    return (
        str(code) if code is not None else None,
        str(message) if message is not None else None,
        fields,
    )


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServerError(
            f"FLORA answered the request for {what} with something that is not a JSON "
            f"object (HTTP {response.status_code}, "
            f"{response.headers.get('content-type', 'no content type')}).",
            hint="Check that the FLORA base URL points at the API (it ends in /api/v1).",
            status_code=response.status_code,
            request_id=request_id(response),
        )
    return data


def items(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = pick(data, key)
    if not isinstance(items, list):
        raise ServerError(
            f"FLORA's answer has no {key!r} list.",
            hint="Check that the FLORA base URL points at the API (it ends in /api/v1).",
        )
    return [item for item in items if isinstance(item, Mapping)]
