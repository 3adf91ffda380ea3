"""Downloads: streamed to the caller's path, never with the key, refused when unsafe."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from floradrop.errors import TransientError
from floradrop.flora import DownloadError, FloraClient, NetworkError, ServerError

from .conftest import FakeFlora, Sleeps

MEDIA = "https://media.test/out/o1.png"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 1000


def test_download_streams_to_the_path_without_the_key(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("GET", MEDIA, httpx.Response(200, content=PNG, headers={"content-type": "image/png"}))
    dest = tmp_path / "o1.png.part"
    progress: list[tuple[int, int | None]] = []
    result = client.download(MEDIA, dest, on_progress=lambda *a: progress.append(a))
    assert dest.read_bytes() == PNG
    assert (result.path, result.content_type, result.size_bytes) == (
        str(dest),
        "image/png",
        len(PNG),
    )
    assert progress[-1] == (len(PNG), len(PNG))
    [get] = fake.seen
    assert "authorization" not in get.headers


def test_download_from_the_api_host_still_has_no_key(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    url = f"{client.base_url}/files/o1.png"
    fake.on("GET", url, httpx.Response(200, content=b"x"))
    client.download(url, tmp_path / "o1")
    assert "authorization" not in fake.seen[0].headers


@pytest.mark.parametrize(
    "url",
    [
        "http://media.test/o.png",
        "ftp://media.test/o.png",
        "file:///etc/passwd",
        "https://user:pw@media.test/o.png",
        "not a url at all",
    ],
)
def test_unsafe_urls_are_refused(
    fake: FakeFlora, client: FloraClient, tmp_path: Path, url: str
) -> None:
    with pytest.raises(DownloadError):
        client.download(url, tmp_path / "x")
    assert fake.seen == []
    assert not (tmp_path / "x").exists()


def test_http_on_loopback_is_allowed(fake: FakeFlora, client: FloraClient, tmp_path: Path) -> None:
    fake.on("GET", "http://127.0.0.1:8765/_media/o.png", httpx.Response(200, content=b"ok"))
    client.download("http://127.0.0.1:8765/_media/o.png", tmp_path / "o")
    assert (tmp_path / "o").read_bytes() == b"ok"


def test_too_large_by_content_length_is_refused_before_writing(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("GET", MEDIA, httpx.Response(200, content=PNG))
    dest = tmp_path / "o.part"
    with pytest.raises(DownloadError, match="larger than the limit"):
        client.download(MEDIA, dest, max_bytes=100)
    assert not dest.exists()


def test_too_large_while_streaming_deletes_the_partial_file(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b"x" * 10_000

    fake.on("GET", MEDIA, lambda request: httpx.Response(200, content=chunks()))  # no length
    dest = tmp_path / "o.part"
    with pytest.raises(DownloadError, match="larger than the limit"):
        client.download(MEDIA, dest, max_bytes=55_000)
    assert not dest.exists()


def test_redirects_are_followed_and_checked(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("GET", MEDIA, httpx.Response(302, headers={"location": "https://cdn.test/real.png"}))
    fake.on("GET", "https://cdn.test/real.png", httpx.Response(200, content=b"real"))
    client.download(MEDIA, tmp_path / "o")
    assert (tmp_path / "o").read_bytes() == b"real"
    assert all("authorization" not in s.headers for s in fake.seen)

    fake.on("GET", MEDIA, httpx.Response(302, headers={"location": "http://cdn.test/real.png"}))
    with pytest.raises(DownloadError, match="plain http"):
        client.download(MEDIA, tmp_path / "p")


def test_redirect_loops_end(fake: FakeFlora, client: FloraClient, tmp_path: Path) -> None:
    fake.on("GET", MEDIA, httpx.Response(302, headers={"location": MEDIA}))
    with pytest.raises(DownloadError, match="redirects more than"):
        client.download(MEDIA, tmp_path / "o")


def test_gone_output_is_a_download_error(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("GET", MEDIA, httpx.Response(404))
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        client.download(MEDIA, tmp_path / "o")
    assert info.value.status_code == 404
    assert len(fake.seen) == 1


def test_server_errors_are_retried_then_transient(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    fake.on("GET", MEDIA, httpx.Response(503), httpx.Response(200, content=b"ok"))
    client.download(MEDIA, tmp_path / "o")
    assert len(sleeps.calls) == 1

    fake.on("GET", MEDIA, httpx.Response(500))
    with pytest.raises(ServerError, match=r"media\.test"):
        client.download(MEDIA, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_broken_body_is_downloaded_again(
    fake: FakeFlora, client: FloraClient, sleeps: Sleeps, tmp_path: Path
) -> None:
    class Breaks(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"half"
            raise httpx.ReadError("connection reset")

    fake.on(
        "GET",
        MEDIA,
        lambda request: httpx.Response(200, stream=Breaks()),
        httpx.Response(200, content=b"whole file"),
    )
    client.download(MEDIA, tmp_path / "o")
    assert (tmp_path / "o").read_bytes() == b"whole file"

    fake.on("GET", MEDIA, lambda request: httpx.Response(200, stream=Breaks()))
    with pytest.raises(NetworkError, match="broke off"):
        client.download(MEDIA, tmp_path / "p")
    assert not (tmp_path / "p").exists()


def test_unwritable_destination_is_reported(
    fake: FakeFlora, client: FloraClient, tmp_path: Path
) -> None:
    fake.on("GET", MEDIA, httpx.Response(200, content=b"x"))
    with pytest.raises(TransientError, match="Cannot write the output"):
        client.download(MEDIA, tmp_path / "missing-dir" / "o")
