"""Turn a pydantic ``ValidationError`` into :class:`Problem` lines a person can act on.

Each line names where the value came from (the file or an environment variable), the key path
(``folders[1].inputs.prompt``), the problem, the bad value (secrets hidden) and the fix: a
"did you mean" for typos of known keys, the allowed range for numbers, the accepted forms for
everything else.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from floradrop.config.problems import ERROR_TYPE, UNSET, Problem
from floradrop.config.settings import ENV_NESTED_DELIMITER, ENV_PREFIX, SDK_BASE_URL_VAR, Config

Loc = tuple[str | int, ...]

_SECRET_VALUE: Final = re.compile(r"\b(sk|whsec)_\w+")
_SECRET_KEYS: Final = frozenset({"api_key", "key", "token", "secret", "password", "webhook_secret"})
_MAX_VALUE: Final = 80

_EXAMPLES: Final[Mapping[str, str]] = {
    "path": 'path = "~/FLORA/CCTV Cam/inbox"',
    "technique": 'technique = "cctv-cam"',
}


_DERIVED_FROM_PATH: Final = frozenset(
    {"name", "outputs", "done", "failed", "review_folder", "approved", "rejected"}
)


def problems_from(error: ValidationError, *, file: Path | None) -> list[Problem]:
    problems: list[Problem] = []
    errors = error.errors(include_url=False)
    bad_paths = {tuple(e["loc"][:-1]) for e in errors if e["loc"][-1:] == ("path",)}
    for err in errors:
        loc: Loc = tuple(err["loc"])
        if (
            err["type"] == "missing"
            and loc[-1:]
            and loc[-1] in _DERIVED_FROM_PATH
            and loc[:-1] in bad_paths
        ):
            continue  # filled in from `path`, which has its own problem
        if err["type"] == ERROR_TYPE:
            for item in (err.get("ctx") or {}).get("problems", ()):
                where = loc + tuple(item["at"])
                value = None if item["value"] is UNSET else show(item["value"], where)
                problems.append(
                    Problem(
                        _source(where, file), key_path(where), item["message"], value, item["fix"]
                    )
                )
        else:
            problems.append(_generic(err, loc, file))
    return problems


def key_path(loc: Loc) -> str:
    """``("folders", 1, "inputs", "prompt")`` -> ``folders[1].inputs.prompt``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def show(value: Any, loc: Loc = ()) -> str:
    """A short TOML-like rendering of a bad value, with secrets hidden."""
    if loc and isinstance(loc[-1], str) and loc[-1] in _SECRET_KEYS:
        return "(hidden)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = json.dumps(value, ensure_ascii=False, default=str)
    text = _SECRET_VALUE.sub(lambda m: f"{m.group(1)}_(hidden)", text)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _source(loc: Loc, file: Path | None) -> str:
    """The environment variable that set this key, if one did; else the file."""
    var = env_var_for(loc)
    if var is not None:
        return f"environment variable {var}"
    return str(file) if file is not None else "configuration"


def env_var_for(loc: Loc) -> str | None:
    """The environment variable that set the value at ``loc``, if one did."""
    names = [str(part).upper() for part in loc]
    env = {name.upper() for name in os.environ}
    for end in range(len(names), 0, -1):
        var = ENV_PREFIX + ENV_NESTED_DELIMITER.join(names[:end])
        if var in env:
            return var
    if loc[:2] == ("flora", "base_url") and os.environ.get(SDK_BASE_URL_VAR, "").strip():
        return SDK_BASE_URL_VAR
    return None


