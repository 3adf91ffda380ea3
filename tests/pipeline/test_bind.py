"""Bind (planning inputs against technique schemas), with hand-built schemas: no files, no
network."""

from __future__ import annotations

import pytest

from floradrop.config import Binding, Rule
from floradrop.errors import ConfigError
from floradrop.flora.models import Technique
from floradrop.pipeline.bind import (
    main_input_type,
    plan_inputs,
    techniques_needed,
    validate_rules,
)

from .schemas import (
    CATALOG,
    CCTV,
    COLOR,
    ICONS,
    MOTION,
    NARRATE,
    STUDIO,
    io,
    make_folder,
    rule,
    technique,
)


def plan_of(tech: Technique, r: Rule, dropped: str | None) -> dict[str, tuple[str, str | None]]:
    plan = plan_inputs(tech, r, dropped)
    return {b.input.id: (b.binding.kind, b.binding.value) for b in plan.inputs}


def plan_error(tech: Technique, r: Rule, dropped: str | None) -> str:
    with pytest.raises(ConfigError) as info:
        plan_inputs(tech, r, dropped, where="folders[0]")
    return info.value.describe()


# -- planning inputs -------------------------------------------------------------------------


def test_defaults_bind_the_dropped_file_to_its_one_input() -> None:
    assert plan_of(CCTV, rule("cctv-cam"), "imageUrl") == {"input_image": ("file", None)}
    assert plan_of(ICONS, rule("icon-pack"), "text") == {"prompt": ("text", None)}
    assert plan_of(MOTION, rule("product-motion"), "videoUrl") == {"input_video": ("file", None)}


def test_a_text_file_into_a_text_input_is_its_content() -> None:
    assert plan_of(ICONS, rule("icon-pack", prompt="file"), "text") == {"prompt": ("text", None)}
    assert plan_of(ICONS, rule("icon-pack", prompt="text"), None) == {"prompt": ("text", None)}


def test_explicit_bindings_and_the_file_filling_the_rest() -> None:
    plan = plan_inputs(CCTV, rule("cctv-cam", prompt="sidecar"), "imageUrl")
    assert [(b.input.id, b.binding) for b in plan.inputs] == [
        ("input_image", Binding(kind="file")),
        ("prompt", Binding(kind="sidecar", value=".txt")),
    ]
    assert plan.sidecar_suffixes == (".txt",)
    assert plan_of(CCTV, rule("cctv-cam", prompt="literal:Make it pop"), "imageUrl") == {
        "input_image": ("file", None),
        "prompt": ("literal", "Make it pop"),
    }
    assert plan_of(
        COLOR, rule("color-transfer", reference_image="path:/refs/look.jpg"), "imageUrl"
    ) == {
        "source_image": ("file", None),
        "reference_image": ("path", "/refs/look.jpg"),
    }
    assert plan_of(
        COLOR,
        rule("color-transfer", reference_image="file", source_image="sidecar:.src.png"),
        "imageUrl",
    ) == {
        "source_image": ("sidecar", ".src.png"),
        "reference_image": ("file", None),
    }


def test_optional_inputs_without_a_binding_are_left_out() -> None:
    plan = plan_inputs(CCTV, rule("cctv-cam"), "imageUrl")
    assert [b.input.id for b in plan.inputs] == ["input_image"]
    assert plan.sidecar_suffixes == ()


def test_two_inputs_of_the_dropped_type_must_be_named() -> None:
    text = plan_error(COLOR, rule("color-transfer"), "imageUrl")
    assert (
        "folders[0]: technique 'color-transfer': has several image inputs "
        "('source_image', 'reference_image')" in text
    )
    assert 'inputs = { source_image = "file", reference_image = "path:~/reference.png" }' in text


def test_a_required_input_left_unbound() -> None:
    text = plan_error(COLOR, rule("color-transfer", source_image="file"), "imageUrl")
    assert (
        "technique 'color-transfer' input 'reference_image' (image): "
        "is required, and nothing is bound" in text
    )
    assert 'reference_image = "path:~/reference.png"' in text


def test_a_dropped_file_of_the_wrong_type() -> None:
    text = plan_error(CCTV, rule("cctv-cam"), "videoUrl")
    assert "input 'input_image' (image): takes an image, but the dropped file is a video" in text
    assert """narrow the rule's `match` to ["*.png", "*.jpg", "*.jpeg"]""" in text
    assert 'input_image = "path:~/reference.png"' in text


def test_a_text_file_can_be_the_prompt_but_the_image_is_still_required() -> None:
    text = plan_error(CCTV, rule("cctv-cam", "*.txt"), "text")
    assert "input 'input_image' (image): is required, and nothing is bound to it" in text
    assert "(the dropped file is text)" in text
    assert plan_of(CCTV, rule("cctv-cam", "*.txt", input_image="path:/refs/face.png"), "text") == {
        "input_image": ("path", "/refs/face.png"),
        "prompt": ("text", None),
    }


