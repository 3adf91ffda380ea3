"""Fixtures for the contract tests: the loaded documents and a recording emulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flora_emulator import Emulator, Exchange
from tests.contract import spec


@pytest.fixture(scope="session")
def contract() -> spec.Contract:
    if not spec.official_available():
        pytest.skip(f"the official FLORA OpenAPI documents are not at {spec.OFFICIAL_DIR}")
    return spec.load()


@pytest.fixture
def recorder() -> Iterator[Callable[..., tuple[Emulator, list[Exchange]]]]:
    """``recorder(**knobs)`` -> a started emulator and the list it records into."""
    started: list[Emulator] = []

    def make(**knobs: Any) -> tuple[Emulator, list[Exchange]]:
        record: list[Exchange] = []
        emulator = Emulator(record=record, **knobs).start()
        started.append(emulator)
        return emulator, record

    yield make
    for emulator in started:
        emulator.stop()
    assert not [e for e in started if e.stats.internal_errors], "the emulator crashed inside"
