"""Each technique does real work: outputs are real files (opened with Pillow) or real text."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image, ImageStat

from flora_emulator import Emulator
from tests.emulator.helpers import (
    api_client,
    image_input,
    png,
    run_until_done,
    scene,
    start,
    upload,
)


def _run(api: httpx.Client, slug: str, inputs: list[dict[str, str]]) -> dict[str, Any]:
    response = start(api, slug, inputs)
    assert response.status_code == 201, response.text
    return run_until_done(api, response.json()["run_id"])


def _image(url: str) -> Image.Image:
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    img = Image.open(io.BytesIO(response.content))
    img.load()
    return img


def _outputs(run: dict[str, Any]) -> dict[str, dict[str, str]]:
    assert run["status"] == "completed", run
    return {o["output_id"]: o for o in run["outputs"]}


def test_cctv_cam_makes_a_greyish_frame_with_a_label(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, scene((320, 240)), "scene.jpg")["url"]
    plain = _image(_outputs(_run(api, "cctv-cam", [image_input(url)]))["output_image"]["url"])
    assert plain.size == (320, 240)
    r, _, b = ImageStat.Stat(plain.convert("RGB")).mean
    assert abs(r - b) < 12  # the orange sun and blue sky are gone: it is (green-tinted) grey
    labelled = _image(
        _outputs(
            _run(
                api,
                "cctv-cam",
                [image_input(url), {"id": "prompt", "type": "text", "value": "CAM 03 - LOBBY"}],
            )
        )["output_image"]["url"]
    )
    assert labelled.size == plain.size
    assert labelled.tobytes() != plain.tobytes()


def test_color_transfer_moves_colours_towards_the_reference(
    emulator: Emulator, api: httpx.Client
) -> None:
    source = upload(api, emulator, scene(), "scene.jpg")["url"]
    reference = upload(api, emulator, png((64, 64), (220, 40, 30)), "red.png")["url"]
    inputs = [
        {"id": "source_image", "type": "imageUrl", "value": source},
        {"id": "reference_image", "type": "imageUrl", "value": reference},
    ]
    out = _image(_outputs(_run(api, "color-transfer", inputs))["output_image"]["url"])
    r, _, b = ImageStat.Stat(out.convert("RGB")).mean
    assert r > 180 and b < 80  # the blue-sky photo now wears the red reference's palette
    half = _run(api, "color-transfer", [*inputs, {"id": "strength", "type": "text", "value": "0"}])
    untouched = _image(_outputs(half)["output_image"]["url"])
    r0, _, b0 = ImageStat.Stat(untouched.convert("RGB")).mean
    assert b0 > r0  # strength 0 keeps the source's colours


def test_a_bad_option_fails_the_run_with_invalid_params(
    emulator: Emulator, api: httpx.Client
) -> None:
    url = upload(api, emulator, png())["url"]
    inputs = [
        {"id": "source_image", "type": "imageUrl", "value": url},
        {"id": "reference_image", "type": "imageUrl", "value": url},
        {"id": "strength", "type": "text", "value": "lots"},
    ]
    failed = _run(api, "color-transfer", inputs)
    assert failed["status"] == "failed"
    assert failed["error_code"] == "GENERATION_INVALID_PARAMS"
    assert "strength" in failed["error_message"]


def test_art_directors_critique_returns_text_in_the_url_field(
    emulator: Emulator, api: httpx.Client
) -> None:
    url = upload(api, emulator, scene((320, 240)), "scene.jpg")["url"]
    inputs = [image_input(url), {"id": "brief", "type": "text", "value": "Hero for a cafe site"}]
    critique = _outputs(_run(api, "art-directors-critique", inputs))["critique"]
    assert critique["type"] == "text"
    text = critique["url"]
    assert text.startswith("Art Director's Critique")
    assert "320 x 240" in text and "4:3" in text
    assert "Brief: Hero for a cafe site" in text
    assert "sky blue" in text  # computed from the image's own colours
    dark = upload(api, emulator, png((200, 100), (10, 10, 12)), "dark.png")["url"]
    dark_text = _outputs(_run(api, "art-directors-critique", [image_input(dark)]))["critique"][
        "url"
    ]
    assert "Underexposed" in dark_text and dark_text != text


def test_palette_pull_gives_a_swatch_and_a_list(emulator: Emulator, api: httpx.Client) -> None:
    url = upload(api, emulator, scene(), "scene.jpg")["url"]
    outputs = _outputs(
        _run(
            api, "palette-pull", [image_input(url), {"id": "colors", "type": "text", "value": "3"}]
        )
    )
    swatch = _image(outputs["palette_image"]["url"])
    assert swatch.width == 3 * 120
    lines = outputs["palette"]["url"].splitlines()
    assert lines[0] == "Palette (3 colours, most used first)"
    assert lines[1].startswith("1. #") and "sky blue" in lines[1]
    hex_codes = [line.split()[1] for line in lines[1:]]
    for n, code in enumerate(hex_codes):
        colour = tuple(int(code[i : i + 2], 16) for i in (1, 3, 5))
        assert swatch.convert("RGB").getpixel((n * 120 + 60, 60)) == colour


def test_icon_pack_draws_four_square_icons(emulator: Emulator, api: httpx.Client) -> None:
    run = _run(api, "icon-pack", [{"id": "prompt", "type": "text", "value": "coffee shop"}])
    outputs = _outputs(run)
    assert sorted(outputs) == ["icon_1", "icon_2", "icon_3", "icon_4"]
    icons = [_image(o["url"]) for o in outputs.values()]
    assert all(icon.size == (256, 256) for icon in icons)
    assert len({icon.tobytes() for icon in icons}) == 4


def _icon_bytes(emulator: Emulator, prompt: str) -> bytes:
    with api_client(emulator) as api:
        run = _run(api, "icon-pack", [{"id": "prompt", "type": "text", "value": prompt}])
        return httpx.get(_outputs(run)["icon_1"]["url"]).content


def test_outputs_are_deterministic_for_a_seed(emulator_factory: Callable[..., Emulator]) -> None:
    one, same, other = (emulator_factory(seed=s) for s in (5, 5, 6))
    assert _icon_bytes(one, "rocket") == _icon_bytes(same, "rocket")
    assert _icon_bytes(one, "rocket") != _icon_bytes(other, "rocket")
    assert _icon_bytes(one, "rocket") != _icon_bytes(one, "tulip")


def test_product_motion_passes_the_video_through(emulator: Emulator, api: httpx.Client) -> None:
    clip = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
    url = upload(api, emulator, clip, "clip.mp4")["url"]
    run = _run(api, "product-motion", [{"id": "input_video", "type": "videoUrl", "value": url}])
    output = _outputs(run)["output_video"]
    assert output["type"] == "videoUrl"
    served = httpx.get(output["url"])
    assert served.headers["content-type"] == "video/mp4"
    assert served.content == clip


@pytest.mark.parametrize("slug", ["cctv-cam", "palette-pull", "art-directors-critique"])
def test_an_unreadable_image_fails_the_run(
    emulator: Emulator, api: httpx.Client, slug: str
) -> None:
    # A HEIC is accepted as an asset without decoding; the technique cannot read this one.
    url = upload(api, emulator, b"not an image", "photo.heic", content_type="image/heic")["url"]
    failed = _run(api, slug, [image_input(url)])
    assert failed["status"] == "failed"
    assert failed["error_code"] == "GENERATION_INPUT_VALIDATION"