def test_a_required_text_input_left_unbound_suggests_text_bindings() -> None:
    both = technique("caption", io("input_image", "imageUrl"), io("prompt", "text"))
    text = plan_error(both, rule("caption"), "imageUrl")
    assert "input 'prompt' (text): is required" in text
    assert 'prompt = "sidecar"' in text and 'prompt = "literal:..."' in text


def test_an_unknown_input_id() -> None:
    text = plan_error(CCTV, rule("cctv-cam", promt="sidecar"), "imageUrl")
    assert "folders[0].inputs.promt: technique 'cctv-cam' has no input 'promt'" in text
    assert "its inputs are 'input_image' (image), 'prompt' (text)" in text
    assert "did you mean 'prompt'?" in text


@pytest.mark.parametrize(
    ("tech", "inputs", "dropped", "expected"),
    [
        (
            CCTV,
            {"input_image": "text"},
            "imageUrl",
            "input 'input_image' (image): takes an image, not text",
        ),
        (CCTV, {"input_image": "literal:https://x/y.png"}, "imageUrl", "takes an image, not text"),
        (
            CCTV,
            {"input_image": "file"},
            "videoUrl",
            "takes an image, but the dropped file is a video",
        ),
        (
            CCTV,
            {"input_image": "file"},
            None,
            "takes an image, but the dropped file is a file of unknown type",
        ),
        (
            CCTV,
            {"prompt": "file"},
            "imageUrl",
            "a text input cannot take the dropped file, which is an image",
        ),
        (
            CCTV,
            {"input_image": "path:/refs/look.mp4"},
            "text",
            "takes an image, but the file /refs/look.mp4 is a video",
        ),
        (
            CCTV,
            {"prompt": "path:/refs/look.png"},
            "imageUrl",
            "is a text input, but the file /refs/look.png is an image",
        ),
        (
            CCTV,
            {"prompt": "sidecar:.jpg"},
            "imageUrl",
            "is a text input, but a .jpg sidecar is an image",
        ),
        (CCTV, {"input_image": "sidecar"}, "text", "takes an image, but a .txt sidecar is text"),
        (
            NARRATE,
            {"voice": "path:/v.mp3"},
            "imageUrl",
            "input 'voice' (audio file): FLORA runs take only text, image and video",
        ),
    ],
)
def test_bindings_that_do_not_fit(
    tech: Technique, inputs: dict[str, str], dropped: str | None, expected: str
) -> None:
    assert expected in plan_error(tech, rule(tech.name, **inputs), dropped)


def test_fitting_path_and_sidecar_bindings() -> None:
    assert plan_of(
        CCTV, rule("cctv-cam", input_image="sidecar:.ref.png", prompt="text"), "text"
    ) == {
        "input_image": ("sidecar", ".ref.png"),
        "prompt": ("text", None),
    }
    assert plan_of(CCTV, rule("cctv-cam", prompt="path:/prompts/night.md"), "imageUrl")[
        "prompt"
    ] == (
        "path",
        "/prompts/night.md",
    )
    assert plan_of(CCTV, rule("cctv-cam", prompt="sidecar:.prompt"), "imageUrl")["prompt"] == (
        "sidecar",
        ".prompt",
    )


def test_a_required_audio_input_cannot_be_run() -> None:
    text = plan_error(NARRATE, rule("narrate"), "imageUrl")
    assert (
        "input 'voice' (audio file): is required, "
        "but FLORA runs take only text, image and video inputs" in text
    )
    assert "choose another technique" in text


def test_an_optional_audio_input_is_left_out() -> None:
    tech = technique(
        "soundtrack", io("input_image", "imageUrl"), io("music", "audioUrl", optional=True)
    )
    assert plan_of(tech, rule("soundtrack"), "imageUrl") == {"input_image": ("file", None)}


@pytest.mark.parametrize(
    ("dropped", "noun"), [("audioUrl", "an audio file"), ("documentUrl", "a document")]
)
def test_dropped_audio_and_documents_cannot_be_run(dropped: str, noun: str) -> None:
    assert f"FLORA runs cannot take {noun} as input" in plan_error(CCTV, rule("cctv-cam"), dropped)


def test_a_dropped_file_no_input_takes() -> None:
    text = plan_error(ICONS, rule("icon-pack"), "imageUrl")
    assert (
        "input 'prompt' (text): is required, "
        "and nothing is bound to it (the dropped file is an image)" in text
    )
    assert 'prompt = "sidecar"' in text
    text = plan_error(ICONS, rule("icon-pack", prompt="sidecar"), "imageUrl")
    assert "no input takes the dropped file, which is an image" in text
    text = plan_error(ICONS, rule("icon-pack", prompt="literal:cats"), None)
    assert "floradrop cannot tell what kind of file the dropped file is" in text
    assert 'bind it with "text"' in text


