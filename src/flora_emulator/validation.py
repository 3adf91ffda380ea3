"""Request-body checks that answer like FLORA does: a list of ``(field, message)`` problems.

FLORA validates bodies with zod, so the messages follow zod's wording (``Required``,
``Expected string, received number``, ``Unrecognized key``...). Fields are dotted paths such
as ``inputs.0.value``. An empty list means the body is acceptable.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from flora_emulator.catalog import IMAGE, TEXT, VIDEO, TechniqueDef

Problems = list[tuple[str, str]]

RUN_INPUT_TYPES = (TEXT, IMAGE, VIDEO)
RUN_MODES = ("async", "stream")
_ID_PATTERNS = {
    "workspace_id": re.compile(r"^ws_\S+$"),
    "project_id": re.compile(r"^prj_\S+$"),
    "technique_id": re.compile(r"^tech_\S+$"),
}


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _enum(values: tuple[str, ...], got: Any) -> str:
    expected = " | ".join(f"'{v}'" for v in values)
    return f"Invalid enum value. Expected {expected}, received '{got}'"


def check_object(
    body: Any,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    strings: tuple[str, ...] = (),
) -> Problems:
    """Top-level shape: an object, no unknown keys, required keys present, ``strings`` typed."""
    if not isinstance(body, dict):
        return [("", f"Expected object, received {json_type(body)}")]
    problems: Problems = [(k, "Unrecognized key") for k in body if k not in required + optional]
    problems += [(k, "Required") for k in required if k not in body]
    for key in strings:
        if key in body and not isinstance(body[key], str):
            problems.append((key, f"Expected string, received {json_type(body[key])}"))
    for key, pattern in _ID_PATTERNS.items():
        value = body.get(key)
        if key in strings and isinstance(value, str) and not pattern.match(value):
            problems.append((key, f"Invalid {key}: must match {pattern.pattern}"))
    return problems


def check_id(name: str, value: str | None) -> Problems:
    """A query or body id with the spec's prefix pattern (``ws_``, ``prj_``, ``tech_``)."""
    if value is None or _ID_PATTERNS[name].match(value):
        return []
    return [(name, f"Invalid {name}: must match {_ID_PATTERNS[name].pattern}")]


