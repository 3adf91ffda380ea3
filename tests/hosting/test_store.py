"""The bucket side of hosting, against a real S3 server (moto): content-addressed objects,
resumable multipart uploads, links that hold no secret, and the `check`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from loguru import logger

from floradrop.config.hosting import HostingSettings
from floradrop.errors import Interrupted
from floradrop.flora.models import RunInput
from floradrop.hosting import Hosting, StorageError, open_store
from floradrop.hosting.store import MULTIPART_THRESHOLD, PART_SIZE
from floradrop.logs import redact

from .conftest import ACCESS_KEY, S3, SECRET_KEY, big_file


def settings(s3: S3, **extra: object) -> HostingSettings:
    return HostingSettings(endpoint=s3.endpoint, bucket=s3.bucket, **extra)  # type: ignore[arg-type]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_bytes_make_one_object_and_are_not_sent_twice(s3: S3, tmp_path: Path) -> None:
    store = open_store(settings(s3), tmp_path / "state")
    one = tmp_path / "a.png"
    one.write_bytes(b"\x89PNG same bytes")
    two = tmp_path / "b.PNG"
    two.write_bytes(one.read_bytes())
    key = store.ensure(one, digest(one), content_type="image/png")
    again = store.ensure(two, digest(two), content_type="image/png")
    assert key == again == f"floradrop/{digest(one)}.png"
    assert s3.keys() == [key]
    stat = s3.client.stat_object(s3.bucket, key)
    assert stat.content_type == "image/png" and stat.size == one.stat().st_size


def test_a_link_holds_no_secret_and_signs_to_a_working_url(s3: S3, tmp_path: Path) -> None:
    store = open_store(settings(s3, url_ttl_hours=2), tmp_path / "state")
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"jpeg bytes " * 100)
    key = store.ensure(path, digest(path), content_type="image/jpeg")
    link = store.link(key, when=datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
    query = parse_qs(urlsplit(link).query)
    assert query["X-Amz-Date"] == ["20261204T100000Z"] and query["X-Amz-Expires"] == ["7200"]
    assert "X-Amz-Signature" not in query and "X-Amz-Credential" not in query
    assert ACCESS_KEY not in link and SECRET_KEY not in link
    assert store.is_link(link) and not store.is_link("https://example.com/a.png")
    signed = store.sign(link)
    assert signed == store.sign(link), "signing is deterministic (same create body on resume)"
    assert parse_qs(urlsplit(signed).query)["X-Amz-Signature"]
    fresh = store.sign(store.link(key))
    response = httpx.get(fresh)
    assert response.status_code == 200 and response.content == path.read_bytes()
    assert "X-Amz-Signature=[REDACTED]" in redact(f"GET {fresh}")
    assert parse_qs(urlsplit(fresh).query)["X-Amz-Signature"][0] not in redact(f"GET {fresh}")


def test_hosting_signs_only_its_own_links(s3: S3, tmp_path: Path) -> None:
    hosting = Hosting(tmp_path / "state", lambda: settings(s3))
    try:
        path = tmp_path / "v.mp4"
        path.write_bytes(b"video")
        store = hosting.store()
        link = store.link(store.ensure(path, digest(path), content_type="video/mp4"))
        text = RunInput("prompt", "text", "X-Amz-Date=1 but just text")
        signed = hosting.sign_inputs(
            [RunInput("v", "videoUrl", link), RunInput("w", "imageUrl", "https://a/b.png"), text]
        )
        assert "X-Amz-Signature=" in signed[0].value
        assert signed[1:] == [RunInput("w", "imageUrl", "https://a/b.png"), text]
    finally:
        hosting.close()


def test_an_interrupted_multipart_upload_resumes_without_resending_parts(
    s3: S3, tmp_path: Path
) -> None:
    store = open_store(settings(s3), tmp_path / "state")
    path = big_file(tmp_path / "big.mp4", MULTIPART_THRESHOLD + 2 * PART_SIZE + 12345)
    sums = digest(path)
    sent: list[int] = []

    def stop_after_two(done: int, total: int) -> None:
        sent.append(done)
        if len(sent) == 2:
            raise Interrupted("stopping")

    with pytest.raises(Interrupted):
        store.ensure(path, sums, content_type="video/mp4", on_progress=stop_after_two)
    [(key, upload_id)] = s3.uploads_in_progress()
    assert s3.parts(key, upload_id) == 2 and s3.keys() == []

    lines: list[str] = []
    sink = logger.add(lines.append, format="{message}")
    try:
        # A new store (a restart) reads the upload id from the ledger and sends the rest.
        again = open_store(settings(s3), tmp_path / "state")
        assert again.ensure(path, sums, content_type="video/mp4") == key
    finally:
        logger.remove(sink)
    assert any("2 part(s) already in the bucket" in line for line in lines), lines
    assert s3.keys() == [key] and s3.uploads_in_progress() == []
    assert s3.client.get_object(s3.bucket, key).read() == path.read_bytes()


def test_check_passes_on_a_good_bucket_and_names_a_missing_one(s3: S3, tmp_path: Path) -> None:
    def fetch(url: str) -> bytes:
        return httpx.get(url).raise_for_status().content

    open_store(settings(s3), tmp_path / "state").check(fetch)
    assert s3.keys() == [], "the test object is removed"
    missing = HostingSettings(endpoint=s3.endpoint, bucket="no-such-bucket")
    with pytest.raises(StorageError, match="no-such-bucket"):
        open_store(missing, tmp_path / "state").check(fetch)


def test_missing_credentials_say_where_to_put_them(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    hosting = Hosting(tmp_path / "state", lambda: settings(s3))
    with pytest.raises(StorageError, match="no credentials") as caught:
        hosting.store()
    assert "AWS_ACCESS_KEY_ID" in (caught.value.hint or "")
    assert "config" in (caught.value.hint or "")
    (tmp_path / "creds").write_text(
        f"[studio]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "creds"))
    store = open_store(settings(s3, profile="studio"), tmp_path / "state")
    assert "studio" in repr(store._credentials) and SECRET_KEY not in repr(store._credentials)
    hosting.close()


def test_clean_up_removes_objects_unused_for_the_set_days(s3: S3, tmp_path: Path) -> None:
    store = open_store(settings(s3, cleanup_days=1), tmp_path / "state")
    path = tmp_path / "old.png"
    path.write_bytes(b"old")
    key = store.ensure(path, digest(path), content_type="image/png")
    assert s3.keys() == [key]
    with store.ledger._lock:  # last used two days ago
        store.ledger._conn.execute("UPDATE objects SET last_used_at = last_used_at - 172800")
    store._next_cleanup = 0.0
    store.maybe_cleanup()
    assert s3.keys() == []


def test_a_signature_echoed_in_a_run_error_is_not_journaled_or_reported() -> None:
    from floradrop.pipeline.fileaway import Failure

    url = "https://s3.example.com/b/k.png?X-Amz-Date=1&X-Amz-Signature=0123456789abcdef"
    failure = Failure(f"the run failed: cannot fetch {url}", "x", "input_unreachable", url)
    assert "0123456789abcdef" not in failure.message + (failure.flora_message or "")
    assert "X-Amz-Signature=[REDACTED]" in failure.message


def test_credentials_from_the_os_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring
    from keyring.backend import KeyringBackend

    from floradrop.hosting.credentials import KEYRING_SERVICE, resolve_credentials

    class Memory(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def __init__(self) -> None:
            super().__init__()
            self.stored: dict[tuple[str, str], str] = {}

        def get_password(self, service: str, username: str) -> str | None:
            return self.stored.get((service, username))

        def set_password(self, service: str, username: str, password: str) -> None:
            self.stored[(service, username)] = password

        def delete_password(self, service: str, username: str) -> None:
            self.stored.pop((service, username), None)

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    previous = keyring.get_keyring()
    keyring.set_keyring(Memory())
    try:
        hosting = HostingSettings(endpoint="https://s3.example.com", bucket="studio")
        keyring.set_password(KEYRING_SERVICE, "https://s3.example.com access_key_id", "AKIAK")
        keyring.set_password(
            KEYRING_SERVICE, "https://s3.example.com secret_access_key", "kr-secret-123456"
        )
        found = resolve_credentials(hosting)
        assert (found.access_key, found.secret_key, found.source) == (
            "AKIAK",
            "kr-secret-123456",
            "the OS keyring",
        )
        assert redact("key kr-secret-123456 here") == "key [REDACTED] here"
    finally:
        keyring.set_keyring(previous)


def test_an_upload_left_unfinished_for_a_week_is_aborted(s3: S3, tmp_path: Path) -> None:
    store = open_store(settings(s3), tmp_path / "state")
    path = big_file(tmp_path / "gone.mp4", MULTIPART_THRESHOLD + 1)

    def stop(done: int, total: int) -> None:
        raise Interrupted("stopping")

    with pytest.raises(Interrupted):
        store.ensure(path, digest(path), content_type="video/mp4", on_progress=stop)
    assert len(s3.uploads_in_progress()) == 1
    with store.ledger._lock:  # started eight days ago
        store.ledger._conn.execute("UPDATE uploads SET started_at = started_at - 691200")
    store._next_cleanup = 0.0
    store.maybe_cleanup()
    assert s3.uploads_in_progress() == [] and s3.keys() == []
