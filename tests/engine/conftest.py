from __future__ import annotations

from collections.abc import Iterator

import pytest

from flora_emulator import Emulator


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(seed=7) as emulator:
        yield emulator
