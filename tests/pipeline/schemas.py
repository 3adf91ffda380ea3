"""Hand-built technique schemas and folders for the pure pipeline tests (decide, bind)."""

from __future__ import annotations

from typing import Any

from floradrop.config import FolderConfig, Rule, parse_config
from floradrop.flora.models import IOSpec, Technique


def io(id: str, type: str, *, optional: bool = False) -> IOSpec:
    return IOSpec(id=id, name=id.replace("_", " ").title(), type=type, optional=optional)


def technique(slug: str, *inputs: IOSpec) -> Technique:
    return Technique(
        technique_id=f"tech_{slug}",
        name=slug,
        run_cost=0.05,
        inputs=inputs,
        outputs=(io("output_image", "imageUrl"),),
    )


CCTV = technique("cctv-cam", io("input_image", "imageUrl"), io("prompt", "text", optional=True))
COLOR = technique(
    "color-transfer", io("source_image", "imageUrl"), io("reference_image", "imageUrl")
)
CRITIQUE = technique("art-directors-critique", io("input_image", "imageUrl"))
PALETTE = technique("palette-pull", io("input_image", "imageUrl"))
ICONS = technique("icon-pack", io("prompt", "text"))
MOTION = technique(
    "product-motion", io("input_video", "videoUrl"), io("prompt", "text", optional=True)
)
NARRATE = technique("narrate", io("input_image", "imageUrl"), io("voice", "audioUrl"))
CATALOG = {
    t.technique_id.removeprefix("tech_"): t for t in (CCTV, COLOR, CRITIQUE, PALETTE, ICONS, MOTION)
}


def make_folder(**table: Any) -> FolderConfig:
    table.setdefault("path", "/drop/in")
    return parse_config({"folders": [table]}).folders[0]


def rule(technique: str, match: str | list[str] = "*", **inputs: str) -> Rule:
    return Rule.model_validate({"match": match, "technique": technique, "inputs": inputs})


STUDIO = {
    "rules": [
        {"match": ["*.png", "*.jpg"], "technique": "cctv-cam", "inputs": {"prompt": "sidecar"}},
        {
            "match": "*.mp4",
            "technique": "product-motion",
            "inputs": {"prompt": "sidecar:.prompt.md"},
        },
        {"match": "*.txt", "technique": "icon-pack"},
    ]
}
