"""Completeness checks per declared type, and the settler's use of them against real writer
patterns (bursts, truncate-and-rewrite, several writers), with a hand-driven clock."""

from __future__ import annotations

import io
import os
import struct
import time
from pathlib import Path

import pytest
from PIL import Image

from floradrop.pipeline import complete
from floradrop.pipeline.settle import ReadyFile, Settler, incomplete_grace

QUIET = 1.0


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG", quality=80)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (20, 30, 200)).save(out, "PNG")
    return out.getvalue()


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (16, 16)).save(out, "GIF")
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "WEBP")
    return out.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mp4(*, moov: bool = True, moov_first: bool = False) -> bytes:
    ftyp = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    mdat = box(b"mdat", b"\x00" * 3000)
    moov_box = box(b"moov", box(b"mvhd", b"\x00" * 100)) if moov else b""
    return ftyp + (moov_box + mdat if moov_first else mdat + moov_box)


def verdict(tmp_path: Path, name: str, data: bytes) -> complete.Completeness:
    path = tmp_path / name
    path.write_bytes(data)
    return complete.check(str(path))


@pytest.mark.parametrize(
    ("name", "make"),
    [("a.jpg", jpeg), ("a.png", png), ("a.webp", webp), ("a.mp4", mp4)],
)
def test_whole_media_is_complete_and_every_cut_is_not(tmp_path: Path, name: str, make) -> None:  # type: ignore[no-untyped-def]
    data = make()
    assert verdict(tmp_path, name, data) is complete.COMPLETE
    for cut in sorted({16, len(data) // 3, len(data) // 2, len(data) - 9, len(data) - 1}):
        assert verdict(tmp_path, name, data[:cut]) is complete.INCOMPLETE, (name, cut)


def test_mp4_needs_its_moov_atom_wherever_it_is(tmp_path: Path) -> None:
    assert verdict(tmp_path, "a.mov", mp4(moov_first=True)) is complete.COMPLETE
    assert verdict(tmp_path, "a.mov", mp4(moov=False)) is complete.INCOMPLETE
    # faststart files: moov first, then mdat cut short
    data = mp4(moov_first=True)
    assert verdict(tmp_path, "a.mp4", data[:-100]) is complete.INCOMPLETE


def test_utf8_cut_inside_a_character_is_incomplete(tmp_path: Path) -> None:
    text = "un café rouge — ✨".encode()
    assert verdict(tmp_path, "p.txt", text) is complete.UNKNOWN  # text proves nothing
    assert verdict(tmp_path, "p.txt", text[:-1]) is complete.INCOMPLETE  # inside ✨
    assert verdict(tmp_path, "p.txt", text[:-2]) is complete.INCOMPLETE
    assert verdict(tmp_path, "p.txt", b"un caf" + "é".encode()[:1]) is complete.INCOMPLETE
    assert verdict(tmp_path, "p.txt", b"plain ascii") is complete.UNKNOWN


def test_files_that_are_not_what_their_name_says_are_left_to_the_precheck(
    tmp_path: Path,
) -> None:
    assert verdict(tmp_path, "a.png", b"not a png at all") is complete.UNKNOWN
    assert verdict(tmp_path, "a.jpg", b"GIF89a....") is complete.UNKNOWN
    assert verdict(tmp_path, "a.docx", b"PK\x03\x04") is complete.UNKNOWN
    assert complete.check(str(tmp_path / "missing.png")) is complete.UNKNOWN


# -- the settler against writer patterns (hand-driven clock, real files) -------------------------


class Clocked:
    """A settler, a file and a clock: write bursts at given times, see when it is reported."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.now = 0.0
        self.base = time.time()
        # The wall clock follows the hand clock, and each write stamps the file's mtime with it.
        self.settler = Settler(wall_clock=lambda: self.base + self.now)
        self.ready: list[tuple[float, ReadyFile]] = []

    def advance(self, until: float, step: float = 0.01) -> None:
        while self.now < until - 1e-9:
            self.now = round(self.now + step, 6)
            self.ready += [(self.now, r) for r in self.settler.run_due(self.now)]

    def write(self, data: bytes, *, mode: str = "ab", closed: bool = True) -> None:
        with self.path.open(mode) as handle:
            handle.write(data)
        os.utime(self.path, (self.base + self.now, self.base + self.now))
        rel = self.path.name
        self.settler.activity("k", str(self.path), rel, self.now, quiet=QUIET)  # modified
        if closed:
            self.settler.activity("k", str(self.path), rel, self.now, quiet=QUIET, closed=True)


def test_a_prompt_appended_in_bursts_settles_once_on_its_final_text(tmp_path: Path) -> None:
    c = Clocked(tmp_path / "slow prompt.txt")
    words = ["a", " red", " fox", " on", " a", " green", " hill", " at", " dawn", " ."]
    for word in words:
        c.write(word.encode())
        c.advance(c.now + 0.5)
    c.advance(c.now + 3.0)
    assert [r.size for _, r in c.ready] == [len("".join(words))]
    assert c.ready[0][0] >= 4.5 + QUIET - 0.5  # the last close + the quiet period


def test_a_jpeg_in_bursts_with_gaps_longer_than_settle_waits_for_its_end(tmp_path: Path) -> None:
    data = jpeg()
    c = Clocked(tmp_path / "photo.jpg")
    chunks = [data[i : i + len(data) // 4 + 1] for i in range(0, len(data), len(data) // 4 + 1)]
    for chunk in chunks:
        c.write(chunk)
        c.advance(c.now + 2.5 * QUIET)  # gaps well past settle_seconds
    assert [r.size for _, r in c.ready] == [len(data)]
    last_close = 2.5 * QUIET * (len(chunks) - 1)
    assert c.ready[0][0] - last_close < 0.2  # whole: the close-write fast path


def test_truncate_and_rewrite_settles_on_the_second_version(tmp_path: Path) -> None:
    first, second = png(), jpeg()
    c = Clocked(tmp_path / "saved twice.png")
    c.write(first[: len(first) // 2], mode="wb")  # the editor's first, interrupted save
    c.advance(1.7)
    c.write(b"", mode="wb", closed=False)  # truncated
    c.advance(1.9)
    c.write(first, mode="wb")
    c.advance(5.0)
    assert [r.size for _, r in c.ready] == [len(first)]
    assert c.ready[0][0] < 1.9 + 0.2
    assert second  # (a JPEG under a .png name is the precheck's business, not tested here)


def test_several_writers_in_turn_within_settle_seconds_make_one_ready_file(
    tmp_path: Path,
) -> None:
    c = Clocked(tmp_path / "notes.md")
    for n, part in enumerate([b"# title\n", b"written by a\n", b"then b\n"]):
        c.write(part)
        c.advance(c.now + 0.3 + 0.2 * n)
    c.advance(c.now + 2.0)
    assert [r.size for _, r in c.ready] == [len(b"# title\nwritten by a\nthen b\n")]


def test_a_file_cut_short_for_ever_is_reported_after_the_grace(tmp_path: Path) -> None:
    data = jpeg()
    c = Clocked(tmp_path / "broken.jpg")
    c.write(data[: len(data) // 2])
    c.advance(incomplete_grace(QUIET) - 0.5)
    assert c.ready == []
    c.advance(incomplete_grace(QUIET) + 2 * QUIET)
    assert [r.size for _, r in c.ready] == [len(data) // 2]


def test_a_renamed_temp_file_is_fast_even_for_text(tmp_path: Path) -> None:
    settler = Settler()
    part = tmp_path / "prompt.txt.part"
    final = tmp_path / "prompt.txt"
    final.write_text("a whole prompt")
    settler.note_closed(str(part), 0.0)
    closed = settler.take_closed(str(part), 0.01)
    settler.activity("k", str(final), "prompt.txt", 0.01, quiet=QUIET, closed=closed, renamed=True)
    ready = [r for t in range(1, 30) for r in settler.run_due(t / 100)]
    assert [r.size for r in ready] == [len("a whole prompt")]


def test_data_after_a_whole_image_is_not_a_cut(tmp_path: Path) -> None:
    """A phone's motion photo is a JPEG with a video after its end marker; PNGs may carry
    trailing bytes too. Whole images, not cut short."""
    video = mp4()
    assert verdict(tmp_path, "motion.jpg", jpeg() + video) is complete.COMPLETE
    assert verdict(tmp_path, "extra.png", png() + b"\x00trailing" * 1000) is complete.COMPLETE
    cut = (jpeg() + video)[: len(jpeg()) // 2]
    assert verdict(tmp_path, "cut.jpg", cut) is complete.INCOMPLETE


def test_a_jpeg_with_an_exif_thumbnail_cut_after_the_thumbnail_is_incomplete(
    tmp_path: Path,
) -> None:
    thumb = jpeg()  # a whole JPEG inside APP1, with its own end marker
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumb) + 8) + b"Exif\x00\x00" + thumb
    main = jpeg()
    data = main[:2] + app1 + main[2:]
    assert verdict(tmp_path, "exif.jpg", data) is complete.COMPLETE
    cut = data[: len(data) - len(main) // 2]
    assert verdict(tmp_path, "exif.jpg", cut) is complete.INCOMPLETE


def test_a_gif_is_proven_whole_by_its_trailer_but_a_cut_is_only_unknown(tmp_path: Path) -> None:
    data = gif()
    assert verdict(tmp_path, "a.gif", data) is complete.COMPLETE
    assert verdict(tmp_path, "a.gif", data[: len(data) // 2]) is complete.UNKNOWN
