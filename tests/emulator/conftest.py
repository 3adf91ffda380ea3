"""Fixtures for the emulator's tests (helpers live in helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from flora_emulator import Emulator
from tests.emulator.helpers import FakeClock, api_client


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    """An httpx client with the emulator's key, on its base URL."""
    with api_client(emulator) as client:
        yield client
