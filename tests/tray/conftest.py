"""Snapshots for tray tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

from floradrop.status import FolderStatus, RecentItem, Snapshot


def folder(root: Path, name: str = "CCTV Cam", **counts: int) -> FolderStatus:
    base = root / name.replace(" ", "_")
    return FolderStatus(
        name=name,
        path=base / "inbox",
        outputs=base / "outputs",
        done=base / "done",
        failed=base / "failed",
        technique="upscale",
        counts=counts,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "folders"


@pytest.fixture
def busy(root: Path) -> Snapshot:
    """A day in progress: one folder working, results and a failure, service known."""
    cam = folder(root, "CCTV Cam", running=2, waiting=1, done=12, failed=1)
    return Snapshot(
        daemon_running=True,
        folders=(cam, folder(root, "Scans", done=3)),
        running=2,
        queued=1,
        done_today=15,
        failed_today=1,
        spend_today_usd=0.48,
        recent_results=tuple(
            RecentItem(cam.outputs / f"frame{i:02}.png", f"frame{i:02}.png", 1000.0 + i)
            for i in range(14)
        ),
        recent_failures=(RecentItem(cam.failed / "broken.jpg.error.txt", "broken.jpg", 900.0),),
        config_file=root / "config.toml",
        log_file=root / "floradrop.log",
        service_installed=False,
    )


# Read before the autouse isolation fixture clears FLORADROP_* variables.
ARTIFACTS_ROOT = os.environ.get("FLORADROP_ARTIFACTS")
UPDATE_SCREENSHOTS = os.environ.get("FLORADROP_UPDATE_SCREENSHOTS") == "1"
SCREENSHOTS = Path(__file__).parent / "screenshots"  # the README's pictures


@pytest.fixture
def artifacts(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a test saves its screenshots: $FLORADROP_ARTIFACTS/tray/<test> or a temp dir."""
    if ARTIFACTS_ROOT:
        path = Path(ARTIFACTS_ROOT) / "tray" / request.node.name
    else:
        path = tmp_path / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def publish(image: Image.Image, name: str) -> None:
    """Save a README picture when FLORADROP_UPDATE_SCREENSHOTS=1."""
    if UPDATE_SCREENSHOTS:
        SCREENSHOTS.mkdir(exist_ok=True)
        image.save(SCREENSHOTS / name, optimize=True)