def test_the_plan_follows_the_techniques_input_order() -> None:
    tech = technique("three", io("a", "text"), io("b", "imageUrl"), io("c", "text", optional=True))
    plan = plan_inputs(tech, rule("three", c="literal:x", a="sidecar"), "imageUrl")
    assert [b.input.id for b in plan.inputs] == ["a", "b", "c"]


def test_a_rule_without_where_is_named_by_its_patterns() -> None:
    with pytest.raises(ConfigError, match=r"^the rule for \*\.txt: technique 'cctv-cam'"):
        plan_inputs(CCTV, rule("cctv-cam", "*.txt"), "text")


# -- validating rules ------------------------------------------------------------------------


def test_the_main_input_type() -> None:
    assert main_input_type(CCTV) == "imageUrl"
    assert main_input_type(ICONS) == "text"
    assert main_input_type(MOTION) == "videoUrl"
    assert (
        main_input_type(technique("caption", io("prompt", "text"), io("input_image", "imageUrl")))
        == "imageUrl"
    )
    assert main_input_type(technique("empty")) is None


def test_good_rules_validate() -> None:
    f = make_folder(technique="palette-pull", **STUDIO)
    assert validate_rules(f, CATALOG, key="folders[0]") == []


def test_a_technique_that_does_not_exist() -> None:
    f = make_folder(technique="cctv-camm")
    (error,) = validate_rules(f, CATALOG, key="folders[2]")
    assert (
        error.message
        == "folders[2].technique: technique 'cctv-camm' does not exist; did you mean 'cctv-cam'?"
    )
    assert error.hint and "floradrop techniques" in error.hint
    (error,) = validate_rules(make_folder(technique="zzz"), CATALOG)
    assert error.message == "folder 'in'.technique: technique 'zzz' does not exist"


def test_each_type_a_rule_admits_is_checked() -> None:
    f = make_folder(
        rules=[{"match": ["*.png", "*.mp4", "*.PNG", "*.jpg"], "technique": "cctv-cam"}]
    )
    (error,) = validate_rules(f, CATALOG, key="folders[0]")
    assert error.message.startswith(
        "folders[0].rules[0]: technique 'cctv-cam' input 'input_image' (image): "
    )
    assert error.message.endswith("takes an image, but the dropped file is a video")


def test_a_match_all_rule_is_checked_for_the_techniques_main_type() -> None:
    assert validate_rules(make_folder(technique="icon-pack"), CATALOG) == []
    assert validate_rules(make_folder(technique="product-motion"), CATALOG) == []
    (error,) = validate_rules(make_folder(technique="color-transfer"), CATALOG, key="folders[1]")
    assert "folders[1]: technique 'color-transfer': has several image inputs" in error.message


def test_rules_with_unknown_extensions() -> None:
    f = make_folder(
        rules=[
            {"match": "*.prompt", "technique": "icon-pack", "inputs": {"prompt": "text"}},
            {"match": "*.raw", "technique": "cctv-cam"},
        ]
    )
    (error,) = validate_rules(f, CATALOG, key="folders[0]")
    assert error.message == (
        "folders[0].rules[1]: technique 'cctv-cam' input 'input_image' (image): takes an image, "
        "but the dropped file is a file of unknown type"
    )


def test_every_problem_of_every_rule_is_reported() -> None:
    f = make_folder(
        technique="icon-pack",
        match="*.png",
        rules=[
            {"match": "*.txt", "technique": "cctv-cam"},
            {"match": "*.jpg", "technique": "nope"},
            {"match": "*.mov", "technique": "product-motion", "inputs": {"promt": "sidecar"}},
        ],
    )
    messages = [e.message for e in validate_rules(f, CATALOG, key="folders[0]")]
    assert [m.split(":")[0] for m in messages] == [
        "folders[0].rules[0]",
        "folders[0].rules[1].technique",
        "folders[0].rules[2].inputs.promt",
        "folders[0]",
    ]


def test_techniques_needed() -> None:
    folders = [
        make_folder(technique="cctv-cam", **STUDIO),
        make_folder(path="/drop/b", technique="icon-pack"),
    ]
    assert techniques_needed(folders) == ("cctv-cam", "product-motion", "icon-pack")


def test_a_text_file_dropped_where_images_go_gets_advice_about_the_file() -> None:
    # No rule was written for text files: the file is wrong, not the bindings (binding a
    # fixed image would send that one image with every drop).
    text = plan_error(CCTV, rule("cctv-cam"), "text")
    assert "input 'input_image' (image): is required, but the dropped file is text" in text
    assert "drop an image" in text
    assert "path:" not in text and "bind it" not in text
