"""The tray icon, drawn with Pillow: one shape and colour per state, readable at 16 to 64 px.

Every state has its own shape as well as its own colour (so it reads without colour vision):

* idle: a green drop, the floradrop mark;
* working: a blue disc with the number of jobs in flight (an arrow when the count is unknown);
* paused: an amber disc with a pause sign;
* attention: a red warning triangle with an exclamation mark.

Each shape is filled with a mid-tone colour and framed by a dark outline, so it stands out on
light panels (the outline) and on dark ones (the fill). Drawing happens at four times the size
and is scaled down, which gives smooth edges at every size.
"""

from __future__ import annotations

import math
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from floradrop.status import TrayState

RGB = tuple[int, int, int]

STATE_COLOURS: dict[TrayState, RGB] = {
    TrayState.IDLE: (30, 142, 62),
    TrayState.WORKING: (26, 115, 232),
    TrayState.PAUSED: (249, 171, 0),
    TrayState.ATTENTION: (217, 48, 37),
}
OUTLINE: RGB = (24, 24, 24)
LIGHT: RGB = (255, 255, 255)
DARK: RGB = (24, 24, 24)

MIN_SIZE = 16
MAX_SIZE = 256
_SCALE = 4


def luminance(colour: RGB) -> float:
    """Relative luminance (WCAG 2)."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = colour
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def glyph_colour(state: TrayState) -> RGB:
    """White or near-black, whichever reads better on the state's fill."""
    fill = STATE_COLOURS[state]
    return LIGHT if contrast(fill, LIGHT) >= contrast(fill, DARK) else DARK


def count_text(count: int) -> str:
    return str(count) if count < 100 else "99+"


def render_icon(state: TrayState, count: int = 0, size: int = 64) -> Image.Image:
    """The icon for ``state`` as a square RGBA image of ``size`` pixels (16 to 256)."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"icon size must be between {MIN_SIZE} and {MAX_SIZE} px, not {size}")
    return _render(
        TrayState(state), max(0, count) if state is TrayState.WORKING else 0, size
    ).copy()


@lru_cache(maxsize=64)
def _render(state: TrayState, count: int, size: int) -> Image.Image:
    big = size * _SCALE
    # Outline: about 1 px at 16 px, 3 px at 64 px (in final pixels).
    line = max(1.0, size / 20) * _SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    fill = (*STATE_COLOURS[state], 255)
    outline = (*OUTLINE, 255)
    ink = (*glyph_colour(state), 255)
    margin = line / 2 + _SCALE / 2
    box = (margin, margin, big - margin, big - margin)

    if state is TrayState.IDLE:
        _drop(draw, box, fill, outline, line)
    elif state is TrayState.ATTENTION:
        _warning(draw, box, fill, outline, line, ink=ink)
    else:
        draw.ellipse(box, fill=fill, outline=outline, width=round(line))
        if state is TrayState.PAUSED:
            _pause_sign(draw, big, ink)
        elif not (count and _number(draw, big, count_text(count), ink)):
            _arrow(draw, big, ink)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _drop(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    fill: tuple[int, ...],
    outline: tuple[int, ...],
    line: float,
) -> None:
    """A water drop: a circle at the bottom, pointed at the top."""
    left, top, right, bottom = box
    radius = (right - left) * 0.40
    cx, cy = (left + right) / 2, bottom - radius
    tip_y = top
    # The tangents from the tip to the circle touch it at +-angle from the vertical.
    distance = cy - tip_y
    angle = math.acos(radius / distance)
    start = -math.pi / 2 + angle
    stop = 3 * math.pi / 2 - angle
    points = [(cx, tip_y)]
    steps = 48
    for i in range(steps + 1):
        t = start + (stop - start) * i / steps
        points.append((cx + radius * math.cos(t), cy + radius * math.sin(t)))
    draw.polygon(points, fill=fill, outline=outline, width=round(line))
    # A highlight, so the drop reads as a drop and not a blob.
    hl = radius * 0.32
    hx, hy = cx - radius * 0.38, cy - radius * 0.05
    draw.ellipse((hx - hl / 2, hy - hl, hx + hl / 2, hy + hl), fill=(255, 255, 255, 200))


def _warning(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    fill: tuple[int, ...],
    outline: tuple[int, ...],
    line: float,
    *,
    ink: tuple[int, ...],
) -> None:
    """A warning triangle with an exclamation mark drawn from shapes (no font needed)."""
    left, top, right, bottom = box
    cx = (left + right) / 2
    points = [(cx, top), (right, bottom), (left, bottom)]
    draw.polygon(points, fill=fill, outline=outline, width=round(line))
    draw.line([*points, points[0]], fill=outline, width=round(line), joint="curve")
    height = bottom - top
    bar = height * 0.13
    draw.rounded_rectangle(
        (cx - bar / 2, top + height * 0.34, cx + bar / 2, top + height * 0.68),
        radius=bar / 2,
        fill=ink,
    )
    dot = bar * 1.05
    dy = top + height * 0.80
    draw.ellipse((cx - dot / 2, dy - dot / 2, cx + dot / 2, dy + dot / 2), fill=ink)


def _pause_sign(draw: ImageDraw.ImageDraw, big: int, ink: tuple[int, ...]) -> None:
    width, height = big * 0.14, big * 0.42
    gap = big * 0.10
    top = (big - height) / 2
    for x in (big / 2 - gap / 2 - width, big / 2 + gap / 2):
        draw.rounded_rectangle((x, top, x + width, top + height), radius=width / 3, fill=ink)


def _arrow(draw: ImageDraw.ImageDraw, big: int, ink: tuple[int, ...]) -> None:
    """An upward arrow: something is on its way up to FLORA."""
    c = big / 2
    head = big * 0.22
    shaft = big * 0.10
    top, bottom = big * 0.24, big * 0.76
    draw.polygon([(c, top), (c + head, top + head), (c - head, top + head)], fill=ink)
    draw.rectangle((c - shaft / 2, top + head - 1, c + shaft / 2, bottom), fill=ink)


def _number(draw: ImageDraw.ImageDraw, big: int, text: str, ink: tuple[int, ...]) -> bool:
    """Draw ``text`` centred and as large as the disc allows; False without FreeType."""
    room = big * (0.62 if len(text) == 1 else 0.70 if len(text) == 2 else 0.76)
    height_limit = big * 0.52
    font = _font(round(height_limit))
    if font is None:
        return False
    stroke = max(1, round(big * (0.025 if len(text) < 3 else 0.01)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    scale = min(room / (right - left), height_limit / (bottom - top))
    if scale < 1:
        font = _font(max(1, int(font.size * scale))) or font
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
    x = (big - (right - left)) / 2 - left
    y = (big - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=ink, stroke_width=stroke, stroke_fill=ink)
    return True


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | None:
    """Pillow's built-in scalable font, or None when Pillow was built without FreeType."""
    font = ImageFont.load_default(size=size)
    return font if isinstance(font, ImageFont.FreeTypeFont) else None
