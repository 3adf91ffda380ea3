"""Hosting: inputs that FLORA fetches from the user's own S3-compatible storage.

A folder with ``transfer = "host"`` does not upload its files as FLORA assets: floradrop puts
each in the ``[hosting]`` bucket (:mod:`~floradrop.hosting.store`) and gives the run a
presigned link to it. Credentials come from :mod:`~floradrop.hosting.credentials`; what was
put where, and which multipart uploads are half done, is in :mod:`~floradrop.hosting.ledger`.

:class:`Hosting` is what the pipeline holds: it builds the :class:`Store` for the current
``[hosting]`` section on first use (and again when the section changes), and signs the
journaled links of a run's inputs just before the run is created.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from floradrop.config.hosting import HostingSettings
from floradrop.errors import ConfigError
from floradrop.flora.models import RunInput
from floradrop.hosting.credentials import resolve_credentials
from floradrop.hosting.ledger import LEDGER_NAME, Ledger
from floradrop.hosting.store import StorageError, Store

__all__ = ["Hosting", "StorageError", "Store", "open_store"]


def open_store(settings: HostingSettings, state_dir: Path) -> Store:
    """A :class:`Store` for ``settings`` (raises ConfigError: no credentials, no client)."""
    return Store(settings, resolve_credentials(settings), Ledger(state_dir / LEDGER_NAME))


class Hosting:
    """The daemon's hosting service (thread-safe; one per engine)."""

    def __init__(
        self, state_dir: Path, settings: Callable[[], HostingSettings | None] = lambda: None
    ) -> None:
        self._state_dir = state_dir
        self._settings = settings  # the current [hosting] section (it may be reloaded)
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._ledger: Ledger | None = None

    def store(self) -> Store:
        """The store for the current settings; StorageError (the job waits) when it cannot be
        made."""
        settings = self._settings()
        if settings is None:
            raise StorageError(
                'a folder has transfer = "host" but the config has no [hosting] section',
                hint="add [hosting] (see the README)",
            )
        with self._lock:
            if self._store is not None and self._store.settings == settings:
                return self._store
            if self._ledger is None:
                self._ledger = Ledger(self._state_dir / LEDGER_NAME)
            try:
                self._store = Store(settings, resolve_credentials(settings), self._ledger)
            except ConfigError as exc:  # waits (and says why) rather than failing files
                raise StorageError(exc.message, hint=exc.hint) from None
            return self._store

    def sign_inputs(self, inputs: list[RunInput]) -> list[RunInput]:
        """The inputs with every hosted link signed (others unchanged)."""
        if self._settings() is None or not any(_looks_hosted(i.value) for i in inputs):
            return inputs  # nothing of ours (without [hosting], a link is passed on as is)
        store = self.store()
        return [
            RunInput(i.id, i.type, store.sign(i.value)) if store.is_link(i.value) else i
            for i in inputs
        ]

    def close(self) -> None:
        with self._lock:
            if self._ledger is not None:
                self._ledger.close()
                self._ledger = None
            self._store = None


def _looks_hosted(value: str) -> bool:
    return "X-Amz-Date=" in value and "X-Amz-Signature=" not in value
