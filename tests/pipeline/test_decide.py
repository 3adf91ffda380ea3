"""Decide, with synthetic names and folders: no files, no network."""

from __future__ import annotations

from pathlib import PurePath

import pytest

from floradrop.config import Rule
from floradrop.pipeline.decide import (
    JUNK_PATTERNS,
    Decision,
    choose_rule,
    could_be_sidecar,
    decide,
    ignore_reason,
    media_type,
    route,
    sidecar_owner,
    sidecar_path,
)

from .schemas import STUDIO, make_folder

# -- media types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        *[(f"a.{e}", "imageUrl") for e in ["png", "jpg", "jpeg", "webp", "gif", "avif", "heic"]],
        *[(f"a.{e}", "imageUrl") for e in ["heif", "bmp", "tif", "tiff"]],
        *[(f"a.{e}", "videoUrl") for e in ["mp4", "mov", "webm", "m4v", "mkv", "avi"]],
        *[(f"a.{e}", "audioUrl") for e in ["mp3", "wav", "ogg", "m4a", "flac"]],
        ("a.txt", "text"),
        ("a.md", "text"),
        ("a.pdf", "documentUrl"),
        ("PHOTO.JPG", "imageUrl"),
        ("archive.tar.gz", None),
        ("noextension", None),
        ("a.png.zip", None),
    ],
)
def test_media_type(name: str, expected: str | None) -> None:
    assert media_type(PurePath(name)) == expected


# -- ignoring --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("photo.png.part", "*.part"),
        ("photo.png.crdownload", "*.crdownload"),
        ("photo.png.download", "*.download"),
        ("video.mp4.partial", "*.partial"),
        ("a.tmp", "*.tmp"),
        ("A.TMP", "*.tmp"),
        ("~$brief.docx", "~$*"),
        (".~lock.brief.odt#", ".~lock*"),
        (".DS_Store", ".DS_Store"),
        ("Thumbs.db", "Thumbs.db"),
        ("thumbs.DB", "Thumbs.db"),
        ("desktop.ini", "desktop.ini"),
        ("notes.txt~", "*~"),
        (".notes.txt.swp", "*.swp"),
        ("._photo.png", "._*"),
        (".photo.png.icloud", ".*"),
        (".hidden", ".*"),
    ],
)
def test_junk_is_ignored(name: str, pattern: str) -> None:
    assert pattern in JUNK_PATTERNS
    assert ignore_reason(PurePath(name), make_folder(technique="cctv-cam")) == (
        f"a temporary, hidden or system file ({pattern!r})"
    )


@pytest.mark.parametrize(
    "name", ["photo.png", "part.png", "my.partial-view.png", "tmp", "Desk top.ini.png"]
)
def test_ordinary_files_are_not_ignored(name: str) -> None:
    assert ignore_reason(PurePath(name), make_folder(technique="cctv-cam")) is None


def test_subfolders() -> None:
    flat = make_folder(technique="cctv-cam")
    deep = make_folder(technique="cctv-cam", recursive=True)
    assert (
        ignore_reason(PurePath("sub/photo.png"), flat)
        == "in a subfolder, and the folder is not recursive"
    )
    assert ignore_reason(PurePath("sub/photo.png"), deep) is None
    assert ignore_reason(PurePath(".git/objects/ab"), deep) == "in a hidden folder (.git)"
    assert ignore_reason(PurePath("a/.cache/photo.png"), deep) == "in a hidden folder (.cache)"


def test_ignore_patterns() -> None:
    f = make_folder(technique="cctv-cam", recursive=True, ignore=["*_draft.*", "raw/*", "old"])
    assert ignore_reason(PurePath("cover_DRAFT.png"), f) == "matches ignore pattern '*_draft.*'"
    assert ignore_reason(PurePath("raw/photo.png"), f) == "matches ignore pattern 'raw/*'"
    assert ignore_reason(PurePath("raw/deeper/photo.png"), f) == "matches ignore pattern 'raw/*'"
    assert ignore_reason(PurePath("2024/old/photo.png"), f) == "matches ignore pattern 'old'"
    assert ignore_reason(PurePath("cooked/photo.png"), f) is None
    assert ignore_reason(PurePath("photo.png"), f) is None


# -- choosing a rule --------------------------------------------------------------------------


def test_the_first_matching_rule_wins_and_the_folder_technique_is_last() -> None:
    f = make_folder(
        technique="art-directors-critique",
        rules=[
            {"match": ["night-*.jpg", "night-*.png"], "technique": "cctv-cam"},
            {"match": ["*.png", "*.jpg"], "technique": "palette-pull"},
            {"match": "*.txt", "technique": "icon-pack"},
        ],
    )
    assert choose_rule(PurePath("night-street.jpg"), f) == f.rules[0]
    assert choose_rule(PurePath("NIGHT-Street.JPG"), f) == f.rules[0]
    assert choose_rule(PurePath("street.jpg"), f) == f.rules[1]
    assert choose_rule(PurePath("brief.txt"), f) == f.rules[2]
    assert choose_rule(PurePath("clip.mp4"), f) == Rule(technique="art-directors-critique")


def test_no_rule_matches() -> None:
    f = make_folder(technique="cctv-cam", match=["*.png"])
    assert choose_rule(PurePath("photo.png"), f) is not None
    assert choose_rule(PurePath("photo.jpg"), f) is None


