"""`transfer`, `links` and `[hosting]` in the config: defaults and refusals that name the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from floradrop.config import InvalidConfigError, parse_config


def config(tmp_path: Path, folder: dict[str, Any], **tables: Any) -> Any:
    table = {"path": str(tmp_path / "in"), "technique": "cctv-cam"} | folder
    return parse_config({"folders": [table], **tables})


def problems(tmp_path: Path, folder: dict[str, Any], **tables: Any) -> str:
    with pytest.raises(InvalidConfigError) as caught:
        config(tmp_path, folder, **tables)
    return str(caught.value)


def test_defaults_upload_and_no_links(tmp_path: Path) -> None:
    loaded = config(tmp_path, {})
    [folder] = loaded.folders
    assert (folder.transfer, folder.links, folder.allow_private_links) == ("upload", False, False)
    assert loaded.hosting is None


def test_a_hosting_section_with_defaults(tmp_path: Path) -> None:
    loaded = config(tmp_path, {"transfer": "host"}, hosting={"bucket": "studio-media"})
    hosting = loaded.hosting
    assert hosting.endpoint == "https://s3.amazonaws.com" and hosting.region == "us-east-1"
    assert hosting.key_prefix == "floradrop/" and hosting.url_ttl_seconds == 24 * 3600
    assert hosting.cleanup_days is None and hosting.secure


def test_host_without_a_hosting_section_is_refused(tmp_path: Path) -> None:
    text = problems(tmp_path, {"transfer": "host"})
    assert "folders[0].transfer" in text and "[hosting]" in text


@pytest.mark.parametrize(
    ("hosting", "expected"),
    [
        ({"bucket": "b-ok", "endpoint": "http://s3.example.com"}, "plain http"),
        ({"bucket": "b-ok", "endpoint": "s3.example.com"}, "not an http(s) address"),
        ({"bucket": "b-ok", "endpoint": "https://s3.example.com/bucket"}, "has a path"),
        ({"bucket": "Bad_Bucket"}, "hosting.bucket"),
        ({"bucket": "b-ok", "url_ttl_hours": 200}, "hosting.url_ttl_hours"),
        ({"bucket": "b-ok", "key_prefix": "../up"}, "plain key prefix"),
        ({"bucket": "b-ok", "secret_access_key": "x"}, "never read from the config file"),
        ({"bucket": "b-ok", "aws_session_token": "x"}, "hosting.aws_session_token"),
    ],
)
def test_bad_hosting_settings_name_the_key(
    tmp_path: Path, hosting: dict[str, Any], expected: str
) -> None:
    assert expected in problems(tmp_path, {}, hosting=hosting)


def test_loopback_http_is_allowed_for_a_local_server(tmp_path: Path) -> None:
    loaded = config(tmp_path, {}, hosting={"bucket": "b-ok", "endpoint": "http://127.0.0.1:9000/"})
    assert loaded.hosting.endpoint == "http://127.0.0.1:9000" and not loaded.hosting.secure
