"""Where the API key comes from, and where ``floradrop init`` keeps it.

Order: ``FLORA_API_KEY`` (the official SDKs' variable), then ``[flora] api_key_file``, then the
OS keyring, then the private key file ``<state_dir>/api-key`` (mode 0600). The key is never
read from or written to the config file, and it is registered for redaction in every log line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from floradrop import logs
from floradrop.paths import ensure_private_dir

KEYRING_SERVICE = "floradrop"
KEY_FILE_NAME = "api-key"


@dataclass(frozen=True)
class ApiKey:
    value: str
    source: str  # for messages: "FLORA_API_KEY", "the OS keyring", "/path/to/key file"

    def __repr__(self) -> str:
        return f"ApiKey(source={self.source!r})"


def _keyring_user(base_url: str) -> str:
    return base_url.rstrip("/")


def _keyring_get(base_url: str) -> str | None:
    try:
        import keyring
        from keyring.backends import fail

        if isinstance(keyring.get_keyring(), fail.Keyring):
            return None
        value = keyring.get_password(KEYRING_SERVICE, _keyring_user(base_url))
    except Exception as exc:
        logger.debug("keyring not usable: {}", type(exc).__name__)
        return None
    return value or None


def _read_key_file(path: Path) -> str | None:
    try:
        value = path.read_text("utf-8").strip()
    except OSError:
        return None
    return value or None


def resolve_api_key(*, base_url: str, key_file: Path | None, state_dir: Path) -> ApiKey | None:
    """The API key to use, or None when none is configured anywhere."""
    key: ApiKey | None = None
    env = os.environ.get("FLORA_API_KEY", "").strip()
    if env:
        key = ApiKey(env, "FLORA_API_KEY")
    elif key_file is not None and (value := _read_key_file(key_file)):
        key = ApiKey(value, str(key_file))
    elif value := _keyring_get(base_url):
        key = ApiKey(value, "the OS keyring")
    elif value := _read_key_file(state_dir / KEY_FILE_NAME):
        key = ApiKey(value, str(state_dir / KEY_FILE_NAME))
    if key is not None:
        logs.add_secret(key.value)
    return key


def _forget_keyring(base_url: str) -> None:
    try:
        import keyring
        from keyring.backends import fail

        if not isinstance(keyring.get_keyring(), fail.Keyring):
            keyring.delete_password(KEYRING_SERVICE, _keyring_user(base_url))
    except Exception as exc:
        logger.debug("no keyring entry to remove: {}", type(exc).__name__)


def store_api_key(value: str, *, base_url: str, state_dir: Path, use_keyring: bool = True) -> str:
    """Keep the key in the OS keyring if one is usable, else in a 0600 key file. Returns where."""
    logs.add_secret(value)
    if use_keyring:
        try:
            import keyring
            from keyring.backends import fail

            if not isinstance(keyring.get_keyring(), fail.Keyring):
                keyring.set_password(KEYRING_SERVICE, _keyring_user(base_url), value)
                (state_dir / KEY_FILE_NAME).unlink(missing_ok=True)  # one key, one place
                return "the OS keyring"
        except Exception as exc:
            logger.debug("keyring not usable for storing: {}", type(exc).__name__)
    _forget_keyring(base_url)  # an older key there would win over the file
    ensure_private_dir(state_dir)
    path = state_dir / KEY_FILE_NAME
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    temp.replace(path)
    return str(path)