def test_rules_with_a_slash_match_the_path() -> None:
    f = make_folder(
        recursive=True, rules=[{"match": "icons/*", "technique": "icon-pack"}], technique="cctv-cam"
    )
    assert choose_rule(PurePath("icons/set.txt"), f) == f.rules[0]
    assert choose_rule(PurePath("set.txt"), f) == Rule(technique="cctv-cam")


# -- sidecars and the whole decision ------------------------------------------------------


def test_sidecar_path() -> None:
    assert sidecar_path(PurePath("a/photo.png"), ".txt") == PurePath("a/photo.txt")
    assert sidecar_path(PurePath("clip.mp4"), ".prompt.md") == PurePath("clip.prompt.md")


def test_a_sidecar_belongs_to_its_photo() -> None:
    f = make_folder(**STUDIO)
    assert (
        sidecar_owner(PurePath("photo.txt"), ["photo.png", "photo.txt", "x.jpg"], f) == "photo.png"
    )
    assert sidecar_owner(PurePath("clip.prompt.md"), ["clip.mp4"], f) == "clip.mp4"
    assert sidecar_owner(PurePath("photo.txt"), ["other.png"], f) is None
    assert (
        sidecar_owner(PurePath("clip.txt"), ["clip.mp4"], f) is None
    )  # the video rule reads .prompt.md
    assert sidecar_owner(PurePath("photo.txt"), ["photo.png.part"], f) is None  # junk owns nothing
    assert sidecar_owner(
        PurePath("sub/photo.txt"), ["photo.png"], make_folder(recursive=True, **STUDIO)
    ) == ("photo.png")


def test_without_sidecar_bindings_a_text_file_is_its_own_job() -> None:
    f = make_folder(
        rules=[
            {"match": "*.png", "technique": "cctv-cam"},
            {"match": "*.txt", "technique": "icon-pack"},
        ]
    )
    assert sidecar_owner(PurePath("photo.txt"), ["photo.png"], f) is None
    assert not could_be_sidecar(PurePath("photo.txt"), f)


def test_could_be_sidecar() -> None:
    f = make_folder(**STUDIO)
    assert could_be_sidecar(PurePath("photo.TXT"), f)
    assert could_be_sidecar(PurePath("clip.prompt.md"), f)
    assert not could_be_sidecar(PurePath("photo.png"), f)
    assert not could_be_sidecar(PurePath(".txt"), f)


def test_decide() -> None:
    f = make_folder(**STUDIO)
    listed: list[str] = []

    def siblings() -> list[str]:
        listed.append("listed")
        return ["photo.png", "photo.txt", "brief.txt", "x.part"]

    assert decide(PurePath("x.part"), f, siblings) == Decision(
        "ignore", "a temporary, hidden or system file ('*.part')"
    )
    assert decide(PurePath("photo.txt"), f, siblings) == Decision(
        "sidecar", "the sidecar of photo.png", owner="photo.png"
    )
    # brief.txt could be a sidecar by its name (its owner is not there): a job, flagged so
    # admission can wait a little for an owner that is still arriving.
    assert decide(PurePath("brief.txt"), f, siblings) == Decision(
        "job", "*.txt -> icon-pack", rule=f.rules[2], rule_index=2, maybe_sidecar=True
    )
    assert len(listed) == 2  # the folder was listed only for the two names that could be
    png = decide(PurePath("photo.png"), f, siblings)
    assert (png.action, png.rule, png.rule_index, png.maybe_sidecar) == (
        "job",
        f.rules[0],
        0,
        False,
    )
    assert decide(PurePath("notes.pdf"), f, siblings) == Decision(
        "no_rule", "no rule of this folder matches 'notes.pdf'"
    )
    assert len(listed) == 2  # names that cannot be sidecars never list the folder


def test_the_decision_order_is_ignore_then_rule_then_sidecar() -> None:
    """The order the watcher + admission and the dry run share: a sidecar name no rule takes is
    "no rule" (nothing lists its folder), and the rule's place is the first match's."""
    f = make_folder(
        rules=[{"match": "*.png", "technique": "cctv-cam", "inputs": {"prompt": "sidecar"}}]
    )

    def never() -> list[str]:
        raise AssertionError("listed the folder for a file no rule takes")

    assert decide(PurePath("photo.txt"), f, never).action == "no_rule"
    assert decide(PurePath(".photo.png"), f, never).action == "ignore"
    twice = make_folder(
        rules=[
            {"match": "*.png", "technique": "cctv-cam"},
            {"match": "*.png", "technique": "cctv-cam"},
        ]
    )
    assert decide(PurePath("a.png"), twice).rule_index == 0


def test_route_is_decide_after_the_ignore_check() -> None:
    """Admission routes what the watcher screened: for every name that is not ignored, route
    and decide agree; route does not check junk again (that is the watcher's one check)."""
    f = make_folder(**STUDIO)
    names = ["photo.png", "photo.txt", "brief.txt", "clip.mp4", "clip.prompt.md", "notes.pdf"]
    for name in names:
        assert route(PurePath(name), f, lambda: names) == decide(PurePath(name), f, lambda: names)
    assert decide(PurePath("photo.png.part"), f).action == "ignore"
    assert route(PurePath("photo.png.part"), f).action == "no_rule"  # not screened again