def _generic(err: ErrorDetails, loc: Loc, file: Path | None) -> Problem:
    kind = err["type"]
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    name = str(loc[-1]) if loc else ""
    field = _field_at(loc)
    value: str | None = show(err["input"], loc)
    fix: str | None = None
    if kind == "missing":
        message, value = "is required but missing", None
        fix = f"add {_EXAMPLES[name]}" if name in _EXAMPLES else f"add {name} = ..."
    elif kind == "extra_forbidden":
        message = "is not a known key"
        fix = _unknown_key_fix(loc)
        if name == "api_key":
            value = "(hidden)"
    elif kind in ("int_parsing", "int_type", "int_from_float"):
        message = "must be a whole number"
        fix = f"write it without quotes, e.g. {name} = {_example_number(field, whole=True)}"
    elif kind in ("float_parsing", "float_type", "finite_number"):
        message = "must be a number"
        fix = f"write it without quotes, e.g. {name} = {_example_number(field, whole=False)}"
    elif kind in ("bool_parsing", "bool_type"):
        message = "must be true or false"
        fix = f"write {name} = true or {name} = false, without quotes"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        message = "is out of range"
        fix = f"use a value {_range(field) or _ctx_range(ctx)}"
    elif kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        message = f"must be {expected}"
        choices = re.findall(r"'([^']*)'", expected)
        close = difflib.get_close_matches(str(err["input"]).lower(), choices, n=1)
        fix = f"did you mean '{close[0]}'?" if close else f"use {expected}"
    elif kind == "string_pattern_mismatch" and name == "workspace_id":
        message = "is not a workspace id"
        fix = "workspace ids start with ws_; `floradrop init` or `floradrop check` lists yours"
    elif kind in ("string_type", "path_type"):
        message = "must be text in quotes"
        fix = f'write {name} = "..."'
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        message = "must be a table"
        fix = _table_fix(loc)
    elif kind in ("tuple_type", "list_type"):
        message = "must be a list"
        fix = (
            "write each folder as its own [[folders]] table"
            if name == "folders"
            else ('write it as a list, e.g. ["*.png", "*.jpg"]')
        )
    else:
        message = err["msg"][:1].lower() + err["msg"][1:]
    var = env_var_for(loc)
    if var is not None and kind.split("_")[0] in ("int", "float", "bool"):
        fix = f"set it like {var}={_example_number(field, whole=kind.startswith('int'))}"
        if kind.startswith("bool"):
            fix = f"set {var} to true or false"
    return Problem(_source(loc, file), key_path(loc), message, value, fix)


def _unknown_key_fix(loc: Loc) -> str:
    name = str(loc[-1])
    if name == "api_key":
        return (
            "the API key never goes in this file: set FLORA_API_KEY, or run `floradrop init` to "
            "keep it in your system's keyring, or point flora.api_key_file at a file holding it"
        )
    known = _known_keys(loc[:-1])
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    return f"remove it; the keys allowed here are {', '.join(known)}" if known else "remove it"


def _table_fix(loc: Loc) -> str:
    name = str(loc[-1]) if loc else ""
    if name in ("flora", "daemon"):
        return f"write it as a [{name}] table with its keys below it"
    return "write it as a table, e.g. { key = value }"


def _example_number(field: FieldInfo | None, *, whole: bool) -> str:
    default = None if field is None else field.default
    if isinstance(default, int | float) and not isinstance(default, bool):
        return str(int(default)) if whole else str(default)
    return "4" if whole else "2.5"


def _range(field: FieldInfo | None) -> str:
    if field is None:
        return ""
    low: Any = None
    high: Any = None
    low_strict = high_strict = False
    for item in field.metadata:
        if isinstance(item, Ge):
            low = item.ge
        elif isinstance(item, Gt):
            low, low_strict = item.gt, True
        elif isinstance(item, Le):
            high = item.le
        elif isinstance(item, Lt):
            high, high_strict = item.lt, True
    if low is not None and high is not None:
        if not (low_strict or high_strict):
            return f"from {low} to {high}"
        return f"above {low} and up to {high}" if low_strict else f"from {low} to below {high}"
    if low is not None:
        return f"above {low}" if low_strict else f"of at least {low}"
    if high is not None:
        return f"below {high}" if high_strict else f"of at most {high}"
    return ""


def _ctx_range(ctx: Mapping[str, Any]) -> str:
    for key, text in (
        ("ge", "of at least"),
        ("gt", "above"),
        ("le", "of at most"),
        ("lt", "below"),
    ):
        if key in ctx:
            return f"{text} {ctx[key]}"
    return "in the allowed range"


def _field_at(loc: Loc) -> FieldInfo | None:
    if not loc or not isinstance(loc[-1], str):
        return None
    model = _model_at(loc[:-1])
    return None if model is None else model.model_fields.get(loc[-1])


def _known_keys(loc: Loc) -> list[str]:
    model = _model_at(loc)
    return [] if model is None else list(model.model_fields)


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the table at ``loc`` (None: not a model's table)."""
    current: Any = Config
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            if not isinstance(part, str) or part not in current.model_fields:
                return None
            current = current.model_fields[part].annotation
        else:
            current = _item_type(current)
            if current is None:
                return None
    current = _unwrap_optional(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _item_type(annotation: Any) -> Any:
    """The element type of ``tuple[X, ...]`` or the value type of ``Mapping[str, X]``."""
    annotation = _unwrap_optional(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin is tuple and args:
        return args[0]
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping) and args:
        return args[-1]
    return None


def _unwrap_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation
