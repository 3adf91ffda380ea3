"""What each emulated technique computes, with Pillow: real files, deterministic for a seed.

:func:`perform` is called on the emulator's worker pool, never on a request thread. It reads
the resolved inputs (local files of the emulator's own assets, and text values), writes its
media outputs into ``out_dir`` and returns what it produced. A :class:`TechniqueError` becomes a
failed run with that ``error_code`` and ``error_message``.
"""

from __future__ import annotations

import colorsys
import random
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flora_emulator.catalog import IMAGE, SIGIL_FAILURE, TEXT, VIDEO

if TYPE_CHECKING:
    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageFont

MAX_SIDE = 1600  # outputs are bounded, whatever the input size


@dataclass(frozen=True)
class MediaInput:
    path: Path
    content_type: str


@dataclass(frozen=True)
class Produced:
    """One output: ``text`` for a text output, else a file in ``out_dir``."""

    output_id: str
    type: str
    file_name: str | None = None
    content_type: str | None = None
    text: str | None = None


class TechniqueError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Job:
    slug: str
    media: Mapping[str, MediaInput]
    texts: Mapping[str, str]
    out_dir: Path
    seed: int
    when: float  # the run's creation time, seconds (for timestamps burnt into images)


def perform(job: Job) -> list[Produced]:
    job.out_dir.mkdir(parents=True, exist_ok=True)
    return _WORK[job.slug](job)


# -- helpers -------------------------------------------------------------------------------


def _open(job: Job, input_id: str) -> PILImage.Image:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(job.media[input_id].path) as opened:
            img = ImageOps.exif_transpose(opened)
            img.thumbnail((MAX_SIDE, MAX_SIDE))
            return img.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise TechniqueError(
            "GENERATION_INPUT_VALIDATION", f"Input {input_id} is not a readable image ({exc})."
        ) from None


def _save_png(job: Job, img: PILImage.Image, output_id: str) -> Produced:
    name = f"{output_id}.png"
    img.save(job.out_dir / name, format="PNG", optimize=False)
    return Produced(output_id, IMAGE, name, "image/png")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _int_option(job: Job, input_id: str, default: int, low: int, high: int) -> int:
    raw = job.texts.get(input_id)
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise TechniqueError(
            "GENERATION_INVALID_PARAMS",
            f"Input {input_id} must be a whole number from {low} to {high}, got {raw!r}.",
        )
    return value


def _noise_tile(rng: random.Random, size: int = 128) -> PILImage.Image:
    from PIL import Image

    return Image.frombytes("L", (size, size), rng.randbytes(size * size))


def _tiled(tile: PILImage.Image, size: tuple[int, int]) -> PILImage.Image:
    from PIL import Image

    out = Image.new(tile.mode, size)
    for y in range(0, size[1], tile.height):
        for x in range(0, size[0], tile.width):
            out.paste(tile, (x, y))
    return out


# -- the techniques ------------------------------------------------------------------------


def _cctv_cam(job: Job) -> list[Produced]:
    from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageOps

    img = _open(job, "input_image")
    grey = ImageOps.autocontrast(ImageOps.grayscale(img), cutoff=1)
    grey = grey.filter(ImageFilter.GaussianBlur(0.8))
    rng = random.Random(f"{job.seed}:cctv")  # noqa: S311 - seeded on purpose
    grey = Image.blend(grey, _tiled(_noise_tile(rng), grey.size), 0.14)
    lines = Image.new("L", grey.size, 255)
    draw_lines = ImageDraw.Draw(lines)
    for y in range(0, grey.height, 3):
        draw_lines.line([(0, y), (grey.width, y)], fill=150)
    grey = ImageChops.multiply(grey, lines)
    vignette = ImageOps.invert(Image.radial_gradient("L").resize(grey.size))
    grey = ImageChops.multiply(grey, ImageOps.autocontrast(vignette, cutoff=(0, 30)))
    frame = ImageOps.colorize(grey, black=(8, 14, 8), white=(214, 232, 214))
    draw = ImageDraw.Draw(frame)
    size = max(12, frame.width // 40)
    font = _font(size)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job.when))
    label = job.texts.get("prompt") or "CAM 01"
    margin = size // 2
    draw.text((margin, frame.height - 2 * size - margin), label.upper(), font=font, fill="white")
    draw.text((margin, frame.height - size - margin), stamp, font=font, fill="white")
    radius = size // 2
    cx, cy = frame.width - 4 * size, margin + radius
    draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(220, 30, 30))
    draw.text((cx + radius + 4, cy - radius), "REC", font=font, fill="white")
    return [_save_png(job, frame, "output_image")]


def _color_transfer(job: Job) -> list[Produced]:
    from PIL import Image, ImageStat

    source = _open(job, "source_image")
    reference = _open(job, "reference_image")
    strength = _int_option(job, "strength", 100, 0, 100) / 100
    src_stat, ref_stat = ImageStat.Stat(source), ImageStat.Stat(reference)
    bands = []
    for band, s_mean, s_std, r_mean, r_std in zip(
        source.split(), src_stat.mean, src_stat.stddev, ref_stat.mean, ref_stat.stddev, strict=True
    ):
        scale = r_std / s_std if s_std > 1e-6 else 1.0
        lut = [
            round(min(255.0, max(0.0, v + strength * (((v - s_mean) * scale + r_mean) - v))))
            for v in range(256)
        ]
        bands.append(band.point(lut))
    return [_save_png(job, Image.merge("RGB", bands), "output_image")]


_COLOUR_NAMES = {
    "black": (20, 20, 20),
    "charcoal": (60, 60, 64),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "white": (245, 245, 245),
    "red": (200, 40, 40),
    "brick": (150, 60, 40),
    "orange": (235, 130, 40),
    "sand": (214, 190, 150),
    "yellow": (235, 215, 60),
    "olive": (120, 120, 50),
    "green": (60, 150, 70),
    "teal": (40, 130, 130),
    "sky blue": (120, 180, 230),
    "blue": (40, 80, 190),
    "navy": (25, 35, 90),
    "purple": (120, 60, 160),
    "pink": (230, 140, 180),
    "brown": (110, 70, 40),
    "cream": (240, 230, 200),
}


def colour_name(rgb: tuple[int, int, int]) -> str:
    """The nearest of a few plain colour names."""
    return min(_COLOUR_NAMES, key=lambda n: _dist2(_COLOUR_NAMES[n], rgb))


def _palette(img: PILImage.Image, count: int) -> list[tuple[tuple[int, int, int], float]]:
    """Up to ``count`` distinct dominant colours with their share of the image, biggest first.

    Median-cut to a few dozen colours, then keep the most used ones that differ visibly
    from those already kept (JPEG noise otherwise yields five shades of one sky).
    """
    from PIL import Image

    small = img.copy()
    small.thumbnail((256, 256))
    quant = small.quantize(colors=max(32, count), method=Image.Quantize.MEDIANCUT)
    palette = quant.getpalette() or []
    used = sorted(quant.getcolors() or [], key=lambda c: (-c[0], str(c[1])))
    swatches: list[tuple[int, tuple[int, int, int]]] = []
    for n, index in used:
        assert isinstance(index, int)
        r, g, b = palette[3 * index : 3 * index + 3]
        swatches.append((n, (r, g, b)))
    kept: list[tuple[int, int, int]] = []
    for distance in (48, 24):
        for _, rgb in swatches:
            if len(kept) < count and all(_dist2(rgb, k) > distance**2 for k in kept):
                kept.append(rgb)
    shares = dict.fromkeys(kept, 0)
    for n, rgb in swatches:
        shares[min(kept, key=lambda k: _dist2(rgb, k))] += n
    total = sum(shares.values()) or 1
    return sorted(((rgb, n / total) for rgb, n in shares.items()), key=lambda c: -c[1])


def _dist2(a: tuple[int, int, int], b: tuple[int, int, int]) -> int:
    return sum((x - y) ** 2 for x, y in zip(a, b, strict=True))


def _art_directors_critique(job: Job) -> list[Produced]:
    from PIL import ImageFilter, ImageStat

    img = _open(job, "input_image")
    w, h = img.size
    grey = img.convert("L")
    light = ImageStat.Stat(grey)
    brightness, contrast = light.mean[0], light.stddev[0]
    saturation = ImageStat.Stat(img.convert("HSV")).mean[1]
    edges = grey.filter(ImageFilter.FIND_EDGES)
    sharpness = ImageStat.Stat(edges).mean[0]
    cx, cy = _centre_of_interest(edges)
    colours = _palette(img, 5)

    ratio = _nearest_ratio(w / h)
    lines = ["Art Director's Critique", ""]
    brief = job.texts.get("brief")
    if brief:
        lines += [f"Brief: {brief.strip()}", ""]
    lines += [
        "Overall",
        f"A {ratio} frame ({w} x {h} px). "
        + _pick(
            contrast,
            [(35, "It reads flat at a glance;"), (65, "It holds together;")],
            "It is bold and punchy;",
        )
        + " "
        + _pick(
            sharpness,
            [(6, "the detail is soft, so it will not survive a large crop.")],
            "the detail is crisp enough for large formats.",
        ),
        "",
        "Composition",
        _composition(cx, cy),
        "",
        "Light",
        _pick(
            brightness,
            [
                (70, "Underexposed: the shadows swallow the subject. Lift the mid-tones."),
                (110, "Low-key and moody; make sure that is the intent."),
                (170, "Exposure is well balanced."),
                (210, "Bright and airy; watch the highlights."),
            ],
            "Overexposed: the highlights are clipping. Pull the exposure down.",
        ),
        "",
        "Colour",
        _pick(
            saturation,
            [(40, "Muted, almost monochrome."), (110, "Natural saturation.")],
            "Highly saturated; it will pop on screen but may look loud in print.",
        )
        + " Dominant colours: "
        + ", ".join(f"{colour_name(rgb)} ({share:.0%})" for rgb, share in colours[:3])
        + ".",
        "",
        "Next steps",
        _next_step(brightness, contrast, saturation, sharpness, (cx, cy)),
    ]
    return [Produced("critique", TEXT, text="\n".join(lines))]


def _pick(value: float, steps: list[tuple[float, str]], otherwise: str) -> str:
    return next((text for limit, text in steps if value < limit), otherwise)


def _nearest_ratio(ratio: float) -> str:
    ratios = {"1:1": 1, "4:5": 0.8, "3:4": 0.75, "2:3": 2 / 3, "9:16": 9 / 16}
    ratios |= {"5:4": 1.25, "4:3": 4 / 3, "3:2": 1.5, "16:9": 16 / 9, "21:9": 21 / 9}
    return min(ratios, key=lambda k: abs(ratios[k] - ratio))


def _centre_of_interest(edges: PILImage.Image) -> tuple[float, float]:
    """Where the detail is, as fractions of width and height (0.5, 0.5 = centre)."""
    data = edges.resize((48, 48)).tobytes()
    total = float(sum(data)) or 1.0
    x = sum((i % 48) * v for i, v in enumerate(data)) / total / 47
    y = sum((i // 48) * v for i, v in enumerate(data)) / total / 47
    return x, y


def _composition(cx: float, cy: float) -> str:
    near_thirds = min(abs(cx - 1 / 3), abs(cx - 2 / 3)) < 0.08
    if abs(cx - 0.5) < 0.08 and abs(cy - 0.5) < 0.08:
        return "The subject sits dead centre: strong and symmetric, but static."
    if near_thirds:
        return "The weight of the image sits on a third line; the eye travels well."
    side = "left" if cx < 0.5 else "right"
    return f"The visual weight drifts to the {side} edge; consider reframing."


def _next_step(
    brightness: float,
    contrast: float,
    saturation: float,
    sharpness: float,
    centre: tuple[float, float],
) -> str:
    cx, cy = centre
    if brightness < 70 or brightness > 210:
        return "Fix the exposure first; everything else follows."
    if contrast < 35:
        return "Add contrast with a gentle S-curve to give the subject some presence."
    if sharpness < 6:
        return "Reshoot or upscale: the image is too soft for hero use."
    if saturation > 110:
        return "Pull the saturation back 10-15% for a more premium feel."
    if abs(cx - 0.5) > 0.3 or abs(cy - 0.5) > 0.3:
        return "Reframe so the subject has room to breathe."
    return "Ship it. Small polish only: a subtle vignette would focus the eye."


def _palette_pull(job: Job) -> list[Produced]:
    from PIL import Image, ImageDraw

    img = _open(job, "input_image")
    count = _int_option(job, "colors", 6, 3, 12)
    colours = _palette(img, count)
    swatch_w, swatch_h, label_h = 120, 140, 36
    card = Image.new("RGB", (swatch_w * len(colours), swatch_h + label_h), "white")
    draw = ImageDraw.Draw(card)
    font = _font(15)
    lines = [f"Palette ({len(colours)} colours, most used first)"]
    for n, (rgb, share) in enumerate(colours):
        hex_code = "#{:02x}{:02x}{:02x}".format(*rgb)
        x = n * swatch_w
        draw.rectangle((x, 0, x + swatch_w - 1, swatch_h - 1), fill=rgb)
        draw.text((x + 10, swatch_h + 9), hex_code, font=font, fill=(30, 30, 30))
        lines.append(f"{n + 1}. {hex_code}  rgb{rgb}  {share:.1%}  {colour_name(rgb)}")
    return [
        _save_png(job, card, "palette_image"),
        Produced("palette", TEXT, text="\n".join(lines)),
    ]


def _icon_pack(job: Job) -> list[Produced]:
    from PIL import Image, ImageDraw

    prompt = job.texts["prompt"].strip()
    rng = random.Random(f"{job.seed}:icon-pack:{prompt}")  # noqa: S311
    base_hue = rng.random()
    initials = "".join(word[0] for word in prompt.split()[:2]).upper() or "?"
    font = _font(72)
    results = []
    shapes = ["circle", "square", "triangle", "hexagon", "diamond", "star"]
    rng.shuffle(shapes)
    for n in range(1, 5):
        hue = (base_hue + n * 0.09) % 1.0
        bg = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.95))
        fg = tuple(round(c * 255) for c in colorsys.hsv_to_rgb((hue + 0.5) % 1.0, 0.7, 0.35))
        icon = Image.new("RGB", (256, 256), "white")
        draw = ImageDraw.Draw(icon)
        draw.rounded_rectangle((8, 8, 247, 247), radius=48, fill=bg)
        _draw_shape(draw, shapes[n - 1], fg)
        draw.text((128, 128), initials, font=font, fill="white", anchor="mm")
        results.append(_save_png(job, icon, f"icon_{n}"))
    return results


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, fill: tuple[int, ...]) -> None:
    box = (48, 48, 208, 208)
    centre = (128, 128, 84)
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rounded_rectangle(box, radius=16, fill=fill)
    elif shape == "triangle":
        draw.regular_polygon(centre, 3, fill=fill)
    elif shape == "hexagon":
        draw.regular_polygon(centre, 6, fill=fill)
    elif shape == "diamond":
        draw.regular_polygon(centre, 4, rotation=45, fill=fill)
    else:
        draw.regular_polygon(centre, 5, fill=fill)


def _product_motion(job: Job) -> list[Produced]:
    video = job.media["input_video"]
    name = "output_video" + (video.path.suffix or ".mp4")
    shutil.copyfile(video.path, job.out_dir / name)
    return [Produced("output_video", VIDEO, name, video.content_type)]


def _sigil(job: Job) -> list[Produced]:
    raise TechniqueError(*SIGIL_FAILURE)


_WORK: dict[str, Callable[[Job], list[Produced]]] = {
    "cctv-cam": _cctv_cam,
    "color-transfer": _color_transfer,
    "art-directors-critique": _art_directors_critique,
    "palette-pull": _palette_pull,
    "icon-pack": _icon_pack,
    "product-motion": _product_motion,
    "sigil": _sigil,
}