def is_http_url(value: str) -> bool:
    if not value or any(c.isspace() for c in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def check_callback_url(value: Any) -> Problems:
    if not isinstance(value, str):
        return [("callback_url", f"Expected string, received {json_type(value)}")]
    if not is_http_url(value) or urlsplit(value).scheme != "https":
        return [("callback_url", "Invalid url: callback_url must be an https URL")]
    host = (urlsplit(value).hostname or "").lower()
    private = host == "localhost" or host.endswith((".local", ".internal", ".localhost"))
    try:
        ip = ipaddress.ip_address(host)
        private = private or ip.is_private or ip.is_loopback or ip.is_link_local
    except ValueError:
        pass
    if private:
        return [("callback_url", "callback_url must not point to a private or loopback address")]
    return []


def check_technique_run_body(body: Any) -> Problems:
    """The body of ``POST /techniques/{slugOrId}/runs`` (shape only, not the technique)."""
    problems = check_object(
        body,
        required=("inputs", "mode"),
        optional=("callback_url", "idempotency_key"),
        strings=("mode", "idempotency_key"),
    )
    if not isinstance(body, dict):
        return problems
    inputs = body.get("inputs")
    if "inputs" in body:
        if not isinstance(inputs, list):
            problems.append(("inputs", f"Expected array, received {json_type(inputs)}"))
        elif not inputs:
            problems.append(("inputs", "Array must contain at least 1 element(s)"))
        else:
            for n, item in enumerate(inputs):
                problems += _check_input_item(f"inputs.{n}", item)
    mode = body.get("mode")
    if isinstance(mode, str) and mode not in RUN_MODES:
        problems.append(("mode", _enum(RUN_MODES, mode)))
    if "callback_url" in body:
        problems += check_callback_url(body["callback_url"])
    key = body.get("idempotency_key")
    if isinstance(key, str) and not 1 <= len(key) <= 255:
        problems.append(("idempotency_key", "String must contain between 1 and 255 character(s)"))
    return problems


def _check_input_item(prefix: str, item: Any) -> Problems:
    if not isinstance(item, dict):
        return [(prefix, f"Expected object, received {json_type(item)}")]
    problems: Problems = []
    for key in ("id", "type", "value"):
        if key not in item:
            problems.append((f"{prefix}.{key}", "Required"))
        elif not isinstance(item[key], str):
            problems.append(
                (f"{prefix}.{key}", f"Expected string, received {json_type(item[key])}")
            )
    kind = item.get("type")
    if isinstance(kind, str) and kind not in RUN_INPUT_TYPES:
        problems.append((f"{prefix}.type", _enum(RUN_INPUT_TYPES, kind)))
    return problems


def check_top_level_run_body(body: Any) -> Problems:
    """The body of ``POST /runs/technique``: ``inputs`` is a map of input id to value."""
    problems = check_object(
        body,
        required=("technique_id", "workspace_id", "inputs"),
        strings=("technique_id", "workspace_id"),
    )
    if not isinstance(body, dict) or "inputs" not in body:
        return problems
    inputs = body["inputs"]
    if not isinstance(inputs, dict):
        problems.append(("inputs", f"Expected object, received {json_type(inputs)}"))
        return problems
    for key, value in inputs.items():
        if not isinstance(value, str):
            problems.append((f"inputs.{key}", f"Expected string, received {json_type(value)}"))
    return problems


def check_inputs_against(
    technique: TechniqueDef,
    items: Sequence[tuple[str, str, str | None, str]],
    *,
    missing_field: str | None = None,
) -> Problems:
    """Match run inputs to the technique's schema.

    ``items`` are ``(field_prefix, id, type_or_None, value)``: the array form gives a type,
    the map form (``/runs/technique``) does not. ``missing_field`` names the field reported
    for a missing required input (``inputs`` for the array form; the map form reports
    ``inputs.<id>``).
    """
    problems: Problems = []
    seen: set[str] = set()
    known = ", ".join(i.id for i in technique.inputs)
    for prefix, input_id, kind, value in items:
        spec = technique.input(input_id)
        id_field = f"{prefix}.id" if kind is not None else prefix
        if spec is None:
            problems.append(
                (
                    id_field,
                    f"Unknown input '{input_id}' for {technique.slug}; expected one of: {known}",
                )
            )
            continue
        if input_id in seen:
            problems.append((id_field, f"Duplicate input '{input_id}'"))
            continue
        seen.add(input_id)
        value_field = f"{prefix}.value" if kind is not None else prefix
        if kind is not None and kind != spec.type:
            problems.append(
                (f"{prefix}.type", f"Input '{input_id}' expects type {spec.type}, received {kind}")
            )
        elif value == "":
            problems.append((value_field, "String must contain at least 1 character(s)"))
        elif spec.type != TEXT and not is_http_url(value):
            problems.append((value_field, f"Input '{input_id}' must be a URL ({spec.type})"))
    for spec in technique.inputs:
        if spec.optional or spec.id in seen:
            continue
        if missing_field is None:
            problems.append((f"inputs.{spec.id}", "Required"))
        else:
            problems.append((missing_field, f"Missing required input '{spec.id}' ({spec.type})"))
    return problems


def check_asset_json(body: Any) -> Problems:
    """The JSON body of ``POST /assets`` (1.6.0 spec: no ``project_id``)."""
    return check_object(
        body,
        required=("source", "workspace_id"),
        optional=("folder", "content_type", "file_name"),
        strings=("source", "workspace_id", "folder", "content_type", "file_name"),
    )


def check_asset_form(fields: Mapping[str, str], has_file: bool) -> Problems:
    """The text fields of a direct multipart ``POST /assets`` (SDK shape: no ``source``)."""
    allowed = ("workspace_id", "content_type", "file_name", "folder", "project_id")
    problems: Problems = [(k, "Unrecognized key") for k in fields if k not in allowed]
    if "workspace_id" not in fields:
        problems.append(("workspace_id", "Required"))
    problems += check_id("workspace_id", fields.get("workspace_id"))
    problems += check_id("project_id", fields.get("project_id"))
    if not has_file:
        problems.append(("file", "Required"))
    return problems
