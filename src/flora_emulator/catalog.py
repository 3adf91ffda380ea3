"""The emulator's technique catalog: schemas served exactly as FLORA serves its own.

Slugs and display names come from the spec's list of techniques (the API digest,
``../shared/flora-api/REFERENCE.md`` §13). The ``technique_id`` is an opaque ``tech_`` id derived
from the slug with a hash, so it is stable across restarts yet cannot be derived from the slug by
string tricks (as on FLORA). What each technique computes lives in :mod:`flora_emulator.techniques`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Final

IMAGE: Final = "imageUrl"
VIDEO: Final = "videoUrl"
TEXT: Final = "text"


@dataclass(frozen=True)
class IO:
    id: str
    name: str
    type: str
    description: str | None = None
    optional: bool = False
    specified_aspect_ratio: str | None = None
    specified_duration: float | None = None

    def to_api(self, *, is_input: bool) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.description:
            data["description"] = self.description
        if is_input:
            data["optional"] = self.optional
        if self.specified_aspect_ratio:
            data["specified_aspect_ratio"] = self.specified_aspect_ratio
        if self.specified_duration is not None:
            data["specified_duration"] = self.specified_duration
        return data


@dataclass(frozen=True)
class TechniqueDef:
    slug: str
    name: str
    description: str
    run_cost: float
    inputs: tuple[IO, ...]
    outputs: tuple[IO, ...]
    estimated_seconds: int = 10

    @property
    def technique_id(self) -> str:
        return "tech_" + hashlib.sha256(f"floradrop-emulator:{self.slug}".encode()).hexdigest()[:20]

    def input(self, input_id: str) -> IO | None:
        return next((i for i in self.inputs if i.id == input_id), None)

    def to_api(self) -> dict[str, Any]:
        return {
            "technique_id": self.technique_id,
            # Not in the OpenAPI documents (which allow extra properties here); FLORA's
            # techniques guide shows it in list items, and the app's URLs use it.
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "run_cost": self.run_cost,
            "inputs": [i.to_api(is_input=True) for i in self.inputs],
            "outputs": [o.to_api(is_input=False) for o in self.outputs],
        }


_IMAGE_IN = IO("input_image", "Input Image", IMAGE, "The photo to work on.")

TECHNIQUES: Final[tuple[TechniqueDef, ...]] = (
    TechniqueDef(
        slug="cctv-cam",
        name="CCTV Cam",
        description="Turns a photo into a frame from a security camera: grainy greyscale, "
        "scanlines and a timestamp.",
        run_cost=0.05,
        inputs=(
            _IMAGE_IN,
            IO(
                "prompt",
                "Camera Label",
                TEXT,
                "Text burnt into the corner, e.g. 'CAM 03 - LOBBY'.",
                optional=True,
            ),
        ),
        outputs=(IO("output_image", "Output Image", IMAGE),),
        estimated_seconds=12,
    ),
    TechniqueDef(
        slug="color-transfer",
        name="Color Transfer",
        description="Grades a source image with the colour palette of a reference image.",
        run_cost=0.08,
        inputs=(
            IO("source_image", "Source Image", IMAGE, "The image to recolour."),
            IO("reference_image", "Reference Image", IMAGE, "The image whose colours to use."),
            IO(
                "strength",
                "Strength",
                TEXT,
                "How strongly to apply the grade, 0 to 100 (default 100).",
                optional=True,
            ),
        ),
        outputs=(IO("output_image", "Output Image", IMAGE),),
        estimated_seconds=15,
    ),
    TechniqueDef(
        slug="art-directors-critique",
        name="Art Director's Critique",
        description="An art director's written critique of a creative asset: composition, "
        "light, colour and what to change.",
        run_cost=0.04,
        inputs=(
            _IMAGE_IN,
            IO("brief", "Brief", TEXT, "What the image is for (optional).", optional=True),
        ),
        outputs=(IO("critique", "Critique", TEXT),),
        estimated_seconds=20,
    ),
    TechniqueDef(
        slug="palette-pull",
        name="Palette Pull",
        description="Extracts the colour palette of an image as a swatch card and a list.",
        run_cost=0.03,
        inputs=(
            _IMAGE_IN,
            IO("colors", "Colours", TEXT, "How many colours, 3 to 12 (default 6).", optional=True),
        ),
        outputs=(
            IO("palette_image", "Palette Swatch", IMAGE),
            IO("palette", "Palette", TEXT),
        ),
        estimated_seconds=8,
    ),
    TechniqueDef(
        slug="icon-pack",
        name="Icon Pack",
        description="A matched set of four icons from a text prompt.",
        run_cost=0.12,
        inputs=(IO("prompt", "Prompt", TEXT, "What the icons should show."),),
        outputs=tuple(
            IO(f"icon_{n}", f"Icon {n}", IMAGE, specified_aspect_ratio="1:1") for n in range(1, 5)
        ),
        estimated_seconds=30,
    ),
    TechniqueDef(
        slug="product-motion",
        name="Product Motion",
        description="Animates a product clip into a polished motion shot.",
        run_cost=0.35,
        inputs=(IO("input_video", "Product Video", VIDEO, "A short clip of the product."),),
        outputs=(IO("output_video", "Output Video", VIDEO, specified_duration=5),),
        estimated_seconds=90,
    ),
    TechniqueDef(
        slug="sigil",
        name="Sigil",
        description="Turns an image into an animated glyph.",
        run_cost=0.1,
        inputs=(_IMAGE_IN,),
        outputs=(IO("output_video", "Animated Glyph", VIDEO),),
        estimated_seconds=60,
    ),
)

# ``sigil`` always fails like this: a realistic moderation refusal (a "change input" failure).
SIGIL_FAILURE: Final = (
    "GENERATION_PROMPT_MODERATED",
    "The generation was blocked by the provider's content moderation. "
    "Change the input image and try again.",
)
# What ``fail_rate`` runs end with: a transient provider failure.
TRANSIENT_FAILURE: Final = (
    "GENERATION_PROVIDER_TIMEOUT",
    "The generation provider did not respond in time. Try again.",
)


def find(slug_or_id: str) -> TechniqueDef | None:
    """The technique with this slug or ``tech_`` id."""
    for technique in TECHNIQUES:
        if slug_or_id in (technique.slug, technique.technique_id):
            return technique
    return None
