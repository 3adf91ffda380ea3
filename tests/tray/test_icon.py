"""The icon: one look per state, readable at 16 to 64 px on light and dark panels."""

from __future__ import annotations

import itertools

import pytest
from PIL import Image, ImageChops

from floradrop.status import TrayState
from floradrop.tray.icon import (
    OUTLINE,
    STATE_COLOURS,
    contrast,
    count_text,
    glyph_colour,
    render_icon,
)

from .xsession import state_of_pixels

SIZES = (16, 22, 24, 32, 48, 64)
LIGHT_PANEL = (242, 242, 242)
DARK_PANEL = (32, 32, 32)


def on(panel: tuple[int, int, int], image: Image.Image) -> Image.Image:
    background = Image.new("RGBA", image.size, (*panel, 255))
    return Image.alpha_composite(background, image).convert("RGB")


def differs(a: Image.Image, b: Image.Image) -> int:
    """How many pixels of two images differ noticeably."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return sum(1 for value in diff.tobytes() if value > 48)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", list(TrayState))
def test_every_state_renders_at_every_size(state: TrayState, size: int) -> None:
    image = render_icon(state, 3, size)
    assert image.size == (size, size)
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0, "corners are transparent: the panel shows through"
    opaque = sum(1 for a in alpha.tobytes() if a > 200)
    assert opaque >= 0.35 * size * size, "the shape fills most of the icon"
    # The state's colour dominates, on either panel.
    for panel in (LIGHT_PANEL, DARK_PANEL):
        assert state_of_pixels(on(panel, image)) is state


@pytest.mark.parametrize("size", SIZES)
def test_states_look_different_from_each_other(size: int) -> None:
    images = {state: render_icon(state, 0, size) for state in TrayState}
    for a, b in itertools.combinations(TrayState, 2):
        assert differs(images[a], images[b]) >= size * size // 4, f"{a} vs {b} at {size}px"


@pytest.mark.parametrize("size", SIZES)
def test_states_differ_without_colour(size: int) -> None:
    """Readable without colour vision: in greyscale the states still look different."""
    grey = {s: on((128, 128, 128), render_icon(s, 0, size)).convert("L") for s in TrayState}
    for a, b in itertools.combinations(TrayState, 2):
        assert differs(grey[a], grey[b]) >= size * size // 10, f"{a} vs {b} at {size}px"


def test_working_shows_the_count() -> None:
    three = render_icon(TrayState.WORKING, 3, 32)
    assert differs(three, render_icon(TrayState.WORKING, 42, 32)) > 10
    assert differs(three, render_icon(TrayState.WORKING, 0, 32)) > 10  # 0: an arrow instead
    assert (
        differs(render_icon(TrayState.WORKING, 100, 32), render_icon(TrayState.WORKING, 999, 32))
        == 0
    )
    assert count_text(7) == "7" and count_text(99) == "99" and count_text(100) == "99+"


def test_count_only_matters_when_working() -> None:
    for state in (TrayState.IDLE, TrayState.PAUSED, TrayState.ATTENTION):
        assert differs(render_icon(state, 0, 32), render_icon(state, 5, 32)) == 0


def test_colours_read_on_light_and_dark_panels() -> None:
    """WCAG-style contrast: the outline carries light panels, the fill carries dark ones, and
    the glyph reads on its fill."""
    for state, fill in STATE_COLOURS.items():
        assert contrast(OUTLINE, LIGHT_PANEL) >= 4.5
        assert contrast(fill, DARK_PANEL) >= 3.0, state
        assert contrast(glyph_colour(state), fill) >= 3.0, state


def test_rendering_returns_a_fresh_image_each_time() -> None:
    first = render_icon(TrayState.IDLE, size=32)
    first.putpixel((16, 16), (1, 2, 3, 255))
    assert render_icon(TrayState.IDLE, size=32).getpixel((16, 16)) != (1, 2, 3, 255)


@pytest.mark.parametrize("size", [0, 8, 15, 257])
def test_sizes_out_of_range_are_refused(size: int) -> None:
    with pytest.raises(ValueError, match="between 16 and 256"):
        render_icon(TrayState.IDLE, size=size)
