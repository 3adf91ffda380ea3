"""Checks shared by endpoints: path ids, ``limit``, workspace access, idempotency keys."""

from __future__ import annotations

import re
from typing import Any

from flora_emulator.context import Context
from flora_emulator.state import BadCursorError, page, page_newest_first
from flora_emulator.validation import check_id
from flora_emulator.wire import ApiError, Request, validation_error

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_PATH_PATTERNS = {
    "runId": re.compile(r"^run_\S+$"),
    "assetId": re.compile(r"^asset_\S+$"),
    "techniqueId": re.compile(r"^\S+$"),
}


def path_param(req: Request, name: str) -> str:
    value = req.params[name]
    if not _PATH_PATTERNS[name].match(value):
        raise validation_error(
            [(name, f"Invalid {name}: must match {_PATH_PATTERNS[name].pattern}")]
        )
    return value


def limit(req: Request) -> int:
    raw = req.arg("limit")
    if raw is None:
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise validation_error([("limit", "Expected number, received string")]) from None
    if not 1 <= value <= MAX_LIMIT:
        raise validation_error([("limit", f"Number must be between 1 and {MAX_LIMIT}")])
    return value


def paged(req: Request, items: list[Any]) -> tuple[list[Any], str | None]:
    try:
        return page(items, req.arg("cursor"), limit(req))
    except BadCursorError:
        raise validation_error([("cursor", "Invalid cursor")]) from None


def paged_newest_first(req: Request, items: list[tuple[int, Any]]) -> tuple[list[Any], str | None]:
    try:
        return page_newest_first(items, req.arg("cursor"), limit(req))
    except BadCursorError:
        raise validation_error([("cursor", "Invalid cursor")]) from None


def workspace(ctx: Context, workspace_id: str | None, *, required: bool = False) -> None:
    """A ``workspace_id`` parameter: well-formed, and the key's own workspace."""
    if workspace_id is None:
        if required:
            raise validation_error([("workspace_id", "Required")])
        return
    problems = check_id("workspace_id", workspace_id)
    if problems:
        raise validation_error(problems)
    if workspace_id != ctx.workspace_id:
        raise ApiError(403, "forbidden", f"This API key has no access to workspace {workspace_id}.")


def project(ctx: Context, project_id: str | None) -> None:
    if project_id is None:
        return
    problems = check_id("project_id", project_id)
    if problems:
        raise validation_error(problems)
    if project_id != ctx.project_id:
        raise ApiError(404, "not_found", f"Project {project_id} not found.")


def idempotency_keys(req: Request, body_key: Any = None) -> list[str]:
    """The ``Idempotency-Key`` header and, where the spec allows it, the body field."""
    keys = []
    header = req.header("idempotency-key")
    if header:
        keys.append(header.strip())
    if isinstance(body_key, str) and body_key and body_key not in keys:
        keys.append(body_key)
    return keys


def duplicate() -> ApiError:
    return ApiError(409, "idempotency_duplicate", "Duplicate idempotency key.")
