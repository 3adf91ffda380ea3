"""Where the storage credentials come from: never the config file.

Order: the standard AWS environment variables (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, optional ``AWS_SESSION_TOKEN``), then an AWS profile in the shared
credentials file (``[hosting] profile``, else ``AWS_PROFILE``, else ``default``; the file is
``AWS_SHARED_CREDENTIALS_FILE`` or ``~/.aws/credentials``), then the OS keyring (service
``floradrop-hosting``, entries ``<endpoint> access_key_id`` and ``<endpoint>
secret_access_key``). The secret and the session token are registered for redaction in every
log line as soon as they are read.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from floradrop import logs
from floradrop.config.hosting import HostingSettings
from floradrop.errors import ConfigError

KEYRING_SERVICE = "floradrop-hosting"


@dataclass(frozen=True)
class StorageCredentials:
    access_key: str
    secret_key: str
    session_token: str | None
    source: str  # for messages: "the AWS_* environment variables", "AWS profile 'x'", ...

    def __repr__(self) -> str:  # never the secret, whoever prints it
        return f"StorageCredentials(source={self.source!r})"


def _from_env() -> StorageCredentials | None:
    access = os.environ.get("AWS_ACCESS_KEY_ID", "").strip()
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "").strip()
    if not (access and secret):
        return None
    token = os.environ.get("AWS_SESSION_TOKEN", "").strip() or None
    return StorageCredentials(access, secret, token, "the AWS_* environment variables")


def _from_profile(settings: HostingSettings) -> StorageCredentials | None:
    profile = settings.profile or os.environ.get("AWS_PROFILE", "").strip() or "default"
    path = Path(
        os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "").strip()
        or Path.home() / ".aws" / "credentials"
    ).expanduser()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (OSError, configparser.Error):
        return None
    if not parser.has_section(profile):
        return None
    section = parser[profile]
    access = section.get("aws_access_key_id", "").strip()
    secret = section.get("aws_secret_access_key", "").strip()
    if not (access and secret):
        return None
    token = section.get("aws_session_token", "").strip() or None
    return StorageCredentials(access, secret, token, f"AWS profile {profile!r} in {path}")


def _from_keyring(settings: HostingSettings) -> StorageCredentials | None:
    try:
        import keyring
        from keyring.backends import fail

        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
        access = keyring.get_password(KEYRING_SERVICE, f"{settings.endpoint} access_key_id")
        secret = keyring.get_password(KEYRING_SERVICE, f"{settings.endpoint} secret_access_key")
    except Exception as exc:
        logger.debug("keyring not usable: {}", type(exc).__name__)
        return None
    if not (access and secret):
        return None
    return StorageCredentials(access, secret, None, "the OS keyring")


def resolve_credentials(settings: HostingSettings) -> StorageCredentials:
    """The credentials for ``[hosting]``, registered for redaction; a ConfigError saying where
    to put them when there are none."""
    found = _from_env() or _from_profile(settings) or _from_keyring(settings)
    if found is None:
        raise ConfigError(
            f"no credentials for the hosting bucket {settings.bucket!r}.",
            hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or an AWS profile in "
            "~/.aws/credentials ([hosting] profile), or store them in the OS keyring under "
            f"service {KEYRING_SERVICE!r}; never in the config file",
        )
    logs.add_secret(found.secret_key)
    logs.add_secret(found.session_token)
    return found
