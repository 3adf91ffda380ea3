"""What a folder does when outputs land (``[[folders.on_done]]``) or a file fails
(``[[folders.on_failed]]``): run a command, or POST the provenance to a webhook.

Each table is one action, with exactly one of ``command``, ``webhook`` or ``notify = true``::

    [[folders.on_done]]
    command = ["/usr/local/bin/publish", "--to", "web"]   # never through a shell
    timeout_seconds = 60

    [[folders.on_done]]
    webhook = "https://hooks.example.com/floradrop"
    secret_env = "FLORADROP_HOOK_SECRET"                  # or secret_keyring = "studio"

The HMAC secret is never in the config: it is read, at delivery, from the environment variable
``secret_env`` names, or from the OS keyring (service ``floradrop-webhook``, the entry
``secret_keyring`` names).
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floradrop.config.fields import http_address
from floradrop.config.problems import invalid

KEYRING_SERVICE: Final = "floradrop-webhook"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Action(BaseModel):
    """One ``[[folders.on_done]]`` / ``[[folders.on_failed]]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: tuple[str, ...] | None = None
    """The program and its arguments; the file paths are added at the end."""
    timeout_seconds: float = Field(default=60.0, gt=0, le=3600)
    """A command still running after this is stopped (and reported)."""
    webhook: str | None = None
    """An https address (plain http only to 127.0.0.1/localhost) the provenance is POSTed to."""
    secret_env: str | None = None
    secret_keyring: str | None = None
    notify: bool = False
    """A desktop notification, with an "Open" button for the output (or the error report)."""

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            raise invalid(
                "must be a list: the program, then each argument (it never runs through a shell)",
                value=value,
                fix=f"write command = {value.split()!r}",
            )
        if (
            not isinstance(value, list | tuple)
            or not value
            or not all(isinstance(v, str) for v in value)
        ):
            raise invalid(
                "must be a list of strings: the program, then its arguments",
                value=value,
                fix='write e.g. command = ["/usr/local/bin/publish", "--to", "web"]',
            )
        if not value[0].strip():
            raise invalid("names no program", value=value, fix="put the program first")
        return tuple(value)

    @field_validator("webhook", mode="before")
    @classmethod
    def _webhook(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        url = value.strip()
        parts = http_address(
            url,
            example='write e.g. webhook = "https://hooks.example.com/floradrop"',
            plain_http="uses plain http to another machine",
            plain_http_fix="use https (plain http is allowed only to 127.0.0.1 or localhost)",
        )
        if parts.username or parts.password:
            raise invalid(
                "has a user name or password in it; they would be stored in the journal",
                value=f"{parts.scheme}://…@{parts.hostname}",
                fix="drop them: the request is signed with the secret instead",
            )
        return url

    @field_validator("secret_env", mode="before")
    @classmethod
    def _secret_env(cls, value: Any) -> Any:
        if isinstance(value, str) and not _ENV_NAME.match(value):
            raise invalid(
                "is not the name of an environment variable (the secret itself never goes "
                "in the config)",
                fix='name the variable that holds it, e.g. secret_env = "FLORADROP_HOOK_SECRET"',
            )
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Action:
        if (self.command is not None) + (self.webhook is not None) + self.notify != 1:
            raise invalid(
                "needs exactly one of `command`, `webhook` or `notify = true`",
                fix="give each action a table of its own",
            )
        if self.webhook is not None and (self.secret_env is None) == (self.secret_keyring is None):
            raise invalid(
                "needs the HMAC secret that signs its requests: exactly one of `secret_env` or "
                "`secret_keyring`",
                fix='add secret_env = "FLORADROP_HOOK_SECRET" (and set that variable), or store '
                f'it in the keyring (service "{KEYRING_SERVICE}") and name its entry with '
                "secret_keyring",
            )
        if self.command is not None and (self.secret_env or self.secret_keyring):
            raise invalid(
                "has a secret, which only a webhook uses", fix="remove secret_env/secret_keyring"
            )
        return self

    @property
    def kind(self) -> str:
        if self.notify:
            return "notify"
        return "command" if self.command is not None else "webhook"


def coerce_actions(value: Any) -> Any:
    """One ``[folders.on_done]`` table is a list of one."""
    return [value] if isinstance(value, dict) else value
