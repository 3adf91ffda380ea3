from __future__ import annotations

from pathlib import Path

import pytest

from floradrop.files import (
    clean_temp_files,
    move_no_clobber,
    numbered,
    place,
    sanitize_component,
    temp_path,
    truncate_name,
    write_text_atomic,
)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("../../etc/passwd", "_.._etc_passwd"),
        ("a/b\\c.png", "a_b_c.png"),
        ("CON.png", "_CON.png"),
        ("nul", "_nul"),
        ("..", "output"),
        ("-rf.png", "rf.png"),
        ("C:\\x.png", "C__x.png"),
        ("line\nbreak.png", "line_break.png"),
    ],
)
def test_sanitize_component(raw: str, safe: str) -> None:
    assert sanitize_component(raw) == safe
    assert "/" not in sanitize_component(raw) and "\\" not in sanitize_component(raw)


def test_truncate_keeps_extension_and_utf8() -> None:
    name = "é" * 300 + ".png"
    short = truncate_name(name)
    assert short.endswith(".png") and len(short.encode()) <= 215
    short.encode("utf-8").decode("utf-8")


def test_place_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "out.png").write_text("mine")
    temp = temp_path(tmp_path, "x")
    temp.write_text("new")
    final = place(temp, tmp_path, "out.png")
    assert final.name == numbered("out.png", 2) == "out (2).png"
    assert (tmp_path / "out.png").read_text() == "mine"
    assert final.read_text() == "new" and not temp.exists()


def test_move_no_clobber_and_finishing_a_half_done_move(tmp_path: Path) -> None:
    src = tmp_path / "in" / "a.png"
    src.parent.mkdir()
    src.write_text("A")
    done = tmp_path / "done"
    done.mkdir()
    (done / "a.png").write_text("older")
    moved = move_no_clobber(src, done)
    assert moved.name == "a (2).png" and moved.read_text() == "A" and not src.exists()
    # a crash between link and unlink leaves two names for one file: finishing keeps one
    src.write_text("B")
    (done / "b.png").hardlink_to(src)
    assert move_no_clobber(src, done, "b.png") == done / "b.png"
    assert not src.exists() and (done / "b.png").read_text() == "B"


def test_write_text_atomic_and_cleanup(tmp_path: Path) -> None:
    report = write_text_atomic(tmp_path, "a.png.error.txt", "boom")
    assert report.read_text() == "boom"
    temp_path(tmp_path, "leftover").write_text("partial")
    assert clean_temp_files(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.png.error.txt"]
