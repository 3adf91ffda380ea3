"""Dropped links: reading shortcut files and refusing URLs FLORA must not be sent to."""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest

from floradrop.config import parse_config
from floradrop.errors import JobError
from floradrop.flora.models import IMAGE, VIDEO, IOSpec, Technique
from floradrop.pipeline.links import check_url, dropped_link, read_link


def folder(tmp_path: Path, **extra: object):  # type: ignore[no-untyped-def]
    table = {"path": str(tmp_path / "in"), "technique": "cctv-cam", "links": True} | extra
    return parse_config({"folders": [table]}).folders[0]


def test_the_three_kinds_of_link_file_are_read(tmp_path: Path) -> None:
    url = "https://media.example.com/shots/a%20b.png?v=2"
    (tmp_path / "a.url").write_text(f"[InternetShortcut]\r\nURL={url}\r\nIconIndex=0\r\n")
    (tmp_path / "b.webloc").write_bytes(plistlib.dumps({"URL": url}))
    (tmp_path / "c.txt").write_text(f"\ufeff  {url}\n")
    for name in ("a.url", "b.webloc", "c.txt"):
        assert read_link(tmp_path / name) == url, name


def test_a_txt_that_is_not_one_url_is_text_and_a_broken_shortcut_is_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "prompt.txt").write_text("make it pop https://example.com/x.png")
    assert read_link(tmp_path / "prompt.txt") is None
    (tmp_path / "empty.url").write_text("[InternetShortcut]\n")
    with pytest.raises(JobError, match="holds no URL"):
        read_link(tmp_path / "empty.url")
    (tmp_path / "bad.webloc").write_bytes(b"not a plist")
    with pytest.raises(JobError, match=r"bad\.webloc"):
        read_link(tmp_path / "bad.webloc")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/a.png", "loopback"),
        ("https://localhost:8443/a.png", "loopback"),
        ("https://10.1.2.3/a.png", "private"),
        ("https://192.168.0.10/a.png", "private"),
        ("https://[::1]/a.png", "loopback"),
        ("https://[fe80::1]/a.png", "link-local"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://metadata.google.internal/x", "metadata"),
        ("https://[::ffff:127.0.0.1]/a.png", "loopback"),
        ("https://100.64.1.1/a.png", "private"),
        ("http://8.8.8.8/a.png", "http"),
        ("ftp://example.com/a.png", "https"),
        ("https://user:pw@example.com/a.png", "password"),
    ],
)
def test_links_to_places_flora_must_not_fetch_are_refused(url: str, why: str) -> None:
    with pytest.raises(JobError) as caught:
        check_url(url, allow_private=False, what="x.url")
    text = f"{caught.value.message} {caught.value.hint}"
    assert why in text and "x.url" in text


def test_a_folder_may_allow_private_links_but_never_metadata(tmp_path: Path) -> None:
    check_url("http://127.0.0.1:8000/a.png", allow_private=True)
    check_url("https://192.168.1.5/a.png", allow_private=True)
    with pytest.raises(JobError, match="metadata"):
        check_url("http://169.254.169.254/", allow_private=True)
    with pytest.raises(JobError, match="http"):
        check_url("http://8.8.8.8/a.png", allow_private=True)


def test_dropped_link_checks_and_types_the_url(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shortcut = tmp_path / "in" / "clip.url"
    shortcut.write_text("[InternetShortcut]\nURL=http://127.0.0.1:9/clip.MP4\n")
    with pytest.raises(JobError, match="loopback") as caught:
        dropped_link(shortcut, folder(tmp_path))
    assert "allow_private_links" in (caught.value.hint or "")
    link = dropped_link(shortcut, folder(tmp_path, allow_private_links=True))
    assert link is not None and link.url.endswith("clip.MP4")
    technique = Technique(
        technique_id="tech_1",
        slug="t",
        name="t",
        run_cost=0.1,
        inputs=(IOSpec(id="img", name="img", type=IMAGE),),
        outputs=(),
    )
    assert link.media_type(technique) == VIDEO
    shortcut.write_text("[InternetShortcut]\nURL=http://127.0.0.1:9/render?id=3\n")
    other = dropped_link(shortcut, folder(tmp_path, allow_private_links=True))
    assert other is not None and other.media_type(technique) == IMAGE  # the main input's type
    assert dropped_link(shortcut, folder(tmp_path, links=False)) is None
