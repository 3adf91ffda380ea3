"""Typed models of what the FLORA API returns. The client returns these, never raw dicts.

Parsing follows the API reference's rule "send the spec shape, parse every known shape": each
field is looked up under its snake_case name first, then its camelCase spelling (several doc
pages render objects in camelCase). Unknown fields are ignored; unknown enum values are kept as
plain strings so a new media type or status never crashes the daemon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

IMAGE: Final = "imageUrl"
VIDEO: Final = "videoUrl"
AUDIO: Final = "audioUrl"
TEXT: Final = "text"
DOCUMENT: Final = "documentUrl"
MEDIA_TYPES: Final = (IMAGE, VIDEO, AUDIO, TEXT, DOCUMENT)
RUN_INPUT_TYPES: Final = (TEXT, IMAGE, VIDEO)  # the only types a run input may have

TERMINAL_RUN_STATUSES: Final = frozenset({"completed", "failed"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def pick(data: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``data[name]``, else ``data[camelCase(name)]``, else ``default``."""
    if name in data:
        return data[name]
    return data.get(_camel(name), default)


def _opt_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Workspace:
    workspace_id: str
    name: str
    role: str | None = None
    created_at: float | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Workspace:
        return cls(
            workspace_id=str(pick(data, "workspace_id")),
            name=str(pick(data, "name", "")),
            role=_opt_str(pick(data, "role")),
            created_at=_opt_float(pick(data, "created_at")),
        )


@dataclass(frozen=True)
class IOSpec:
    """One input or output of a technique."""

    id: str
    name: str
    type: str
    description: str | None = None
    optional: bool = False
    accepts_element: bool = False
    specified_aspect_ratio: str | None = None
    specified_duration: float | None = None

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> IOSpec:
        return cls(
            id=str(pick(data, "id")),
            name=str(pick(data, "name", pick(data, "id"))),
            type=str(pick(data, "type")),
            description=_opt_str(pick(data, "description")),
            optional=bool(pick(data, "optional", False)),
            accepts_element=bool(pick(data, "accepts_element", False)),
            specified_aspect_ratio=_opt_str(pick(data, "specified_aspect_ratio")),
            specified_duration=_opt_float(pick(data, "specified_duration")),
        )


@dataclass(frozen=True)
class Technique:
    technique_id: str
    name: str
    run_cost: float
    inputs: tuple[IOSpec, ...] = ()
    outputs: tuple[IOSpec, ...] = ()
    description: str | None = None
    slug: str | None = None  # only when the API sends one; never derived from the id

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Technique:
        return cls(
            technique_id=str(pick(data, "technique_id")),
            name=str(pick(data, "name", "")),
            run_cost=_opt_float(pick(data, "run_cost")) or 0.0,
            inputs=tuple(IOSpec.from_api(i) for i in pick(data, "inputs", None) or ()),
            outputs=tuple(IOSpec.from_api(o) for o in pick(data, "outputs", None) or ()),
            description=_opt_str(pick(data, "description")),
            slug=_opt_str(pick(data, "slug")),
        )

    def input(self, input_id: str) -> IOSpec | None:
        return next((i for i in self.inputs if i.id == input_id), None)

    @property
    def required_inputs(self) -> tuple[IOSpec, ...]:
        return tuple(i for i in self.inputs if not i.optional)


@dataclass(frozen=True)
class RunInput:
    """One entry of a run's ``inputs`` array: ``{id, type, value}``."""

    id: str
    type: str
    value: str

    def to_api(self) -> dict[str, str]:
        return {"id": self.id, "type": self.type, "value": self.value}


@dataclass(frozen=True)
class RunOutput:
    output_id: str
    type: str
    url: str  # a media URL, or for ``type == "text"`` the text itself

    @property
    def is_text(self) -> bool:
        return self.type == TEXT

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> RunOutput:
        return cls(
            output_id=str(pick(data, "output_id", "")),
            type=str(pick(data, "type", "")),
            url=str(pick(data, "url", "")),
        )


@dataclass(frozen=True)
class Run:
    """A technique run as returned by create, poll and list (and RunCreated, normalised)."""

    run_id: str
    status: str
    progress: float = 0.0
    created_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    charged_cost: float | None = None
    outputs: tuple[RunOutput, ...] = ()
    poll_url: str | None = None
    estimated_seconds: float | None = None
    technique_id: str | None = None
    workspace_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN_STATUSES

    @property
    def succeeded(self) -> bool:
        """Completed *with* outputs: the only success test (never ``progress``)."""
        return self.status == "completed" and bool(self.outputs)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Run:
        technique = pick(data, "technique")
        technique_id = pick(data, "technique_id")
        if technique_id is None and isinstance(technique, Mapping):
            technique_id = pick(technique, "technique_id")
        run_id = pick(data, "run_id") or pick(data, "technique_run_id")
        return cls(
            run_id=str(run_id),
            status=str(pick(data, "status", "pending")),
            progress=_opt_float(pick(data, "progress")) or 0.0,
            created_at=_opt_float(pick(data, "created_at")),
            started_at=_opt_float(pick(data, "started_at")),
            completed_at=_opt_float(pick(data, "completed_at")),
            error_code=_opt_str(pick(data, "error_code")),
            error_message=_opt_str(pick(data, "error_message")),
            charged_cost=_opt_float(pick(data, "charged_cost")),
            outputs=tuple(RunOutput.from_api(o) for o in pick(data, "outputs", None) or ()),
            poll_url=_opt_str(pick(data, "poll_url")),
            estimated_seconds=_opt_float(pick(data, "estimated_seconds")),
            technique_id=_opt_str(technique_id),
            workspace_id=_opt_str(pick(data, "workspace_id")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class UploadTarget:
    """Where the bytes of a signed upload go (never with the FLORA key)."""

    url: str | None
    method: str = "POST"
    file_field: str = "file"
    form_fields: Mapping[str, str] = field(default_factory=dict)
    put_url: str | None = None  # ``upload_url``: PUT the raw bytes there

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> UploadTarget | None:
        upload = pick(data, "upload")
        put_url = _opt_str(pick(data, "upload_url"))
        if isinstance(upload, Mapping):
            return cls(
                url=_opt_str(pick(upload, "url")),
                method=str(pick(upload, "method", "POST") or "POST"),
                file_field=str(pick(upload, "file_field", "file") or "file"),
                form_fields={
                    str(k): str(v) for k, v in (pick(upload, "form_fields") or {}).items()
                },
                put_url=put_url,
            )
        if put_url:
            return cls(url=None, put_url=put_url)
        return None


@dataclass(frozen=True)
class Asset:
    asset_id: str
    status: str  # pending_upload | ready | failed (kept open)
    url: str | None = None
    workspace_id: str | None = None
    uploaded_via: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    failure_message: str | None = None
    expires_at: str | None = None
    upload: UploadTarget | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Asset:
        size = pick(data, "size_bytes")
        return cls(
            asset_id=str(pick(data, "asset_id")),
            status=str(pick(data, "status", "")),
            url=_opt_str(pick(data, "url")),
            workspace_id=_opt_str(pick(data, "workspace_id")),
            uploaded_via=_opt_str(pick(data, "uploaded_via")),
            content_type=_opt_str(pick(data, "content_type")),
            size_bytes=int(size) if isinstance(size, int | float) else None,
            failure_message=_opt_str(pick(data, "failure_message")),
            expires_at=_opt_str(pick(data, "expires_at")),
            upload=UploadTarget.from_api(data),
        )


@dataclass(frozen=True)
class DownloadResult:
    path: str
    content_type: str | None
    size_bytes: int
