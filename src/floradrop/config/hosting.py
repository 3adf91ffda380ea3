"""``[hosting]``: the S3-compatible bucket that ``transfer = "host"`` folders put files in.

Only where the bucket is and how links to it behave live here. The credentials never do: they
come from the standard AWS environment variables, an AWS profile, or the OS keyring (see
:mod:`floradrop.hosting.credentials`), so a shared config file holds no secret.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floradrop.config.fields import http_address
from floradrop.config.problems import invalid

MAX_TTL_HOURS: Final = 168  # SigV4 presigned URLs live at most 7 days
_CREDENTIAL_WORDS: Final = ("secret", "access_key", "password", "token", "credential")


class HostingSettings(BaseModel):
    """``[hosting]``: endpoint, bucket, region, key prefix and link lifetime."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str = "https://s3.amazonaws.com"
    """``https://`` address of the S3 API (AWS, R2, B2, MinIO, GCS interoperability)."""
    bucket: str = Field(min_length=3, max_length=63, pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
    region: str = "us-east-1"
    key_prefix: str = "floradrop/"
    """Objects are stored as ``<key_prefix><sha256>.<ext>`` (same bytes: same object)."""
    url_ttl_hours: float = Field(default=24.0, gt=0, le=MAX_TTL_HOURS)
    """How long a link handed to FLORA stays valid (it must outlive the run's start)."""
    cleanup_days: float | None = Field(default=None, gt=0)
    """Delete hosted objects this many days after floradrop uploaded them (None: keep)."""
    profile: str | None = None
    """AWS profile name in ``~/.aws/credentials`` (default: ``AWS_PROFILE``, else ``default``)."""

    @model_validator(mode="before")
    @classmethod
    def _no_credentials(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if any(word in str(key).lower() for word in _CREDENTIAL_WORDS):
                    raise invalid(
                        "credentials are never read from the config file",
                        fix="remove it; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, use "
                        "an AWS profile ([hosting] profile), or the OS keyring (README: "
                        "Hosting in your own storage)",
                        at=(str(key),),
                    )
        return data

    @field_validator("endpoint", mode="before")
    @classmethod
    def _endpoint(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        url = value.strip().rstrip("/")
        parts = http_address(
            url,
            example='write the S3 API address, e.g. endpoint = "https://s3.eu-west-1.amazonaws.com"',
            plain_http="uses plain http, which would send your files and signatures unencrypted",
            plain_http_fix="use https (plain http is allowed only for a local server on 127.0.0.1)",
        )
        if parts.path not in ("", "/") or parts.query:
            raise invalid(
                "has a path; the bucket is named by `bucket`",
                value=value,
                fix="write only scheme, host and port, e.g. https://s3.amazonaws.com",
            )
        return url

    @field_validator("key_prefix", mode="before")
    @classmethod
    def _prefix(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        prefix = value.strip().lstrip("/")
        if any(part in ("..", ".") for part in prefix.split("/")) or "\\" in prefix:
            raise invalid(
                "must be a plain key prefix",
                value=value,
                fix='e.g. key_prefix = "floradrop/"',
            )
        return prefix

    @property
    def secure(self) -> bool:
        return self.endpoint.startswith("https://")

    @property
    def netloc(self) -> str:
        return urlsplit(self.endpoint).netloc

    @property
    def url_ttl_seconds(self) -> int:
        return max(60, int(self.url_ttl_hours * 3600))
