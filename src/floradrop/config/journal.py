"""``[journal]``: where the journal lives.

By default a SQLite file in the state directory (one machine). A ``postgresql://`` URL makes
it a PostgreSQL database shared by every daemon of a team (see docs/team.md). A password in
the URL is a secret: it is never shown (:func:`redact_url`), and it is better left out of the
file altogether (``PGPASSWORD`` or ``~/.pgpass``, which PostgreSQL's client reads itself).
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from floradrop.config.problems import invalid

SCHEMES: Final = ("postgresql://", "postgres://")
_PASSWORD: Final = re.compile(r"^([a-z]+://[^:@/?#]*):[^@/?#]*@", re.IGNORECASE)
_QUERY_PASSWORD: Final = re.compile(r"(password=)[^&]*", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``postgresql://team:s3cret@db/floradrop`` -> ``postgresql://team:***@db/floradrop``."""
    return _QUERY_PASSWORD.sub(r"\1***", _PASSWORD.sub(r"\1:***@", url))


class JournalSettings(BaseModel):
    """``[journal]``: ``url`` (none: SQLite in ``state_dir``) and the team's lease."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretStr | None = None
    """``postgresql://user@host:5432/database``: a journal shared by a team of daemons."""
    lease_seconds: float = Field(default=30.0, ge=5, le=600)
    """Team mode: a daemon silent for this long loses its jobs to the others."""

    @field_validator("url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise invalid(
                "must be a postgresql:// URL in quotes",
                fix='url = "postgresql://floradrop@db/floradrop"',
            )
        text = value.strip()
        if not text.lower().startswith(SCHEMES):
            raise invalid(
                "is not a PostgreSQL URL",
                value=redact_url(text),
                fix='write url = "postgresql://USER@HOST:5432/DATABASE", or leave [journal] '
                "out to keep the SQLite journal in [daemon] state_dir",
            )
        return text

    @property
    def postgres_url(self) -> str | None:
        return None if self.url is None else self.url.get_secret_value()
