"""Signed uploads with short-lived reservations, against the emulator.

FLORA does not document how long an upload reservation lasts. A client that treats every
reservation expiring within some margin as already expired never uploads at all when the
reservations are shorter than that margin: it renews them until it gives up.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image

from flora_emulator import Emulator
from floradrop.flora import FloraClient
from floradrop.flora.uploads import DIRECT_LIMIT

from .conftest import Sleeps


def noise_png(path: Path, seed: int = 1) -> Path:
    """A PNG just over the direct-upload limit (random pixels do not compress)."""
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (1250, 1200), rng.randbytes(1250 * 1200 * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size > DIRECT_LIMIT
    return path


def test_a_reservation_of_a_few_seconds_is_used_not_renewed(
    emu: Emulator, tmp_path: Path, sleeps: Sleeps
) -> None:
    emu.reservation_seconds = 3.0
    with FloraClient(emu.api_key, base_url=emu.base_url, sleep=sleeps) as client:
        asset = client.upload_file(
            noise_png(tmp_path / "big.png"), workspace_id=emu.workspace_id, idempotency_key="s-1"
        )
    assert asset.ready
    assert [(e.method, e.route) for e in emu.exchanges if e.kind != "media"] == [
        ("POST", "/assets"),
        ("POST", "/_storage/upload/{token}"),
        ("POST", "/assets/{assetId}/complete"),
    ]
