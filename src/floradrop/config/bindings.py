"""How a technique input gets its value: a :class:`Binding`.

In TOML a binding is written in one of these forms (``inputs`` maps an input id to one)::

    input_image = "file"                  # the dropped file
    prompt      = "text"                  # the dropped file's text content
    prompt      = "sidecar"               # photo.txt next to the dropped photo.png
    prompt      = "sidecar:.md"           # photo.md instead
    prompt      = "literal:Make it pop"   # this exact text
    reference   = "path:~/ref.png"        # a fixed local file, uploaded once while unchanged
    prompt      = { literal = "Make it pop" }   # the same as tables:
    reference   = { path = "~/ref.png" }        # { file = true }, { text = true },
    prompt      = { sidecar = ".txt" }          # { kind = "literal", value = "..." }
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, model_validator

from floradrop.config.fields import expand_path
from floradrop.config.problems import invalid

BindingKind = Literal["file", "text", "literal", "path", "sidecar"]
KINDS: Final[tuple[str, ...]] = get_args(BindingKind)
DEFAULT_SIDECAR: Final = ".txt"
FORMS: Final = (
    '"file", "text", "sidecar", "sidecar:.md", "literal:Make it pop", "path:~/ref.png", '
    'or a table such as { literal = "Make it pop" } or { path = "~/ref.png" }'
)


class Binding(BaseModel):
    """Where one technique input's value comes from.

    * ``file``: the dropped file (uploaded; for a text input, its text content);
    * ``text``: the dropped file's text content (UTF-8), whatever its extension;
    * ``literal``: :attr:`value` is the text itself (text inputs only);
    * ``path``: :attr:`value` is a fixed local file (absolute, expanded), uploaded once and
      reused while unchanged; for a text input, its text;
    * ``sidecar``: :attr:`value` is the sidecar's suffix (default ``.txt``): for
      ``photo.png`` that is ``photo.txt``; for a text input its text, for a media input the
      sidecar file uploaded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: BindingKind
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _coerce(cls, data: Any) -> Any:
        if isinstance(data, Binding):
            return data
        if isinstance(data, str):
            return _from_string(data)
        if isinstance(data, Mapping):
            return _from_table(data)
        raise invalid("is not an input binding", value=data, fix=f"write one of {FORMS}")

    def to_toml(self) -> str:
        """The short TOML form, e.g. ``"literal:Make it pop"`` (without the quotes)."""
        if self.kind in ("file", "text") or (
            self.kind == "sidecar" and self.value == DEFAULT_SIDECAR
        ):
            return self.kind
        return f"{self.kind}:{self.value}"

    def describe(self) -> str:
        """For people: "the dropped file", "the sidecar photo.txt", ..."""
        match self.kind:
            case "file":
                return "the dropped file"
            case "text":
                return "the dropped file's text"
            case "literal":
                return f"the text {self.value!r}"
            case "path":
                return f"the file {self.value}"
            case _:
                return f"the sidecar file <name>{self.value}"


def _normalize(kind: str, value: Any, *, written: Any) -> dict[str, Any]:
    """Check ``value`` for ``kind`` and return the canonical ``{kind, value}``."""
    match kind:
        case "file" | "text":
            return {"kind": kind, "value": None}
        case "literal":
            if not isinstance(value, str) or not value.strip():
                raise invalid(
                    "is an empty literal",
                    value=written,
                    fix='write the text after "literal:", e.g. "literal:Make it pop" '
                    "(FLORA rejects empty text; leave an optional input out instead)",
                )
            return {"kind": kind, "value": value}
        case "path":
            if not isinstance(value, str | Path):
                raise invalid(
                    "needs a file path", value=written, fix='write it like "path:~/ref.png"'
                )
            return {
                "kind": kind,
                "value": str(expand_path(value, example='"path:~/FLORA/reference.png"')),
            }
        case "sidecar":
            if value is None or value is True or value == "":
                return {"kind": kind, "value": DEFAULT_SIDECAR}
            if (
                not isinstance(value, str)
                or "/" in value
                or "\\" in value
                or value.strip() in (".", "")
            ):
                raise invalid(
                    "is not a sidecar suffix",
                    value=written,
                    fix="write the suffix that replaces the dropped file's extension, e.g. "
                    '"sidecar:.txt" (photo.png + photo.txt) or "sidecar:.prompt.md"',
                )
            suffix = value.strip()
            return {"kind": kind, "value": suffix if suffix.startswith(".") else "." + suffix}
    raise invalid(
        f"has an unknown binding kind {kind!r}", value=written, fix=f"write one of {FORMS}"
    )


def _from_string(text: str) -> dict[str, Any]:
    kind, sep, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind in ("file", "text") and not sep:
        return _normalize(kind, None, written=text)
    if kind == "sidecar":
        return _normalize(kind, rest if sep else None, written=text)
    if kind in ("literal", "path") and sep:
        return _normalize(kind, rest, written=text)
    if kind in ("literal", "path"):
        example = '"literal:Make it pop"' if kind == "literal" else '"path:~/ref.png"'
        raise invalid(f"needs a value after {kind!r}", value=text, fix=f"write it like {example}")
    raise invalid(
        "is not an input binding",
        value=text,
        fix=f'to pass this text as it is, write "literal:{text}"; the forms are {FORMS}',
    )


def _from_table(table: Mapping[str, Any]) -> dict[str, Any]:
    if "kind" in table:
        extra = set(table) - {"kind", "value"}
        kind = table["kind"]
        if extra or not isinstance(kind, str) or kind not in KINDS:
            raise invalid("is not an input binding", value=dict(table), fix=f"write one of {FORMS}")
        return _normalize(kind, table.get("value"), written=dict(table))
    if len(table) != 1:
        raise invalid(
            "must have exactly one key",
            value=dict(table),
            fix=f"write one of {FORMS}",
        )
    ((kind, value),) = table.items()
    if kind not in KINDS:
        raise invalid(
            f"has an unknown binding kind {kind!r}", value=dict(table), fix=f"write one of {FORMS}"
        )
    if kind in ("file", "text") and value is not True:
        raise invalid(
            f"needs {kind} = true",
            value=dict(table),
            fix=f'write {{ {kind} = true }}, or simply "{kind}"',
        )
    return _normalize(kind, value, written=dict(table))
